package server

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"sync/atomic"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/openaiapi"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/web"
)

// mountExtras adds the web UI and the OpenAI-compatible API, whose
// routes go to the mux openai holds now (it changes with the engine).
func mountExtras(mux *http.ServeMux, openai *atomic.Pointer[http.ServeMux]) {
	cur := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { openai.Load().ServeHTTP(w, r) })
	mux.Handle("POST /v1/chat/completions", cur)
	mux.Handle("GET /v1/models", cur)
	mux.Handle("GET /v1/models/{model...}", cur)
	mux.Handle("/", web.Handler())
}

// openAIMux serves the OpenAI-compatible API for the engine new runs go to.
func (s *Server) openAIMux() *http.ServeMux {
	mux := http.NewServeMux()
	models, aliases, owner := modelIDs(s.Runs.EngineInfo())
	openaiapi.New(OpenAIRuns{M: s.Runs, Limits: s.limits}, openaiapi.Options{
		Models: models, Aliases: aliases, OwnedBy: owner,
		Profiles:     s.cfg.Profiles.Names(),
		MaxTokensCap: s.limits.MaxTokens,
		ErrorStatus: func(err error) int {
			switch {
			case errors.Is(err, runs.ErrQueueFull):
				return http.StatusTooManyRequests
			case errors.Is(err, runs.ErrShuttingDown):
				return http.StatusServiceUnavailable
			}
			return http.StatusBadRequest
		},
		Logger: s.logger,
	}).Register(mux)
	return mux
}

// modelIDs names the engine honestly on /v1/models: the simulator lists
// itself (clients configured for "vibethinker-1.5b" are still served), a
// real model lists its own name first.
func modelIDs(info thinkstream.EngineInfo) (models, aliases []string, owner string) {
	if info.Simulated {
		return []string{SimulatorModel}, []string{openaiapi.DefaultModel}, "thinkstream-simulator"
	}
	if info.Model == "" || info.Model == openaiapi.DefaultModel {
		return []string{openaiapi.DefaultModel}, nil, "thinkstream"
	}
	return []string{info.Model}, []string{openaiapi.DefaultModel}, "thinkstream"
}

// SimulatorModel is the model id /v1/models lists while the built-in
// simulator answers.
const SimulatorModel = "thinkstream-simulator"

// OpenAIRuns adapts the run manager to the OpenAI-compatible API: its
// clients own their runs through their connection, so a disconnect cancels
// without an owner token.
type OpenAIRuns struct {
	M *runs.Manager
	// Limits are the request rules of every front door.
	Limits thinkstream.RequestLimits
}

// Create checks a request against the shared rules and starts a run.
func (o OpenAIRuns) Create(ctx context.Context, req thinkstream.RunRequest) (thinkstream.Run, error) {
	if err := o.Limits.Validate(req); err != nil {
		return thinkstream.Run{}, err
	}
	// Its runs are the caller's own, private, like those of POST /v1/runs.
	req.Owner = auth.FromContext(ctx).Name
	req.Visibility = thinkstream.VisibilityPrivate
	c, err := o.M.Create(ctx, req)
	return c.Run, err
}

// Follow streams a run's events after a seq.
func (o OpenAIRuns) Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error] {
	return o.M.Follow(ctx, id, after)
}

// Cancel cancels a run without its owner token.
func (o OpenAIRuns) Cancel(ctx context.Context, id string) error { return o.M.CancelAny(ctx, id) }
