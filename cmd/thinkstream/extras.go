package main

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local"
	"github.com/thinkstream/thinkstream/modelpull"
	"github.com/thinkstream/thinkstream/modelstore"
	"github.com/thinkstream/thinkstream/server"
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

// pulledModel finds a VibeThinker GGUF in the models directory (the
// default quantization if several), and returns it with the directory.
func pulledModel(getenv func(string) string, dirFlag string, logger *slog.Logger) (path, dir string) {
	dir, err := modelsDir(getenv, dirFlag)
	if err != nil {
		return "", ""
	}
	list, err := (&modelstore.Store{Dir: dir}).List()
	if err != nil {
		logger.Warn("models directory unreadable", "dir", dir, "err", err)
		return "", dir
	}
	for _, m := range list {
		if !strings.Contains(strings.ToLower(m.Name), "vibethinker") {
			continue
		}
		if path == "" || strings.EqualFold(m.Quant, modelpull.DefaultQuant) {
			path = m.Path
		}
	}
	if path != "" {
		logger.Info("no model configured: using the VibeThinker GGUF in the models directory", "path", path)
	}
	return path, dir
}

// pullOffer is the page's model download into dir, and how the server
// loads what it downloaded (the local engine, with serve's flags).
func pullOffer(c serveConfig, getenv func(string) string, dir string, logger *slog.Logger) *server.ModelsConfig {
	return &server.ModelsConfig{
		Puller: &modelstore.Puller{
			Store: &modelstore.Store{Dir: dir}, Endpoint: getenv("HF_ENDPOINT"), Token: getenv("HF_TOKEN"),
			UserAgent: "thinkstream/" + pullVersion(),
		},
		Open: func(path string) (thinkstream.Engine, func(), error) {
			lc := c
			lc.Model = path
			return newLocalEngine(lc, getenv, logger)
		},
	}
}
