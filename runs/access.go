package runs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/thinkstream/thinkstream"
)

// access is who may list a run: its owner and visibility.
type access struct {
	owner string
	vis   thinkstream.Visibility
}

// accessIndex remembers each run's access (tens of bytes a run), filled as
// runs are created, recovered, listed and changed.
type accessIndex struct {
	mu sync.Mutex
	m  map[string]access
}

func (x *accessIndex) set(id, owner string, v thinkstream.Visibility) {
	x.mu.Lock()
	x.m[id] = access{owner, v.Effective()}
	x.mu.Unlock()
}

func (x *accessIndex) get(id string) (access, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.m[id]
	return a, ok
}

func (x *accessIndex) forget(id string) {
	x.mu.Lock()
	delete(x.m, id)
	x.mu.Unlock()
}

// storeMeta stores an active run's newest metadata. Under putMu, so that
// of two racing stores the later one holds both changes.
func (m *Manager) storeMeta(ctx context.Context, r *run) error {
	m.putMu.Lock()
	defer m.putMu.Unlock()
	r.mu.Lock()
	meta := r.meta
	gone := r.deleted
	r.mu.Unlock()
	if gone {
		return nil // Delete forgot it: storing would bring it back
	}
	return m.cfg.Log.PutRun(ctx, meta)
}

// updateStored changes a finished run's stored metadata (read anew and
// written by compare-and-set, so concurrent updates, from this process or
// another gateway of a cluster, do not undo each other). A run that is
// gone stays gone.
func (m *Manager) updateStored(ctx context.Context, id string, change func(*thinkstream.Run)) error {
	m.putMu.Lock()
	defer m.putMu.Unlock()
	run, err := m.cfg.Log.UpdateRun(ctx, id, func(run *thinkstream.Run) error {
		change(run)
		return nil
	})
	if errors.Is(err, thinkstream.ErrRunNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	m.access.set(id, run.Owner, run.Visibility)
	return nil
}

// SetVisibility changes who may read a run, durably, and returns the run.
// The caller has checked that the asker owns it.
func (m *Manager) SetVisibility(ctx context.Context, id string, v thinkstream.Visibility) (thinkstream.Run, error) {
	v = v.Effective()
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		r.meta.Visibility = v
		owner := r.meta.Owner
		r.mu.Unlock()
		m.access.set(id, owner, v)
		if err := m.storeMeta(ctx, r); err != nil {
			return thinkstream.Run{}, err
		}
		// Ended meanwhile: its last store may have read the metadata
		// before the change; store it (finished) once more.
		if !m.isActive(r) {
			if err := m.updateStored(ctx, id, func(run *thinkstream.Run) { run.Visibility = v }); err != nil {
				return thinkstream.Run{}, err
			}
		}
		return m.Get(ctx, id)
	}
	if err := m.updateStored(ctx, id, func(run *thinkstream.Run) { run.Visibility = v }); err != nil {
		return thinkstream.Run{}, err
	}
	return m.Get(ctx, id)
}

func (m *Manager) isActive(r *run) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active[r.meta.ID] == r
}

// Delete forgets a run: a queued or running one is cancelled first (its
// viewers get run.cancelled and their streams end), then its events and
// metadata are removed from the log, so it is gone after a restart too.
// The caller has checked that the asker may delete it.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if _, err := m.Get(ctx, id); err != nil {
		return err
	}
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r != nil {
		if err := m.CancelAny(ctx, id); err != nil && !errors.Is(err, ErrNotActive) {
			return err
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("runs: delete %s: waiting for it to end: %w", id, ctx.Err())
		}
	}
	// Under the run's writer (no annotation appends meanwhile) and putMu
	// (no metadata store brings it back).
	w := m.acquireWriter(id, time.Time{}, 0, false)
	defer m.releaseWriter(w)
	w.mu.Lock()
	defer w.mu.Unlock()
	m.putMu.Lock()
	defer m.putMu.Unlock()
	if r != nil {
		r.mu.Lock()
		r.deleted = true
		r.mu.Unlock()
	}
	if err := m.cfg.Log.DeleteRun(ctx, id); err != nil {
		return err
	}
	w.gone = true
	m.dropSnapshot(id)
	m.access.forget(id)
	return nil
}
