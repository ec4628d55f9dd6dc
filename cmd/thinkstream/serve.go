package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/openai"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/httpapi"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/profile"
	"github.com/thinkstream/thinkstream/runs"
)

// serveConfig is the server's configuration; every field is a flag of
// `serve`, an environment variable THINKSTREAM_<FLAG> and a key of the
// --config file, in that precedence. docs/configuration.md lists them.
type serveConfig struct {
	Config         string
	Addr           string
	DataDir        string
	Engine         string
	NATSURL        string
	RetentionAge   time.Duration
	RetentionBytes int64
	MaxConcurrent  int
	MaxQueue       int
	MaxTokens      int
	MaxProblem     int
	Heartbeat      time.Duration
	WriteTimeout   time.Duration
	ShutdownGrace  time.Duration
	Window         int
	LogLevel       string
	LogFormat      string
	Profiles       string
	CORSOrigins    string
	TLSCert        string
	TLSKey         string
	Repair         bool

	SimRate   float64
	SimTTFT   time.Duration
	SimJitter float64

	Upstream       string
	UpstreamModel  string
	UpstreamAPIKey string
	UpstreamMode   string
	UpstreamTTFT   time.Duration
	UpstreamIdle   time.Duration
	UpstreamPar    int
	UpstreamPass   string

	Model    string
	Threads  int
	Parallel int
	Context  int
}

func serveFlags(c *serveConfig, home string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Config, "config", "", "JSON file of settings (keys are flag names)")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address host:port (port 0 picks a free one)")
	fs.StringVar(&c.DataDir, "data-dir", filepath.Join(home, ".local", "share", "thinkstream"), "directory of the event log")
	fs.StringVar(&c.Engine, "engine", "", "sim | upstream | local (default: local with --model, upstream with --upstream, else sim)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "use this external NATS (JetStream) instead of the embedded one")
	fs.DurationVar(&c.RetentionAge, "retention-age", 30*24*time.Hour, "drop runs older than this (0 keeps them forever)")
	fs.Int64Var(&c.RetentionBytes, "retention-bytes", 10<<30, "cap the event log's size in bytes; oldest events go first (0: no cap)")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent", 0, "generations at once (0: what the engine can run)")
	fs.IntVar(&c.MaxQueue, "max-queue", 64, "runs that may wait for a generation slot before 429")
	fs.IntVar(&c.MaxTokens, "max-tokens", 40960, "server cap for a run's max_tokens")
	fs.IntVar(&c.MaxProblem, "max-problem-bytes", 16<<10, "longest accepted problem text")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 15*time.Second, "SSE keep-alive comment period on idle streams")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 30*time.Second, "drop a viewer whose single write takes longer")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long running generations may finish")
	fs.IntVar(&c.Window, "window", 4096, "recent events kept in memory per active run")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug | info | warn | error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text | json")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "*", "origins whose pages may use the API, comma-separated (\"*\": any; \"none\": same origin only)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS (and HTTP/2, so a browser can follow many runs at once) with this certificate file")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key of --tls-cert")
	fs.BoolVar(&c.Repair, "repair", false, "repair a damaged event log at start (see thinkstream doctor) instead of refusing to start")
	fs.StringVar(&c.Profiles, "profiles", "", "JSON file of model profiles (default: built-in math and code)")
	fs.Float64Var(&c.SimRate, "sim-rate", sim.DefaultRate, "sim engine: tokens per second")
	fs.DurationVar(&c.SimTTFT, "sim-ttft", sim.DefaultTTFT, "sim engine: time to first token")
	fs.Float64Var(&c.SimJitter, "sim-jitter", sim.DefaultJitter, "sim engine: relative jitter of token delays (0 to 1)")
	fs.StringVar(&c.Upstream, "upstream", "", "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
	fs.StringVar(&c.UpstreamModel, "upstream-model", "", "model name sent upstream (default: the first the server lists)")
	fs.StringVar(&c.UpstreamAPIKey, "upstream-api-key", "", "bearer token for the upstream")
	fs.StringVar(&c.UpstreamMode, "upstream-mode", "chat", "chat | completions")
	fs.DurationVar(&c.UpstreamTTFT, "upstream-ttft-timeout", 120*time.Second, "upstream: longest wait for the first token")
	fs.DurationVar(&c.UpstreamIdle, "upstream-idle-timeout", 60*time.Second, "upstream: longest wait between tokens")
	fs.IntVar(&c.UpstreamPar, "upstream-parallel", 16, "upstream: generations the upstream serves at once")
	fs.StringVar(&c.UpstreamPass, "upstream-pass-through", strings.Join(openai.DefaultPassThrough, ","),
		"upstream: extra sampling parameters sent when a run sets them (comma-separated; \"none\" for servers that reject unknown fields)")
	fs.StringVar(&c.Model, "model", "", "local engine: GGUF model name or path")
	fs.IntVar(&c.Threads, "threads", 0, "local engine: threads (0: all cores)")
	fs.IntVar(&c.Parallel, "parallel", 1, "local engine: parallel sequences")
	fs.IntVar(&c.Context, "context", 0, "local engine: context size in tokens (0: model default, capped)")
	return fs
}

