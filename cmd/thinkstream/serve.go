package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/cluster"
	"github.com/thinkstream/thinkstream/engine/openai"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/httpapi"
	"github.com/thinkstream/thinkstream/profile"
	"github.com/thinkstream/thinkstream/server"
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
	Role           string
	ResumeRuns     bool
	Lease          time.Duration
	WorkReplicas   int
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
	Access         string
	InsecureOpen   bool
	TokensFile     string
	LimitRuns      int
	LimitNotes     int
	LimitStreams   int
	BodyTimeout    time.Duration
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

	Model     string
	ModelsDir string
	Threads   int
	Parallel  int
	Context   int
}

func serveFlags(c *serveConfig, home string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Config, "config", "", "JSON file of settings (keys are flag names)")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address host:port (port 0 picks a free one)")
	fs.StringVar(&c.DataDir, "data-dir", filepath.Join(home, ".local", "share", "thinkstream"), "directory of the event log")
	fs.StringVar(&c.Engine, "engine", "", "sim | upstream | local (default: local with --model, upstream with --upstream, else sim)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "use this external NATS (JetStream) instead of the embedded one")
	fs.StringVar(&c.Role, "role", "all", "all (generate runs here) | gateway (with --nats-url: admit runs and queue them for `thinkstream worker`)")
	fs.BoolVar(&c.ResumeRuns, "resume-interrupted", true, "at start, continue the runs a crash left running or queued (a running one from its logged output); false ends them with run.interrupted")
	fs.DurationVar(&c.Lease, "lease", 30*time.Second, "cluster: how long a worker holds a run without a heartbeat before another takes it over")
	fs.IntVar(&c.WorkReplicas, "nats-replicas", 1, "cluster: replicas of the event log and the work queue on the NATS cluster (3 on a 3-node cluster)")
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
	fs.StringVar(&c.Access, "access", "auto", "open | token | auto (open on a loopback address, token on any other)")
	fs.BoolVar(&c.InsecureOpen, "insecure-open", false, "allow --access open on a non-loopback address (anyone who reaches it may do anything)")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "token file of token mode (default: DATA-DIR/tokens.json; see `thinkstream token`)")
	fs.IntVar(&c.LimitRuns, "limit-runs", 0, "runs a client (token, else IP) may start per minute (0: 20 in token mode, off in open mode; -1: off)")
	fs.IntVar(&c.LimitNotes, "limit-annotations", 0, "annotations a client may post per minute (0: 60 in token mode, off in open mode; -1: off)")
	fs.IntVar(&c.LimitStreams, "limit-streams", 0, "event streams a client (token, else IP) may hold open at once (0: 32 in token mode, off in open mode; -1: off)")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 10*time.Second, "longest time a client may take to send a request body")
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
	fs.StringVar(&c.Model, "model", "", "local engine: GGUF model name or path (default: a VibeThinker GGUF pulled into the models directory, if any)")
	fs.StringVar(&c.ModelsDir, "models-dir", "", "models directory (default $THINKSTREAM_MODELS, else $XDG_DATA_HOME/thinkstream/models)")
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
	setUsage(fs, e.stderr, "serve [flags]", "Runs the server with the web UI. Every flag can also be set by THINKSTREAM_<FLAG> or a key of the --config file (flag > env > file).")
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
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	// With nothing configured, a VibeThinker pulled earlier answers; with
	// none, the simulator answers and the page offers the download.
	var models *server.ModelsConfig
	if c.Engine == "" && c.Model == "" && c.Upstream == "" {
		if path, dir := pulledModel(e.getenv, c.ModelsDir, logger); path != "" {
			c.Model = path
		} else if dir != "" {
			models = pullOffer(c, e.getenv, dir, logger)
		}
	}
	eng, closeEngine, err := newEngine(c, e.getenv, logger)
	if err != nil {
		return err
	}
	defer closeEngine()
	access, err := accessConfig(c)
	if err != nil {
		return err
	}
	gateway := false
	switch c.Role {
	case "all", "":
	case "gateway":
		if c.NATSURL == "" {
			return errors.New("--role gateway needs --nats-url (the cluster's NATS, where workers take the runs)")
		}
		gateway = true
	default:
		return fmt.Errorf("unknown role %q: want all or gateway", c.Role)
	}
	defer watchdog(ctx, c.ShutdownGrace+shutdownMargin+watchdogMargin, logger, os.Exit)()
	srv, err := server.New(ctx, server.Config{
		Engine: eng, DataDir: c.DataDir, NATSURL: c.NATSURL, Repair: c.Repair,
		Gateway: gateway, Work: cluster.WorkConfig{Lease: c.Lease, Replicas: c.WorkReplicas}, ResumeInterrupted: c.ResumeRuns,
		RetentionAge: c.RetentionAge, RetentionBytes: c.RetentionBytes, Profiles: profiles,
		MaxConcurrent: c.MaxConcurrent, MaxQueue: c.MaxQueue, MaxTokens: c.MaxTokens, MaxProblemBytes: c.MaxProblem,
		Heartbeat: c.Heartbeat, WriteTimeout: c.WriteTimeout, ShutdownGrace: c.ShutdownGrace, Window: c.Window,
		CORSOrigins: corsOrigins(c.CORSOrigins), Access: access, Logger: logger, Models: models,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	tcp, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln := srv.Listen(tcp)
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(e.stdout, "listening on %s://%s\n", scheme, ln.Addr())
	info := srv.Runs.EngineInfo()
	if models != nil {
		// The first thing a newcomer reads: what answers, and the way to a real model.
		fmt.Fprintf(e.stdout, "no model configured: the built-in simulator answers. Download VibeThinker-1.5B from the home page (%s://%s/), "+
			"or run: thinkstream pull %s:%s\n", scheme, ln.Addr(), srv.Pulls.Repo(), srv.Pulls.DefaultQuant())
	}
	attrs := []any{"addr", ln.Addr().String(), "access", access.Mode(), "engine", eng.Name(), "model", info.Model,
		"simulated", info.Simulated, "data_dir", c.DataDir}
	if models != nil {
		attrs = append(attrs, "real_model", "download VibeThinker-1.5B on the home page, or: thinkstream pull "+srv.Pulls.Repo()+":"+srv.Pulls.DefaultQuant())
	}
	logger.Info("thinkstream serving", attrs...)
	if access.Tokens != nil && access.Tokens.Len() == 0 {
		logger.Warn("token mode and no token yet: every API request is refused until you make one",
			"make_one", "thinkstream token create --data-dir "+c.DataDir+" --name teacher --scope admin")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(c.TLSCert, c.TLSKey) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: no new runs; running ones get a grace period", "grace", c.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace+shutdownMargin)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("shutdown", "err", err)
	}
	return nil
}

// accessConfig chooses the access mode: token mode on any address but
// loopback, unless open mode is asked for explicitly there.
func accessConfig(c serveConfig) (*httpapi.Access, error) {
	acc := &httpapi.Access{RunsPerMinute: c.LimitRuns, AnnotationsPerMinute: c.LimitNotes, StreamsPerClient: c.LimitStreams, BodyTimeout: c.BodyTimeout}
	loopback := isLoopbackAddr(c.Addr)
	mode := c.Access
	if mode == "auto" || mode == "" {
		mode = "token"
		if loopback || c.InsecureOpen {
			mode = "open"
		}
	}
	switch mode {
	case "open":
		if !loopback && !c.InsecureOpen {
			return nil, fmt.Errorf("--access open on %s lets anyone who reaches it read every run and start runs: add --insecure-open if you mean it, or use --access token", c.Addr)
		}
		return acc, nil
	case "token":
		path := c.TokensFile
		if path == "" {
			path = filepath.Join(c.DataDir, "tokens.json")
		}
		store, err := auth.OpenStore(path)
		if err != nil {
			return nil, err
		}
		acc.Tokens = store
		return acc, nil
	}
	return nil, fmt.Errorf("--access %q: want open, token or auto", c.Access)
}

// isLoopbackAddr reports whether a listen address binds loopback only.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// corsOrigins parses --cors-origins ("none": same origin only).
func corsOrigins(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" && o != "none" {
			out = append(out, o)
		}
	}
	return out
}
