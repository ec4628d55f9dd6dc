// Package server assembles the whole thinkstream server — event log, hub,
// run manager, HTTP API, OpenAI-compatible API and web UI — from one Config.
// `thinkstream serve` and every test that needs the full stack build it
// here, so that what the tests run is what users run.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/cluster"
	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/httpapi"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/modelpull"
	"github.com/thinkstream/thinkstream/profile"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/shares"
)

// Config is the whole server's configuration. Zero values are the
// documented defaults of `thinkstream serve` (README.md, Configuration).
type Config struct {
	// Engine generates the runs. Required.
	Engine thinkstream.Engine
	// DataDir holds the event log (its JetStream files live in
	// DataDir/jetstream). Required unless NATSURL is set.
	DataDir string
	// NATSURL uses an external NATS with JetStream instead of the
	// embedded one.
	NATSURL string
	// Gateway (with NATSURL) only admits runs and queues them for the
	// workers of the cluster (thinkstream worker); without it the server
	// generates its runs itself.
	Gateway bool
	// ResumeInterrupted continues, at start-up, the runs that a crash cut
	// short, from their logged output, instead of ending them with
	// run.interrupted (needs an engine that continues a prefix).
	ResumeInterrupted bool
	// Work configures the cluster's work queue (Gateway only).
	Work           cluster.WorkConfig
	RetentionAge   time.Duration // 0 keeps runs forever
	RetentionBytes int64         // 0: no cap
	// Repair fixes a damaged event log at start-up (what the log proves is
	// rebuilt, the rest marked failed); without it New refuses a damaged
	// log with ErrDamaged, naming what is damaged.
	Repair bool
	// Profiles (nil: the built-in math and code profiles).
	Profiles *profile.Set

	MaxConcurrent   int           // 0: what the engine can run
	MaxQueue        int           // default 64
	MaxTokens       int           // default 40960, capped by profiles and engine
	MaxProblemBytes int           // default 16 KiB
	Heartbeat       time.Duration // default 15s
	WriteTimeout    time.Duration // default 30s
	Retry           time.Duration // SSE reconnection hint, default 2s
	ShutdownGrace   time.Duration // default 0: interrupt at once
	Window          int           // default 4096
	// StatsEvery is the period of stats events (default 1s).
	StatsEvery time.Duration
	// ViewersEvery throttles viewer-count frames (default 500ms).
	ViewersEvery time.Duration
	// Linger keeps finished runs' topics for late viewers (default 30s).
	Linger      time.Duration
	CORSOrigins []string
	// DemoProblem is what a bare GET /infer runs when no run is live
	// (default httpapi.DefaultDemoProblem).
	DemoProblem string
	// Access is the access mode and per-client limits (nil: open mode).
	Access *httpapi.Access
	// Models offers the page's model download and the switch to the
	// model downloaded (nil: no download offered).
	Models *ModelsConfig
	// NoUI leaves out the web UI and the OpenAI-compatible API (tests of
	// the runs API alone).
	NoUI bool
	// Registry receives the metrics (nil: a new one with Go and process
	// collectors).
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Server is an assembled server. Its parts are exported for tests and for
// the CLI's own wiring; the Server owns them and closes them.
type Server struct {
	Log      *eventlog.Log
	Hub      *hub.Hub
	Runs     *runs.Manager
	Shares   *shares.Store
	API      *httpapi.API
	Registry *prometheus.Registry
	// Recovered is how many runs that a previous crash cut short were
	// ended at start-up.
	Recovered int
	// MaxTokens is the effective max_tokens cap.
	MaxTokens int
	// Pulls runs the page's model downloads (nil without Config.Models).
	Pulls *modelpull.Manager

	cfg      Config
	limits   thinkstream.RequestLimits
	logger   *slog.Logger
	closeLog func() // the log, then the data dir's lock
	ln       *httpapi.Listener
	http     *http.Server
	streams  context.CancelFunc
	sw       engineSwitch
}

// New opens the log, recovers runs cut short by a crash and builds every
// part. ctx bounds the start-up only.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: no engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Profiles == nil {
		p, err := profile.Load("")
		if err != nil {
			return nil, err
		}
		cfg.Profiles = p
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 40960
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.NATSURL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("server: no data dir")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	log, closeLog, err := OpenStore(ctx, StoreConfig{DataDir: cfg.DataDir, NATSURL: cfg.NATSURL,
		RetentionAge: cfg.RetentionAge, RetentionBytes: cfg.RetentionBytes, Repair: cfg.Repair,
		Replicas: cfg.Work.Replicas}, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{Log: log, Registry: reg, cfg: cfg, logger: cfg.Logger, closeLog: closeLog}
	bucket, err := log.Bucket(ctx, sharesBucket)
	if err != nil {
		closeLog()
		return nil, err
	}
	s.Shares = shares.New(bucket)
	var follower hub.Follower
	var remote runs.Remote
	var queue runs.Queue
	if cfg.Gateway && cfg.NATSURL == "" {
		closeLog()
		return nil, errors.New("server: a gateway needs the cluster's NATS (NATSURL)")
	}
	if cfg.Gateway {
		q, err := cluster.NewQueue(ctx, log.Conn(), cfg.Work)
		if err != nil {
			closeLog()
			return nil, err
		}
		queue = q
	}
	if cfg.NATSURL != "" {
		// An external NATS may be shared: runs that other processes
		// generate are followed from the log for this node's viewers, and
		// commands for them go to their writers.
		follower = log
		remote = cluster.NewRemote(log.Conn(), cfg.Logger)
	}
	s.Hub = hub.New(log, hub.Config{
		Encode: httpapi.EncodeWire, Follower: follower,
		Window: cfg.Window, Tick: max(cfg.Heartbeat/3, 10*time.Millisecond), ViewersEvery: cfg.ViewersEvery,
		Linger: cfg.Linger, Metrics: hub.NewMetrics(reg), Logger: cfg.Logger,
	})
	s.Runs = runs.New(runs.Config{
		Engine: cfg.Engine, Log: log, Hub: s.Hub, Profiles: cfg.Profiles,
		MaxConcurrent: cfg.MaxConcurrent, MaxQueue: cfg.MaxQueue, ShutdownGrace: cfg.ShutdownGrace,
		StatsEvery: cfg.StatsEvery, Metrics: runs.NewMetrics(reg), Logger: cfg.Logger, Remote: remote, Queue: queue,
		ResumeInterrupted: cfg.ResumeInterrupted, MaxTokens: cfg.MaxTokens,
	})
	for _, state := range []string{"queued", "running"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "thinkstream_runs_active", Help: "Runs now queued or running.", ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			q, r := s.Runs.Active()
			if state == "queued" {
				return float64(q)
			}
			return float64(r)
		}))
	}
	if s.Recovered, err = s.Runs.Recover(ctx); err != nil {
		closeLog()
		return nil, fmt.Errorf("recover runs: %w", err)
	}
	if s.Recovered > 0 {
		msg := "ended runs interrupted by a previous crash"
		if cfg.ResumeInterrupted {
			msg = "continuing (or, where they cannot be continued, ending) runs a previous crash cut short"
		}
		cfg.Logger.Warn(msg, "runs", s.Recovered)
	}
	s.Pulls = s.newPulls()
	s.MaxTokens = cfg.MaxTokens
	if c := cfg.Profiles.MaxTokensCap(); c > 0 { // 0: the file sets no cap
		s.MaxTokens = min(s.MaxTokens, c)
	}
	if info := s.Runs.EngineInfo(); info.MaxTokens > 0 {
		s.MaxTokens = min(s.MaxTokens, info.MaxTokens)
	}
	return s, nil
}

