package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/runs"
)

// mountExtras adds the web UI and the OpenAI-compatible API.
func mountExtras(mux *http.ServeMux, mgr *runs.Manager, eng thinkstream.Engine, logger *slog.Logger) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("thinkstream: the web UI is not built into this binary yet\n"))
	})
}

func newLocalEngine(c serveConfig, logger *slog.Logger) (thinkstream.Engine, func(), error) {
	return nil, nil, errors.New("the local engine is not built into this binary yet")
}
