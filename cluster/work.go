package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream/runs"
)

const (
	workStream   = "THINKSTREAM_WORK"
	workSubject  = "thinkstream.work"
	workConsumer = "workers"
)

// WorkConfig configures the work queue. Zero values are defaults.
type WorkConfig struct {
	// Lease is how long a worker holds a run without a heartbeat before
	// JetStream gives it to another (the consumer's AckWait; default 30s).
	// A live worker reports progress every Lease/3.
	Lease time.Duration
	// Replicas of the work stream, and of the event log's stream and
	// bucket (default 1; 3 on a 3-node cluster).
	Replicas int
}

func (c *WorkConfig) defaults() {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// openWork makes sure the work-queue stream and the workers' shared
// consumer exist. A work-queue stream holds each job until it is acked
// and gives it to one consumer: one run to one worker at a time.
func openWork(ctx context.Context, nc *nats.Conn, cfg WorkConfig) (jetstream.JetStream, jetstream.Consumer, error) {
	cfg.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: workStream, Description: "thinkstream runs waiting for a worker",
		Subjects: []string{workSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: work stream: %w", err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: workConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.Lease,
		// Attempts are counted by the run itself (Take), which can say
		// in the run's events why it stopped; JetStream just redelivers.
		MaxDeliver: -1, MaxAckPending: -1, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: workers consumer: %w", err)
	}
	return js, cons, nil
}

// Queue is runs.Queue on the work-queue stream.
type Queue struct{ js jetstream.JetStream }

// NewQueue opens the work queue for a gateway.
func NewQueue(ctx context.Context, nc *nats.Conn, cfg WorkConfig) (*Queue, error) {
	js, _, err := openWork(ctx, nc, cfg)
	if err != nil {
		return nil, err
	}
	return &Queue{js: js}, nil
}

// Enqueue implements runs.Queue; a retried enqueue of the same run is
// deduplicated by its message id.
func (q *Queue) Enqueue(ctx context.Context, job runs.Job) error {
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("cluster: encode job: %w", err)
	}
	if _, err := q.js.Publish(ctx, workSubject, data, jetstream.WithMsgID("run:"+job.RunID)); err != nil {
		return fmt.Errorf("cluster: queue run %s: %w", job.RunID, err)
	}
	return nil
}

// Taker is what a worker needs of the run manager.
type Taker interface {
	Take(ctx context.Context, job runs.Job, attempt int) error
}

// Worker takes runs from the work queue, Slots at a time, and generates
// them with its run manager.
type Worker struct {
	cons  jetstream.Consumer
	runs  Taker
	lease time.Duration
	slots int
	log   *slog.Logger
}

// NewWorker opens the work queue for a worker with slots generations at
// once.
func NewWorker(ctx context.Context, nc *nats.Conn, cfg WorkConfig, taker Taker, slots int, logger *slog.Logger) (*Worker, error) {
	cfg.defaults()
	_, cons, err := openWork(ctx, nc, cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cons: cons, runs: taker, lease: cfg.Lease, slots: max(slots, 1), log: logger}, nil
}

// Run takes and generates runs until ctx ends. Runs still generating then
// are handed back at once (nak), so another worker continues them without
// waiting for the lease to run out.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.slots {
		wg.Go(func() { w.slot(ctx) })
	}
	wg.Wait()
	return nil
}

func (w *Worker) slot(ctx context.Context) {
	for ctx.Err() == nil {
		// A short wait so that ctx is looked at now and then; one job per
		// fetch: a worker holds only what it generates.
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		batch, err := w.cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				w.log.Warn("worker: fetch a run", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			w.handle(ctx, msg)
		}
		cancel()
	}
}

func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	var job runs.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.RunID == "" {
		w.log.Error("worker: a job that does not decode; dropped", "err", err)
		_ = msg.Term()
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		w.log.Error("worker: job metadata", "run", job.RunID, "err", err)
		_ = msg.Nak()
		return
	}
	hbCtx, stopHB := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { w.heartbeat(hbCtx, msg) })
	err = w.runs.Take(ctx, job, int(md.NumDelivered))
	stopHB()
	hb.Wait()
	switch {
	case errors.Is(err, runs.ErrLeft) || ctx.Err() != nil:
		_ = msg.Nak() // another worker continues it now
	case err != nil:
		w.log.Warn("worker: run not taken; it goes back to the queue", "run", job.RunID, "err", err)
		_ = msg.NakWithDelay(time.Second)
	default:
		if err := msg.DoubleAck(context.WithoutCancel(ctx)); err != nil {
			w.log.Warn("worker: ack a finished run", "run", job.RunID, "err", err)
		}
	}
}

// heartbeat extends the lease while the run is generated here: a worker
// that dies stops sending it, and the run goes to another after Lease.
func (w *Worker) heartbeat(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTicker(w.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := msg.InProgress(); err != nil {
				w.log.Warn("worker: extend a run's lease", "err", err)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
