package main

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/http"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local"
	"github.com/thinkstream/thinkstream/openaiapi"
	"github.com/thinkstream/thinkstream/profile"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/web"
)

// mountExtras adds the web UI and the OpenAI-compatible API.
func mountExtras(mux *http.ServeMux, mgr *runs.Manager, profiles *profile.Set, maxTokens int, logger *slog.Logger) {
	openaiapi.New(openaiRuns{mgr}, openaiapi.Options{
		Models:       []string{openaiapi.DefaultModel},
		Profiles:     profiles.Names(),
		MaxTokensCap: maxTokens,
		ErrorStatus: func(err error) int {
			switch {
			case errors.Is(err, runs.ErrQueueFull):
				return http.StatusTooManyRequests
			case errors.Is(err, runs.ErrShuttingDown):
				return http.StatusServiceUnavailable
			}
			return http.StatusBadRequest
		},
		Logger: logger,
	}).Register(mux)
	mux.Handle("/", web.Handler())
}

// openaiRuns adapts the run manager to the OpenAI-compatible API: its
// clients own their runs through their connection, so a disconnect cancels
// without an owner token.
type openaiRuns struct{ m *runs.Manager }

func (o openaiRuns) Create(ctx context.Context, req thinkstream.RunRequest) (thinkstream.Run, error) {
	c, err := o.m.Create(ctx, req)
	return c.Run, err
}

func (o openaiRuns) Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error] {
	return o.m.Follow(ctx, id, after)
}

func (o openaiRuns) Cancel(ctx context.Context, id string) error { return o.m.CancelAny(ctx, id) }

// newLocalEngine loads a GGUF model (a name from the models directory or a
// path) into the embedded engine.
func newLocalEngine(c serveConfig, getenv func(string) string, logger *slog.Logger) (thinkstream.Engine, func(), error) {
	if c.Model == "" {
		return nil, nil, errors.New("--engine local needs --model NAME|PATH")
	}
	path, err := resolveModelArg(getenv, "", c.Model)
	if err != nil {
		return nil, nil, err
	}
	eng, err := local.New(local.Config{ModelPath: path, Threads: c.Threads, Parallel: c.Parallel, ContextSize: c.Context, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	return eng, func() { _ = eng.Close() }, nil
}
