package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/httpapi"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// The tests configure the whole server, as serve does.
type (
	Config = server.Config
	Access = httpapi.Access
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
	api *httpapi.API
	mgr *runs.Manager
	hub *hub.Hub
	log *eventlog.Log
	// tokens is the token store of a token-mode stack (tokenStack).
	tokens *auth.Store
}

// newStack runs the whole server as serve assembles it (server.New: embedded
// JetStream, hub, run manager, API; without the web UI and the OpenAI API)
// behind a real loopback HTTP server. Stats events are off unless asked for,
// so that transcripts are exact. setup, if given, adjusts the HTTP server
// before it starts.
func newStack(t testing.TB, eng thinkstream.Engine, cfg Config, setup ...func(*httptest.Server)) *stack {
	t.Helper()
	cfg.Engine = eng
	cfg.NoUI = true
	if cfg.StatsEvery == 0 {
		cfg.StatsEvery = time.Hour
	}
	if cfg.ViewersEvery == 0 {
		cfg.ViewersEvery = 20 * time.Millisecond
	}
	s := servertest.New(t, cfg, setup...)
	return &stack{srv: s.HTTP, api: s.API, mgr: s.Runs, hub: s.Hub, log: s.Log}
}

func (s *stack) create(t *testing.T, problem string) runs.Created {
	t.Helper()
	c, err := s.mgr.Create(context.Background(), thinkstream.RunRequest{Problem: problem, Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createAs starts a run as the front doors do for an authenticated owner.
func (s *stack) createAs(t *testing.T, problem, owner string, vis thinkstream.Visibility) runs.Created {
	t.Helper()
	c, err := s.mgr.Create(context.Background(), thinkstream.RunRequest{Problem: problem, Source: "api", Owner: owner, Visibility: vis})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitEnded waits until a run has its terminal event.
func (s *stack) waitEnded(t testing.TB, id string) thinkstream.Run {
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
