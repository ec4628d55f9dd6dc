package runs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

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
	fenced bool  // the next append must find the log where it was read (appendFenced)
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

// sync reads where the run's log ends, for a writer that takes over a run
// another process wrote.
func (w *writer) sync(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.synced {
		return nil
	}
	last, err := w.m.cfg.Log.LastSeq(ctx, w.id)
	if err != nil {
		return err
	}
	w.seq, w.synced, w.fenced = last, true, true
	w.last.Store(last)
	return nil
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
	return w.append(ctx, after, build, then, nil)
}

// emitTokens logs the events that model output raw made, with raw on the
// last of them (thinkstream.Record.Raw).
func (w *writer) emitTokens(ctx context.Context, raw []string, evs []thinkstream.Event) error {
	return w.append(ctx, false, func() []thinkstream.Event { return evs }, nil, raw)
}

func (w *writer) append(ctx context.Context, after bool, build func() []thinkstream.Event, then func(), raw []string) error {
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
	var recs []thinkstream.Record
	// Annotations are fenced always: on a finished run any process may
	// add them (every gateway of a cluster), and this writer cannot know
	// whether another did since its last append.
	if !w.synced || w.fenced || after {
		var err error
		if recs, err = w.appendFenced(lctx, after, evs, raw); err != nil {
			return err
		}
		w.synced, w.fenced = true, false
		w.seq = recs[0].Seq - 1
	} else {
		var err error
		if recs, err = w.number(evs, raw); err != nil {
			return err
		}
		if err := w.appendRetrying(lctx, recs); err != nil {
			// Part of the batch may be stored: learn where the log really
			// ends before numbering anything else, or the next batch would
			// reuse a stored seq and be deduplicated away.
			w.synced = false
			return err
		}
	}
	terminal := false
	for _, r := range recs {
		terminal = terminal || thinkstream.IsTerminal(r.Type)
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

// number gives evs the seqs after w.seq and the time since the run was
// created, and encodes them, raw on the last.
func (w *writer) number(evs []thinkstream.Event, raw []string) ([]thinkstream.Record, error) {
	recs := make([]thinkstream.Record, len(evs))
	t := time.Since(w.created).Milliseconds()
	for i := range evs {
		evs[i].Seq = w.seq + int64(i) + 1
		evs[i].T = t
		data, err := json.Marshal(evs[i])
		if err != nil {
			return nil, fmt.Errorf("runs: encode event: %w", err)
		}
		recs[i] = thinkstream.Record{Seq: evs[i].Seq, Type: evs[i].Type, T: t, Data: data}
	}
	recs[len(recs)-1].Raw = raw
	return recs, nil
}

// fenceTries bounds appendFenced's rounds.
const fenceTries = 8

// appendFenced appends evs right after the event that ends the run's log
// now, as read from the log, for a writer that does not know it yet or
// took the run over: annotations of a finished run (any gateway of a
// cluster may add them), a worker's first events, recovery. When another
// process appended between the read and the write, the log refuses the
// batch (thinkstream.ErrLogConflict) and it is numbered anew after what that
// process logged — unless that was a terminal event and evs are not
// annotations: then the run has ended and nothing else may follow.
func (w *writer) appendFenced(ctx context.Context, after bool, evs []thinkstream.Event, raw []string) ([]thinkstream.Record, error) {
	var sent []thinkstream.Record // the last round's batch: it may be stored, in part
	var err error
	for try := range fenceTries {
		if try > 0 && !errors.Is(err, thinkstream.ErrLogConflict) {
			if errors.Is(err, nats.ErrConnectionClosed) || !sleepCtx(ctx, time.Duration(try)*100*time.Millisecond) {
				break
			}
		}
		tail, fence, terr := w.m.cfg.Log.Tail(ctx, w.id)
		if terr != nil {
			err = terr
			continue
		}
		w.last.Store(max(w.last.Load(), tail.Seq))
		if k := storedPart(sent, tail); k > 0 {
			// The last round's batch is logged up to its k-th record (the
			// refusal or the error was about a try of our own): send the
			// rest.
			if k == len(sent) {
				return sent, nil
			}
			if err = w.m.cfg.Log.AppendAfter(ctx, w.id, fence, sent[k:]); err == nil {
				return sent, nil
			}
			continue
		}
		if thinkstream.IsTerminal(tail.Type) && !after {
			w.seq, w.synced, w.ended = tail.Seq, true, true
			return nil, errStopped
		}
		w.seq = tail.Seq
		if sent, err = w.number(evs, raw); err != nil {
			return nil, err
		}
		if err = w.m.cfg.Log.AppendAfter(ctx, w.id, fence, sent); err == nil {
			return sent, nil
		}
		if !errors.Is(err, thinkstream.ErrLogConflict) {
			w.m.cfg.Logger.Warn("run: log append failed; sending again", "run", w.id, "try", try+1, "err", err)
		}
	}
	return nil, err
}

// storedPart says how much of batch the log holds when tail is the run's
// last logged event: the records up to tail's, if tail is one of them.
func storedPart(batch []thinkstream.Record, tail thinkstream.Record) int {
	if len(batch) == 0 {
		return 0
	}
	i := tail.Seq - batch[0].Seq
	if i < 0 || i >= int64(len(batch)) || !bytes.Equal(batch[i].Data, tail.Data) {
		return 0
	}
	return int(i) + 1
}

// sleepCtx waits d and reports true, or false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// appendTries bounds how often a batch is sent again when the log failed
// to acknowledge it (a NATS node of a cluster went away and its streams
// elect new leaders: seconds).
const appendTries = 8

// appendTryTimeout bounds one try's wait for its acks.
const appendTryTimeout = 3 * time.Second

// appendRetrying appends recs, sending the whole batch again after a
// failure: the log deduplicates by run and seq, so what was stored already
// is not stored twice, and a run outlives a NATS node's loss instead of
// failing on it.
func (w *writer) appendRetrying(ctx context.Context, recs []thinkstream.Record) error {
	tries := appendTries
	if w.m.cfg.Remote == nil {
		// One process on its own log: no node to lose, and one wait for
		// the acks as before.
		return w.m.cfg.Log.Append(ctx, w.id, recs)
	}
	try1 := func() error {
		// Acks of publishes in flight when the connection moved to
		// another node never come: wait for them a few seconds, not the
		// whole append timeout, and send again.
		tctx, cancel := context.WithTimeout(ctx, appendTryTimeout)
		defer cancel()
		return w.m.cfg.Log.Append(tctx, w.id, recs)
	}
	err := try1()
	for try := 1; err != nil && try < tries; try++ {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return err
		}
		w.m.cfg.Logger.Warn("run: log append failed; sending again", "run", w.id, "try", try, "err", err)
		if !sleepCtx(ctx, time.Duration(try)*250*time.Millisecond) {
			return err
		}
		err = try1()
	}
	return err
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
