package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinkstream/thinkstream/cluster"
	"github.com/thinkstream/thinkstream/server"
)

// cmdWorker runs a cluster worker: it takes the runs that gateways
// (serve --role gateway) queued on the cluster's NATS and generates them.
// It takes serve's flags, of which the engine's and the cluster's matter.
func cmdWorker(ctx context.Context, e *env, args []string) error {
	var c serveConfig
	fs := serveFlags(&c, e.getenv("HOME"))
	fs.SetOutput(e.stderr)
	setUsage(fs, e.stderr, "worker --nats-url URL [engine flags]", "Generates runs queued by cluster gateways. Takes serve's flags (engine, --nats-url, --lease, --nats-replicas, --max-concurrent); the HTTP ones are ignored.")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	if c.NATSURL == "" {
		return errors.New("worker needs --nats-url (the cluster's NATS)")
	}
	logger, err := newLogger(e, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	eng, closeEngine, err := newEngine(c, e.getenv, logger)
	if err != nil {
		return err
	}
	defer closeEngine()
	w, err := server.NewWorker(ctx, server.WorkerConfig{
		Engine: eng, NATSURL: c.NATSURL, Slots: c.MaxConcurrent, Logger: logger,
		Work: cluster.WorkConfig{Lease: c.Lease, Replicas: c.WorkReplicas},
	})
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(e.stdout, "worker taking runs from %s\n", c.NATSURL)
	logger.Info("thinkstream worker", "nats", c.NATSURL, "engine", eng.Name(), "model", w.Runs.EngineInfo().Model)
	// On SIGTERM the runs generating here go back to the queue: another
	// worker continues them from what is logged.
	return w.Run(ctx)
}