// loadConfigFile reads a JSON object of flag names to values.
func loadConfigFile(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			return nil, fmt.Errorf("config file %s: %s: want a string, number or boolean", path, k)
		}
	}
	return out, nil
}

func cmdServe(ctx context.Context, e *env, args []string) error {
	var c serveConfig
	home := e.getenv("HOME")
	fs := serveFlags(&c, home)
	fs.SetOutput(e.stderr)
	// The config file's path itself comes from flag or env only.
	cfgPath := e.getenv("THINKSTREAM_CONFIG")
	for i, a := range args {
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			cfgPath = args[i+1]
		} else if v, ok := cutPrefix2(a, "--config=", "-config="); ok {
			cfgPath = v
		}
	}
	file, err := loadConfigFile(cfgPath)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, args, e.getenv, file); err != nil {
		return err
	}
	logger, err := newLogger(e, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	return serve(ctx, e, c, logger)
}

func cutPrefix2(s, a, b string) (string, bool) {
	if len(s) > len(a) && s[:len(a)] == a {
		return s[len(a):], true
	}
	if len(s) > len(b) && s[:len(b)] == b {
		return s[len(b):], true
	}
	return "", false
}

func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// newEngine builds the configured engine.
func newEngine(c serveConfig, getenv func(string) string, logger *slog.Logger) (thinkstream.Engine, func(), error) {
	kind := c.Engine
	if kind == "" {
		switch {
		case c.Model != "":
			kind = "local"
		case c.Upstream != "":
			kind = "upstream"
		default:
			kind = "sim"
		}
	}
	switch kind {
	case "sim":
		return sim.New(sim.Config{Rate: c.SimRate, TTFT: c.SimTTFT, Jitter: c.SimJitter}), func() {}, nil
	case "upstream":
		if c.Upstream == "" {
			return nil, nil, errors.New("--engine upstream needs --upstream URL")
		}
		eng, err := openai.New(openai.Config{
			BaseURL: c.Upstream, Model: c.UpstreamModel, APIKey: c.UpstreamAPIKey, Mode: c.UpstreamMode,
			TTFTTimeout: c.UpstreamTTFT, IdleTimeout: c.UpstreamIdle, MaxParallel: c.UpstreamPar, Logger: logger,
			PassThrough: passThrough(c.UpstreamPass),
		})
		if err != nil {
			return nil, nil, err
		}
		return eng, func() { eng.Close() }, nil
	case "local":
		return newLocalEngine(c, getenv, logger)
	}
	return nil, nil, fmt.Errorf("unknown engine %q: want sim, upstream or local", kind)
}

// passThrough parses --upstream-pass-through.
func passThrough(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "none" {
			out = append(out, p)
		}
	}
	return out
}

