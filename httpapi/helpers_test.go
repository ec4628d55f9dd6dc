package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/runs"
)

// scripted is a test engine at the true external edge (the model): it
// streams fixed tokens; with a gate it waits for one receive per token.
type scripted struct {
	tokens []string
	gate   chan struct{}
}

func (s *scripted) Name() string { return "scripted" }
func (s *scripted) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	for _, t := range s.tokens {
		if s.gate != nil {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return thinkstream.Result{}, ctx.Err()
			}
		}
		if err := emit(thinkstream.Token{Text: t, ID: -1}); err != nil {
			return thinkstream.Result{}, err
		}
	}
	return thinkstream.Result{FinishReason: "stop", Usage: thinkstream.Usage{PromptTokens: 12}}, nil
}

type stack struct {
	srv *httptest.Server
	api *API
	mgr *runs.Manager
	hub *hub.Hub
	log *eventlog.Log
}

// newStack runs the real components (embedded JetStream, hub, run manager,
// API) behind a real loopback HTTP server.
// setup, if given, adjusts the server before it starts.
func newStack(t *testing.T, eng thinkstream.Engine, cfg Config, setup ...func(*httptest.Server)) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(l, hub.Config{Encode: EncodeWire, ViewersEvery: 20 * time.Millisecond})
	m := runs.New(runs.Config{Engine: eng, Log: l, Hub: h, StatsEvery: time.Hour})
	srv := httptest.NewUnstartedServer(nil)
	ln := NewListener(srv.Listener)
	srv.Listener = ln
	cfg.Listener = ln
	api := New(m, h, cfg)
	srv.Config.Handler = api
	for _, f := range setup {
		f(srv)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Shutdown(sctx)
		l.Close()
	})
	return &stack{srv: srv, api: api, mgr: m, hub: h, log: l}
}

func (s *stack) create(t *testing.T, problem string) runs.Created {
	t.Helper()
	c, err := s.mgr.Create(context.Background(), thinkstream.RunRequest{Problem: problem, Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitEnded waits until a run has its terminal event.
func (s *stack) waitEnded(t *testing.T, id string) thinkstream.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ev, err := range s.mgr.Follow(ctx, id, 0) {
		if err != nil {
			t.Fatalf("follow %s: %v", id, err)
		}
		_ = ev
	}
	run, err := s.mgr.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func get(t *testing.T, url string, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
