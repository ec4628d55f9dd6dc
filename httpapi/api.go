// Package httpapi is thinkstream's HTTP front door: the runs API (v1), the
// SSE event streams, the compatibility endpoint of the original article's
// page, health and metrics. Every error a client sees is an RFC 9457
// problem+json document with a stable type; internal error text stays in the
// logs.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/runs"
)

// Runs is what the API needs of the run manager.
type Runs interface {
	Create(ctx context.Context, req thinkstream.RunRequest) (runs.Created, error)
	Get(ctx context.Context, id string) (thinkstream.Run, error)
	List(ctx context.Context, limit int, before string) ([]thinkstream.Run, string, error)
	ListFunc(ctx context.Context, limit int, before string, keep func(thinkstream.Run) bool) ([]thinkstream.Run, string, error)
	SetVisibility(ctx context.Context, id string, v thinkstream.Visibility) (thinkstream.Run, error)
	Delete(ctx context.Context, id string) error
	Snapshot(ctx context.Context, id string) (*runs.Snapshot, error)
	Cancel(ctx context.Context, id, token string) error
	Pause(ctx context.Context, id, token string) error
	Resume(ctx context.Context, id, token string) error
	Annotate(ctx context.Context, id string, a thinkstream.Annotation) (thinkstream.Event, error)
	Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error]
	Viewers(id string) int
	FirstSeq(ctx context.Context, id string) (int64, error)
	EngineInfo() thinkstream.EngineInfo
}

// Config configures the API. Zero values are documented defaults.
type Config struct {
	// MaxProblemBytes caps the problem text (default 16 KiB).
	MaxProblemBytes int
	// MaxBodyBytes caps request bodies (default 64 KiB).
	MaxBodyBytes int64
	// MaxTokens is the server cap for max_tokens (default 40960).
	MaxTokens int
	// Heartbeat is the period of SSE comment lines on idle streams
	// (default 15s).
	Heartbeat time.Duration
	// Retry is the reconnection delay suggested to SSE clients (default 2s).
	Retry time.Duration
	// WriteTimeout ends a viewer's stream when one write takes longer: a
	// viewer that stopped reading is cut off and can resume later
	// (default 30s).
	WriteTimeout time.Duration
	// CORSOrigins may use the API from their pages ("*": any; empty: none,
	// same origin only).
	CORSOrigins []string
	// Profiles lists the known profile names (empty: any name is passed on).
	Profiles []string
	Logger   *slog.Logger
	// Gatherer serves /metrics (nil: no metrics endpoint).
	Gatherer prometheus.Gatherer
	// Listener, when the server accepts through it, takes back the
	// connections of finished event streams for further requests.
	Listener *Listener
	// ProfileSource gives GET /v1/info the profiles' defaults (nil: names
	// only, from Profiles).
	ProfileSource ProfileSource
	// DemoProblem is what a bare GET /infer runs when no run is live
	// (default DefaultDemoProblem).
	DemoProblem string
	// Extra mounts more handlers (the web UI, the OpenAI-compatible API).
	Extra func(mux *http.ServeMux)
	// Access chooses open or token mode and the per-client limits (nil:
	// open mode, default limits).
	Access *Access
	// Shares keeps share links (nil: none can be made).
	Shares Shares
}

// maxAnyBody bounds every request body before its handler sees it (the
// OpenAI-compatible API takes up to 4 MiB; handlers bound their own).
const maxAnyBody = 4 << 20

// API serves HTTP.
type API struct {
	cfg      Config
	runs     Runs
	hub      *hub.Hub
	mux      *http.ServeMux
	guard    *guard
	stopping atomic.Bool
	log      *slog.Logger
	// streams counts event streams in flight: those on taken-over
	// connections are invisible to http.Server.Shutdown.
	streams sync.WaitGroup
}

// New builds the API around a run manager and the hub it publishes to.
func New(r Runs, h *hub.Hub, cfg Config) *API {
	if cfg.MaxProblemBytes <= 0 {
		cfg.MaxProblemBytes = 16 << 10
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 40960
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, runs: r, hub: h, mux: http.NewServeMux(), log: cfg.Logger,
		guard: newGuard(cfg.Access, maxAnyBody, cfg.CORSOrigins)}
	a.routes()
	return a
}

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("POST /v1/runs", a.createRun)
	m.HandleFunc("GET /v1/runs", a.listRuns)
	m.HandleFunc("GET /v1/runs/{id}", a.getRun)
	m.HandleFunc("PATCH /v1/runs/{id}", a.patchRun)
	m.HandleFunc("DELETE /v1/runs/{id}", a.deleteRun)
	m.HandleFunc("POST /v1/runs/{id}/shares", a.createShare)
	m.HandleFunc("GET /v1/runs/{id}/shares", a.listShares)
	m.HandleFunc("DELETE /v1/runs/{id}/shares/{share}", a.revokeShare)
	m.HandleFunc("GET /v1/s/{secret}", a.resolveShare)
	m.HandleFunc("GET /v1/runs/{id}/events", a.streamRun)
	m.HandleFunc("POST /v1/runs/{id}/cancel", a.action(a.runs.Cancel))
	m.HandleFunc("POST /v1/runs/{id}/pause", a.action(a.runs.Pause))
	m.HandleFunc("POST /v1/runs/{id}/resume", a.action(a.runs.Resume))
	m.HandleFunc("POST /v1/runs/{id}/annotations", a.annotate)
	m.HandleFunc("GET /infer", newInfer(a).serve)
	m.HandleFunc("GET /v1/info", a.info)
	m.HandleFunc("POST /v1/login", a.login)
	m.HandleFunc("POST /v1/logout", a.logout)
	m.HandleFunc("GET /v1/whoami", a.whoami)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\naccess: " + a.cfg.Access.Mode() + "\n"))
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if a.stopping.Load() {
			a.problem(w, r, http.StatusServiceUnavailable, "shutting-down", "Shutting down", "the server is shutting down", nil)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready\n"))
	})
	if a.cfg.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusNotFound, "not-found", "Not found", "no such endpoint", nil)
	})
	if a.cfg.Extra != nil {
		a.cfg.Extra(m)
	}
}

