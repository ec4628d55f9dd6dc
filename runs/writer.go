package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
)

// writer is the only producer of a run's events: it numbers them, appends
// them to the log and hands them to the hub, one batch at a time. Everything
// that adds to a run (tokens, stats, queue positions, pause, annotations on
// live and finished runs, crash recovery) goes through the run's writer, so
// two producers can never pick the same seq — the log would deduplicate the
// second one away, since the message id is runID:seq.
//
// Its lock is held across the append on purpose (it is what orders a run's
// events); nothing that serves readers takes it: they read last and the
// snapshot fold, which have locks of their own.
type writer struct {
	m       *Manager
	id      string
	created time.Time
	refs    int // users of this writer, guarded by m.wmu

	mu     sync.Mutex
	seq    int64 // last seq logged; valid once synced
	synced bool  // false: seq must be (re)read from the log first
	live   bool  // the hub topic is open and fed by this writer
	ended  bool  // the terminal event is logged
	gone   bool  // the run was deleted: nothing may be appended

	last atomic.Int64 // seq, for readers that must not wait on an append
	fold *fold        // incremental snapshot, nil for writers of finished runs
}

// acquireWriter returns the run's writer, creating one when the run has
// none (a finished run being annotated, a crashed run being recovered).
// created is the run's creation time, from which every event's t counts.
// Callers must releaseWriter it.
func (m *Manager) acquireWriter(id string, created time.Time, seq int64, synced bool) *writer {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	w := m.writers[id]
	if w == nil {
		w = &writer{m: m, id: id, created: created, seq: seq, synced: synced}
		w.last.Store(seq)
		m.writers[id] = w
	}
	w.refs++
	return w
}

func (m *Manager) releaseWriter(w *writer) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	w.refs--
	if w.refs == 0 && m.writers[w.id] == w {
		delete(m.writers, w.id)
	}
}

// open makes the run live on the hub; events appended from now on are
// published.
func (w *writer) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.live && !w.ended {
		w.m.cfg.Hub.Open(w.id, w.seq)
		w.live = true
	}
}

// close ends the hub topic if it is still live, so viewers stop waiting for
// events that will not come. It is safe to call on every path.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.live {
		w.live = false
		w.m.cfg.Hub.Close(w.id)
	}
}

// emit logs evs as the next events of the run.
func (w *writer) emit(ctx context.Context, evs ...thinkstream.Event) error {
	return w.emitFunc(ctx, false, func() []thinkstream.Event { return evs }, nil)
}

// emitFunc logs the events build returns; build runs under the writer's
// lock, so what it decides (e.g. a queue position) is what lands next in
// the run's order. After the terminal event only annotations (after is
// true) may follow. then, when set, runs once the log has the events and
// before anyone is shown them, so state that readers see beside the events
// (the run's metadata) is never behind what they saw.
func (w *writer) emitFunc(ctx context.Context, after bool, build func() []thinkstream.Event, then func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone {
		return ErrNotFound
	}
	if w.ended && !after {
		return errStopped
	}
	evs := build()
	if len(evs) == 0 {
		return nil
	}
	// The log write must not be abandoned half way because a client went
	// away: whoever asked, the run's log stays consistent.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if !w.synced {
		last, err := w.m.cfg.Log.LastSeq(lctx, w.id)
		if err != nil {
			return err
		}
		w.seq, w.synced = last, true
		w.last.Store(last)
	}
	recs := make([]thinkstream.Record, len(evs))
	t := time.Since(w.created).Milliseconds()
	terminal := false
	for i := range evs {
		evs[i].Seq = w.seq + int64(i) + 1
		evs[i].T = t
		data, err := json.Marshal(evs[i])
		if err != nil {
			return fmt.Errorf("runs: encode event: %w", err)
		}
		recs[i] = thinkstream.Record{Seq: evs[i].Seq, Type: evs[i].Type, T: t, Data: data}
		terminal = terminal || thinkstream.IsTerminal(evs[i].Type)
	}
	if err := w.m.cfg.Log.Append(lctx, w.id, recs); err != nil {
		// Part of the batch may be stored: learn where the log really
		// ends before numbering anything else, or the next batch would
		// reuse a stored seq and be deduplicated away.
		w.synced = false
		return err
	}
	w.seq += int64(len(evs))
	w.last.Store(w.seq)
	if w.fold != nil {
		w.fold.add(evs, recs)
	}
	if terminal {
		w.ended = true
	}
	if then != nil {
		then()
	}
	if w.live {
		w.publish(recs)
		if terminal {
			w.live = false // the hub ends the topic on the terminal frame
		}
	}
	return nil
}

func (w *writer) publish(recs []thinkstream.Record) {
	frames := make([]hub.Frame, 0, len(recs))
	for _, r := range recs {
		frames = append(frames, hub.Frame{Seq: r.Seq, Type: r.Type, T: r.T, Data: r.Data})
	}
	if err := w.m.cfg.Hub.Publish(w.id, frames); err != nil {
		// Out of order (the single writer numbers densely, so a bug) or
		// not encodable: the window is left as it was, and rather than
		// wait for a seq that never comes live, viewers read the rest
		// from the log.
		w.m.cfg.Logger.Error("run: publish to hub", "run", w.id, "err", err)
		w.live = false
		w.m.cfg.Hub.Close(w.id)
	}
}
