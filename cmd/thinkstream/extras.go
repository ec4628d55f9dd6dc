package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local"
	"github.com/thinkstream/thinkstream/runs"
)

// mountExtras adds the web UI and the OpenAI-compatible API.
func mountExtras(mux *http.ServeMux, mgr *runs.Manager, eng thinkstream.Engine, logger *slog.Logger) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("thinkstream: the web UI is not built into this binary yet\n"))
	})
}

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
