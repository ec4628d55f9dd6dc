package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/cluster"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/runs"
)

// WorkerConfig configures a worker of a cluster: it takes runs that the
// gateways queued and generates them, as their single writer.
type WorkerConfig struct {
	Engine  thinkstream.Engine // required
	NATSURL string             // required: the cluster's NATS
	Work    cluster.WorkConfig
	// Slots is how many runs it generates at once (0: what the engine
	// can run).
	Slots      int
	StatsEvery time.Duration
	// MaxAttempts bounds how often a run is taken before it ends failed
	// (default 3).
	MaxAttempts int
	Registry    *prometheus.Registry
	Logger      *slog.Logger
}

// Worker is an assembled worker.
type Worker struct {
	Runs   *runs.Manager
	worker *cluster.Worker
	close  func()
}

// NewWorker connects to the cluster's NATS and builds a worker.
func NewWorker(ctx context.Context, cfg WorkerConfig) (*Worker, error) {
	if cfg.Engine == nil || cfg.NATSURL == "" {
		return nil, errors.New("server: a worker needs an engine and the cluster's NATS")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	log, closeLog, err := OpenStore(ctx, StoreConfig{NATSURL: cfg.NATSURL, Replicas: cfg.Work.Replicas}, cfg.Logger)
	if err != nil {
		return nil, err
	}
	// The worker's hub has no viewers (they watch through gateways); the
	// writer publishes to it as on any node.
	h := hub.New(log, hub.Config{Metrics: hub.NewMetrics(reg), Logger: cfg.Logger})
	m := runs.New(runs.Config{
		Engine: cfg.Engine, Log: log, Hub: h, StatsEvery: cfg.StatsEvery, MaxAttempts: cfg.MaxAttempts,
		Metrics: runs.NewMetrics(reg), Logger: cfg.Logger, Remote: cluster.NewRemote(log.Conn(), cfg.Logger),
	})
	slots := cfg.Slots
	if slots <= 0 {
		slots = max(m.EngineInfo().MaxParallel, 1)
	}
	w, err := cluster.NewWorker(ctx, log.Conn(), cfg.Work, m, slots, cfg.Logger)
	if err != nil {
		closeLog()
		return nil, fmt.Errorf("server: worker: %w", err)
	}
	return &Worker{Runs: m, worker: w, close: closeLog}, nil
}

// Run takes runs until ctx ends; the runs it generates then are handed
// back to the queue for another worker.
func (w *Worker) Run(ctx context.Context) error { return w.worker.Run(ctx) }

// Close releases the connection. Call it after Run returned.
func (w *Worker) Close() { w.close() }