func serve(ctx context.Context, e *env, c serveConfig, logger *slog.Logger) error {
	profiles, err := profile.Load(c.Profiles)
	if err != nil {
		return err
	}
	eng, closeEngine, err := newEngine(c, e.getenv, logger)
	if err != nil {
		return err
	}
	defer closeEngine()
	defer watchdog(ctx, c.ShutdownGrace+shutdownMargin+watchdogMargin, logger, os.Exit)()
	log, closeLog, err := openStore(ctx, storeConfig{
		DataDir: c.DataDir, NATSURL: c.NATSURL, RetentionAge: c.RetentionAge, RetentionBytes: c.RetentionBytes, Repair: c.Repair,
	}, logger)
	if err != nil {
		return err
	}
	defer closeLog()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := hub.New(log, hub.Config{Window: c.Window, Tick: max(c.Heartbeat/3, 10*time.Millisecond), Metrics: hub.NewMetrics(reg), Logger: logger})
	mgr := runs.New(runs.Config{
		Engine: eng, Log: log, Hub: h, Profiles: profiles,
		MaxConcurrent: c.MaxConcurrent, MaxQueue: c.MaxQueue, ShutdownGrace: c.ShutdownGrace,
		Metrics: runs.NewMetrics(reg), Logger: logger,
	})
	for _, state := range []string{"queued", "running"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "thinkstream_runs_active", Help: "Runs now queued or running.", ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			q, r := mgr.Active()
			if state == "queued" {
				return float64(q)
			}
			return float64(r)
		}))
	}
	if n, err := mgr.Recover(ctx); err != nil {
		return fmt.Errorf("recover runs: %w", err)
	} else if n > 0 {
		logger.Warn("ended runs interrupted by a previous crash", "runs", n)
	}
	maxTokens := min(c.MaxTokens, profiles.MaxTokensCap())
	if info := mgr.EngineInfo(); info.MaxTokens > 0 {
		maxTokens = min(maxTokens, info.MaxTokens)
	}
	tcp, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Finished event streams hand their connections back through it.
	ln := httpapi.NewListener(tcp)
	defer ln.Close()
	api := httpapi.New(mgr, h, httpapi.Config{
		Listener:        ln,
		MaxProblemBytes: c.MaxProblem, MaxTokens: maxTokens, Heartbeat: c.Heartbeat,
		WriteTimeout: c.WriteTimeout, Profiles: profiles.Names(), Logger: logger, Gatherer: reg,
		Extra: func(mux *http.ServeMux) { mountExtras(mux, mgr, profiles, maxTokens, logger) },
	})

	baseCtx, stopStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStreams()
	srv := &http.Server{
		Handler:           logRequests(api, logger),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// HTTP/2 lifts the browser's six-connections-per-host limit on event
	// streams: over TLS it is negotiated; in clear text (h2c) it serves
	// proxies that speak it to their upstream.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	scheme := "http"
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(e.stdout, "listening on %s://%s\n", scheme, ln.Addr())
	info := mgr.EngineInfo()
	logger.Info("thinkstream serving", "addr", ln.Addr().String(), "engine", eng.Name(), "model", info.Model,
		"simulated", info.Simulated, "data_dir", c.DataDir)
	errc := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			errc <- srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: no new runs; running ones get a grace period", "grace", c.ShutdownGrace)
	api.Stopping()
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace+shutdownMargin)
	defer cancel()
	if err := mgr.Shutdown(sctx); err != nil {
		logger.Error("shutdown runs", "err", err)
	}
	// Streams end with a retry hint so that clients come back to the
	// next instance.
	stopStreams()
	if err := api.WaitStreams(sctx); err != nil {
		logger.Error("shutdown streams", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		// Viewers that stopped reading keep their connections busy.
		logger.Error("shutdown http: closing the connections left", "err", err)
		srv.Close()
	}
	return nil
}

// logRequests logs every request with its own attributes (never bodies:
// prompts stay out of the logs).
func logRequests(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
