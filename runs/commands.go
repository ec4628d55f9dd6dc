package runs

import (
	"context"
	"errors"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Cancel stops a queued or running run. token must be its owner token
// unless empty tokens are allowed by the caller (pass the run's own token).
func (m *Manager) Cancel(ctx context.Context, id, token string) error {
	if _, handled, err := m.forward(ctx, id, Command{Op: OpCancel, Token: token}); handled {
		return err
	}
	return m.cancelLocal(ctx, id, token)
}

func (m *Manager) cancelLocal(ctx context.Context, id, token string) error {
	r, err := m.activeRun(ctx, id, token)
	if err != nil {
		return err
	}
	m.cancelRun(r)
	return nil
}

func (m *Manager) cancelRun(r *run) {
	m.mu.Lock()
	queued := m.removeQueued(r)
	m.mu.Unlock()
	if queued {
		go r.endQueued(thinkstream.StateCancelled)
		return
	}
	r.stop(thinkstream.StateCancelled)
}

// CancelAny cancels a run without an owner check (the server's own front
// doors, e.g. an OpenAI client that disconnected).
func (m *Manager) CancelAny(ctx context.Context, id string) error {
	if _, handled, err := m.forward(ctx, id, Command{Op: OpCancelAny}); handled {
		return err
	}
	return m.cancelAnyLocal(ctx, id)
}

func (m *Manager) cancelAnyLocal(ctx context.Context, id string) error {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r == nil {
		return m.notActive(ctx, id)
	}
	m.cancelRun(r)
	return nil
}

func (m *Manager) activeRun(ctx context.Context, id, token string) (*run, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r == nil {
		return nil, m.notActive(ctx, id)
	}
	if !r.ownedBy(token) {
		return nil, ErrForbidden
	}
	return r, nil
}

func (m *Manager) notActive(ctx context.Context, id string) error {
	if _, err := m.Get(ctx, id); err != nil {
		return err
	}
	return ErrNotActive
}

// Pause pauses a running generation when the engine supports it.
func (m *Manager) Pause(ctx context.Context, id, token string) error {
	return m.pauseResume(ctx, id, token, true)
}

// Resume resumes a paused generation.
func (m *Manager) Resume(ctx context.Context, id, token string) error {
	return m.pauseResume(ctx, id, token, false)
}

func (m *Manager) pauseResume(ctx context.Context, id, token string, pause bool) error {
	op := OpResume
	if pause {
		op = OpPause
	}
	if _, handled, err := m.forward(ctx, id, Command{Op: op, Token: token}); handled {
		return err
	}
	return m.pauseResumeLocal(ctx, id, token, pause)
}

func (m *Manager) pauseResumeLocal(ctx context.Context, id, token string, pause bool) error {
	r, err := m.activeRun(ctx, id, token)
	eng := m.Engine()
	if r != nil {
		eng = r.eng // after a SetEngine, the run's own engine
	}
	p, ok := eng.(thinkstream.Pauser)
	if !ok {
		return thinkstream.ErrUnsupported
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	ended := r.ended
	r.mu.Unlock()
	if ended { // finishing: still active for a moment, but not generating
		return ErrNotActive
	}
	typ := thinkstream.EventRunResumed
	if pause {
		err, typ = p.Pause(id), thinkstream.EventRunPaused
	} else {
		err = p.Resume(id)
	}
	if err != nil {
		return err
	}
	err = r.emit(ctx, thinkstream.Event{Type: typ})
	if errors.Is(err, errStopped) {
		return ErrNotActive
	}
	return err
}

// Annotate logs an annotation of a run's step that every viewer sees. On
// a finished run it follows the terminal event and reaches viewers through
// snapshots.
func (m *Manager) Annotate(ctx context.Context, id string, a thinkstream.Annotation) (thinkstream.Event, error) {
	if ev, handled, err := m.forward(ctx, id, Command{Op: OpAnnotate, Annotation: &a}); handled {
		if err != nil || ev == nil {
			return thinkstream.Event{}, err
		}
		return *ev, nil
	}
	return m.annotateLocal(ctx, id, a)
}

func (m *Manager) annotateLocal(ctx context.Context, id string, a thinkstream.Annotation) (thinkstream.Event, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	var created time.Time
	var finished *thinkstream.Run
	if r != nil {
		created = r.created
	} else {
		run, err := m.Get(ctx, id)
		if err != nil {
			return thinkstream.Event{}, err
		}
		created, finished = run.CreatedAt, &run
	}
	// A live run's writer when it still has one; else a new one whose seq
	// is read from the log at the first write, under its lock, once for
	// all concurrent annotators (the live writer is done by then: runs
	// drop it only after their terminal event).
	w := m.acquireWriter(id, created, 0, false)
	defer m.releaseWriter(w)
	evs := []thinkstream.Event{{Type: thinkstream.EventAnnotation, Annotation: &a}}
	var then func()
	if finished != nil {
		// A finished run's stored last_seq follows its annotations; under
		// the writer's lock, so concurrent annotators store it in order.
		then = func() {
			if err := m.updateStored(context.WithoutCancel(ctx), id, func(run *thinkstream.Run) {
				run.LastSeq = max(run.LastSeq, w.last.Load())
			}); err != nil {
				m.cfg.Logger.Error("run: store last_seq after an annotation", "run", id, "err", err)
			}
		}
	}
	if err := w.emitFunc(ctx, true, func() []thinkstream.Event { return evs }, then); err != nil {
		return thinkstream.Event{}, err
	}
	m.dropSnapshot(id)
	return evs[0], nil
}
