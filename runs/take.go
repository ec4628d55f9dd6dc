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
	r.meta.OwnerKey, r.meta.InWorkQueue = ownerKey(r.owner), true
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
	// The claim: from here on the gateway no longer ends the run itself
	// when it is cancelled, it sends the cancel here (cancelUntaken).
	meta, err := m.cfg.Log.UpdateRun(ctx, job.RunID, func(run *thinkstream.Run) error {
		if run.State.Terminal() {
			return errEnded
		}
		run.Taken = true
		if run.OwnerKey == "" && job.Owner != "" {
			run.OwnerKey = ownerKey(job.Owner) // queued before the metadata kept the key
		}
		return nil
	})
	if errors.Is(err, errEnded) {
		// Ended while queued, or by its last worker just before it died.
		m.logEnd(ctx, meta)
		return nil
	}
	if err != nil {
		return err
	}
	m.cfg.Logger.Info("run taken", "run", job.RunID, "attempt", attempt)
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

var (
	errEnded = errors.New("runs: the run has ended")
	errTaken = errors.New("runs: a worker took the run")
)

// untakenWait bounds how long a cancel waits for the worker that has just
// taken a queued run to answer for it (it does once it has read the run's
// log: milliseconds).
const untakenWait = 5 * time.Second

// cancelUntaken cancels a run that waits in a cluster's work queue. No
// process writes it yet, so the gateway ends it itself if its
// compare-and-set on the run's metadata comes before the claim of the
// worker taking it (Take); if the worker's came first, the command goes
// to that worker as soon as it answers for the run.
func (m *Manager) cancelUntaken(ctx context.Context, id string, cmd Command) error {
	deadline := time.Now().Add(untakenWait)
	for {
		meta, err := m.cfg.Log.UpdateRun(ctx, id, func(run *thinkstream.Run) error {
			if run.State != thinkstream.StateQueued || run.Taken {
				return errTaken
			}
			if cmd.Op != OpCancelAny && !ownsKey(run.OwnerKey, cmd.Token) {
				return ErrForbidden
			}
			run.State = thinkstream.StateCancelled
			return nil
		})
		if err == nil {
			m.logEnd(ctx, meta)
			return nil
		}
		if !errors.Is(err, errTaken) {
			return err
		}
		if meta.State.Terminal() {
			return ErrNotActive
		}
		rep, err := m.cfg.Remote.Send(ctx, id, cmd)
		if err == nil {
			return rep.err()
		}
		if !errors.Is(err, ErrNoWriter) {
			return fmt.Errorf("runs: send %s for %s: %w", cmd.Op, id, err)
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 20*time.Millisecond) {
			return ErrNotActive // taken by a worker that went away: its recovery ends or resumes it
		}
	}
}

// logEnd logs the terminal event of a run cancelled while no process
// wrote it, unless the log has it already: the process that cancelled it
// may have died in between, or is logging it now. The writer is fenced
// (appendFenced): where it finds a terminal event at the log's end it
// appends nothing and finish leaves the run as the other process stored it.
func (m *Manager) logEnd(ctx context.Context, meta thinkstream.Run) {
	if meta.State != thinkstream.StateCancelled {
		return
	}
	r := &run{m: m, meta: meta, created: meta.CreatedAt}
	r.w = m.acquireWriter(meta.ID, meta.CreatedAt, 0, false)
	defer m.releaseWriter(r.w)
	r.finish(thinkstream.StateCancelled, nil, thinkstream.Result{})
	m.dropSnapshot(meta.ID)
}
