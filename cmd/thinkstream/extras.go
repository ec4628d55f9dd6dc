package main

import (
	"errors"
	"log/slog"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local"
)

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