// sharesBucket holds the share links, beside the runs in the same JetStream.
const sharesBucket = "thinkstream_shares"

// Listen wraps a listener so that finished event streams can hand their
// connections back to the HTTP server, and builds the HTTP API around it.
// Call it once, before Serve.
func (s *Server) Listen(tcp net.Listener) net.Listener {
	s.ln = httpapi.NewListener(tcp)
	cfg := s.cfg
	var extra func(*http.ServeMux)
	if !cfg.NoUI {
		limits := thinkstream.RequestLimits{MaxProblemBytes: cfg.MaxProblemBytes, MaxTokens: s.MaxTokens, Profiles: cfg.Profiles.Names()}
		s.limits = limits
		s.sw.openai.Store(s.openAIMux())
		extra = func(mux *http.ServeMux) {
			if s.Pulls != nil {
				s.Pulls.Register(mux)
			}
			mountExtras(mux, &s.sw.openai)
		}
	} else if s.Pulls != nil {
		extra = s.Pulls.Register
	}
	s.API = httpapi.New(s.Runs, s.Hub, httpapi.Config{
		Listener:        s.ln,
		MaxProblemBytes: cfg.MaxProblemBytes, MaxTokens: s.MaxTokens, Heartbeat: cfg.Heartbeat,
		WriteTimeout: cfg.WriteTimeout, Retry: cfg.Retry, CORSOrigins: cfg.CORSOrigins, Access: cfg.Access, DemoProblem: cfg.DemoProblem,
		Profiles: cfg.Profiles.Names(), ProfileSource: cfg.Profiles, Logger: cfg.Logger, Gatherer: s.Registry, Extra: extra,
		Shares: s.Shares,
	})
	return s.ln
}