// ServeHTTP logs each request with its own attributes and dispatches it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cors(w, r) {
		return
	}
	if r = a.admit(w, r); r == nil {
		return
	}
	switch {
	case creates(r) && a.limited(w, r, a.guard.runs, "runs"):
		return
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/annotations") &&
		a.limited(w, r, a.guard.annotations, "annotations"):
		return
	}
	a.mux.ServeHTTP(w, r)
}

// creates reports whether a request starts a run.
func creates(r *http.Request) bool {
	switch {
	case r.Method == http.MethodPost:
		return r.URL.Path == "/v1/runs" || r.URL.Path == "/v1/chat/completions"
	case r.URL.Path == "/infer":
		return r.URL.Query().Get("problem") != ""
	}
	return false
}

// cors lets pages of the configured origins use the API: a page on another
// site embedding <thinkstream-view> reads runs and their streams and posts
// highlights. It answers preflight requests itself (reporting true).
func (a *API) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	// /assets/ too: the element's loader imports its module script, which
	// a page of another origin may only run with CORS.
	api := strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/assets/")
	if origin == "" || len(a.cfg.CORSOrigins) == 0 || !api {
		return false
	}
	allowed := ""
	for _, o := range a.cfg.CORSOrigins {
		if o == "*" || o == origin {
			allowed = o
			break
		}
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if allowed == "" {
		return false
	}
	h.Set("Access-Control-Allow-Origin", allowed)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID, X-Thinkstream-Owner")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// WaitStreams waits until every event stream has ended (after the server's
// base context was cancelled, they end with a retry hint), or ctx is done.
func (a *API) WaitStreams(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.streams.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stopping tells streams to end with a retry hint and readiness to fail.
func (a *API) Stopping() { a.stopping.Store(true) }

// FieldError names an offending request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problem writes an RFC 9457 problem document.
func (a *API) problem(w http.ResponseWriter, r *http.Request, status int, slug, title, detail string, fields []FieldError) {
	body := struct {
		Type     string       `json:"type"`
		Title    string       `json:"title"`
		Status   int          `json:"status"`
		Detail   string       `json:"detail,omitempty"`
		Instance string       `json:"instance,omitempty"`
		Errors   []FieldError `json:"errors,omitempty"`
	}{"/problems/" + slug, title, status, detail, r.URL.Path, fields}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// internal logs err and answers 500 without revealing it.
func (a *API) internal(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	a.problem(w, r, http.StatusInternalServerError, "internal", "Internal error", "the server could not complete the request", nil)
}

// runError maps run manager errors to problems.
func (a *API) runError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, runs.ErrNotFound):
		a.problem(w, r, http.StatusNotFound, "run-not-found", "Run not found", "no run has this id", nil)
	case errors.Is(err, runs.ErrQueueFull):
		w.Header().Set("Retry-After", "5")
		a.problem(w, r, http.StatusTooManyRequests, "queue-full", "Too many runs", "all generation slots and the queue are full; retry later", nil)
	case errors.Is(err, runs.ErrShuttingDown):
		w.Header().Set("Retry-After", "5")
		a.problem(w, r, http.StatusServiceUnavailable, "shutting-down", "Shutting down", "the server is shutting down", nil)
	case errors.Is(err, runs.ErrForbidden):
		a.problem(w, r, http.StatusForbidden, "not-owner", "Not the owner", "only the run's creator (X-Thinkstream-Owner header) can do this", nil)
	case errors.Is(err, runs.ErrNotActive):
		a.problem(w, r, http.StatusConflict, "run-not-active", "Run not active", "the run has already ended", nil)
	case errors.Is(err, thinkstream.ErrUnsupported):
		a.problem(w, r, http.StatusNotImplemented, "unsupported", "Not supported", "the engine of this server does not support this", nil)
	default:
		var fe *fieldErr
		if errors.As(err, &fe) {
			a.problem(w, r, http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fe.Error(), []FieldError{{fe.field, fe.msg}})
			return
		}
		a.internal(w, r, err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
