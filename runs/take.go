package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/thinkstream/thinkstream"
)

// Queue hands admitted runs to the workers of a cluster. With a Queue in
// Config the manager only admits (a gateway): Create logs run.created and
// queues the run instead of generating it, and a worker's Take generates.
type Queue interface {
	Enqueue(ctx context.Context, job Job) error
}

// Job is a run handed to a worker: what its engine is asked, and the
// owner's token so that the worker checks commands as the gateway would.
type Job struct {
	RunID    string                `json:"run_id"`
	Owner    string                `json:"owner"`
	Messages []thinkstream.Message `json:"messages"`
	Params   thinkstream.Params    `json:"params"`
}

// createQueued admits a run and hands it to the queue. The gateway writes
// run.created and nothing after: from the moment the job is queued the
// worker that takes it is the run's single writer.
func (m *Manager) createQueued(ctx context.Context, req thinkstream.RunRequest) (Created, error) {
	msgs, params, err := m.apply(req)
	if err != nil {
		return Created{}, err
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return Created{}, ErrShuttingDown
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Created{}, fmt.Errorf("runs: new id: %w", err)
	}
	now := time.Now()
	eng, info := m.Engine(), m.EngineInfo()
	r := &run{
		m: m, eng: eng, created: now, owner: newToken(), ready: make(chan struct{}), done: make(chan struct{}),
		req: thinkstream.Request{RunID: id.String(), Messages: msgs, Params: params},
		meta: thinkstream.Run{
			ID: id.String(), State: thinkstream.StateQueued, Problem: req.Problem, System: req.System,
			Profile: req.Profile, Params: params, Engine: eng.Name(), Model: info.Model,
			Simulated: info.Simulated, Source: req.Source, CreatedAt: now.UTC(),
			Owner: req.Owner, Visibility: req.Visibility.Effective(),
		},
	}
	r.meta.OwnerKey = ownerKey(r.owner)
	r.w = m.acquireWriter(r.meta.ID, now, 0, true)
	defer m.releaseWriter(r.w)
	m.access.set(r.meta.ID, r.meta.Owner, r.meta.Visibility)
	if err := m.storeMeta(ctx, r); err != nil {
		return Created{}, err
	}
	meta := r.meta
	err = r.emit(ctx, thinkstream.Event{Type: thinkstream.EventRunCreated, Run: &meta})
	if err == nil {
		err = m.cfg.Queue.Enqueue(ctx, Job{RunID: r.meta.ID, Owner: r.owner, Messages: msgs, Params: params})
	}
	if err != nil {
		// Not queued: no worker will ever write it, so end it here.
		r.finish(thinkstream.StateFailed, err, thinkstream.Result{})
		return Created{}, err
	}
	m.cfg.Metrics.Runs.WithLabelValues(string(thinkstream.StateQueued)).Inc()
	return Created{Run: r.snapshotMeta(), OwnerToken: r.owner}, nil
}

// ErrLeft is returned by Take when ctx ended before the run did: the run
// is left as it is in the log, for another worker to continue.
var ErrLeft = errors.New("runs: left the run to another worker")

// Take generates a run that another process admitted, as its single
// writer, and returns once it has ended (nil). attempt counts the times
// the run was taken, from 1. When ctx ends first (this worker stops) the
// run gets no terminal event and Take returns ErrLeft.
func (m *Manager) Take(ctx context.Context, job Job, attempt int) error {
	meta, err := m.cfg.Log.GetRun(ctx, job.RunID)
	if err != nil {
		return err
	}
	if meta.State.Terminal() {
		return nil // ended while queued (or by its last worker, just before it died)
	}
	m.cfg.Logger.Info("run taken", "run", job.RunID, "attempt", attempt)
	if meta.OwnerKey == "" && job.Owner != "" {
		meta.OwnerKey = ownerKey(job.Owner) // queued before the metadata kept the key
	}
	r := &run{
		m: m, eng: m.Engine(), created: meta.CreatedAt, ready: make(chan struct{}),
		done: make(chan struct{}), meta: meta, attempt: attempt,
		req: thinkstream.Request{RunID: job.RunID, Messages: job.Messages, Params: job.Params},
	}
	m.access.set(meta.ID, meta.Owner, meta.Visibility)
	close(r.ready)
	r.w = m.acquireWriter(job.RunID, meta.CreatedAt, 0, false)
	r.w.fold = &fold{}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.releaseWriter(r.w)
		return ErrShuttingDown
	}
	m.active[job.RunID] = r
	m.running++
	m.wg.Add(1)
	m.mu.Unlock()
	if err := r.w.sync(ctx); err != nil {
		m.release(r)
		return err
	}
	m.serve(r)
	r.w.open()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.work()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.leave()
		<-done
	}
	r.mu.Lock()
	left := r.left
	r.mu.Unlock()
	if left {
		return ErrLeft
	}
	return nil
}

// leave stops the generation without ending the run (see Take).
func (r *run) leave() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.left = true
	if r.cancel != nil {
		r.cancel(errStopped)
	}
}