// Handler is the server's HTTP handler (Listen must have been called).
func (s *Server) Handler() http.Handler { return logRequests(s.API, s.logger) }

// HTTPServer returns the http.Server that Serve runs, configured for long
// event streams: streams get a base context that Shutdown cancels only
// after the runs have ended, and HTTP/2 is on (negotiated over TLS, and in
// clear text for proxies that speak it).
func (s *Server) HTTPServer() *http.Server {
	if s.http != nil {
		return s.http
	}
	baseCtx, stop := context.WithCancel(context.Background())
	s.streams = stop
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	if s.ln != nil {
		s.http.ConnState = s.ln.ConnState
	}
	s.http.Protocols = new(http.Protocols)
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetHTTP2(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
	return s.http
}

// Serve accepts connections on the listener returned by Listen until
// Shutdown. With a certificate and key it serves HTTPS.
func (s *Server) Serve(certFile, keyFile string) error {
	srv := s.HTTPServer()
	var err error
	if certFile != "" {
		err = srv.ServeTLS(s.ln, certFile, keyFile)
	} else {
		err = srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops admitting runs, lets running ones finish within the
// grace period (then interrupts them), ends every stream with a retry hint
// and stops the HTTP server. ctx bounds the whole shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if s.API != nil {
		s.API.Stopping()
	}
	if s.Pulls != nil {
		s.Pulls.Close() // a download stopped now resumes at the next start
	}
	if err := s.Runs.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown runs: %w", err))
	}
	if s.streams != nil {
		s.streams()
	}
	if s.API != nil {
		if err := s.API.WaitStreams(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown streams: %w", err))
		}
	}
	if s.ln != nil {
		// Connections handed back by finished streams would otherwise
		// hold Shutdown for 5 s as "new".
		s.ln.CloseWaiting()
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			// Viewers that stopped reading keep their connections busy.
			errs = append(errs, fmt.Errorf("shutdown http, closing the connections left: %w", err))
			s.http.Close()
		}
	}
	return errors.Join(errs...)
}

// Close releases the log and the data dir's lock. Call it after Shutdown.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.Pulls != nil {
		s.Pulls.Close()
	}
	s.closeEngines()
	s.closeLog()
}

// logRequests logs every request with its own attributes (never bodies:
// prompts stay out of the logs).
func logRequests(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("path", redactShare(r.URL.Path)),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

// redactShare hides a share link's secret (/s/{secret}, /v1/s/{secret}):
// whoever reads the log must not be able to open the run with it.
func redactShare(p string) string {
	for _, prefix := range []string{"/s/", "/v1/s/"} {
		if strings.HasPrefix(p, prefix) && len(p) > len(prefix) {
			return prefix + "…"
		}
	}
	return p
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
