package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DirectWriter writes to a viewer's connection without blocking.
type DirectWriter interface {
	// TryWrite writes as much of b as the connection takes now. n < len(b)
	// with a nil error means its send buffer is full.
	TryWrite(b []byte) (n int, err error)
}

// direct is a parked viewer: while parked, the topic's fan-out goroutine
// writes new frames straight to its connection, so that an event costs one
// write per viewer and no goroutine wake-up per viewer.
type direct struct {
	sub  *Subscription
	w    DirectWriter
	wake chan struct{} // closed when the viewer is handed back
	done atomic.Bool   // handed back or abandoned: drop from the list

	mu      sync.Mutex // held while writing; guards sub's cursor and below
	pending []byte     // the unwritten tail of a frame, owed by the owner
	err     error
}

// Park hands a caught-up viewer's delivery to the topic's fan-out goroutine
// and returns when the viewer's own goroutine is needed again: its socket
// filled up (pending holds the bytes still owed), a write failed (err), a
// heartbeat or viewer count is due, the viewer fell behind, or the run
// ended. Next then picks up from the advanced cursor. A viewer that is not
// caught up returns at once. Parked viewers get live frames uncoalesced
// (coalescing only ever merges a backlog), but all the frames published
// since their last write in one write: when the fan-out falls behind, each
// round carries more events per write, so its cost per event falls as the
// load rises and latency stays near one round instead of growing.
func (s *Subscription) Park(ctx context.Context, w DirectWriter) (pending []byte, err error) {
	if !s.parkable(s.t.cur.Load()) {
		return nil, nil
	}
	d := &direct{sub: s, w: w, wake: make(chan struct{})}
	t := s.t
	t.mu.Lock()
	t.direct = append(t.direct, d)
	if !t.fanning {
		t.fanning = true
		go s.h.fanout(t)
	}
	t.mu.Unlock()
	// A publish may have come between the check and the registration:
	// kick the fan-out so it looks at this viewer now, not at the next one.
	select {
	case t.kick <- struct{}{}:
	default:
	}
	select {
	case <-d.wake:
		return d.pending, d.err
	case <-ctx.Done():
		d.mu.Lock()
		d.done.Store(true)
		d.mu.Unlock()
		// Wake the fan-out so that it lets go of this viewer, and ends
		// if it was the last: no publish may ever come to wake it.
		select {
		case t.kick <- struct{}{}:
		default:
		}
		return nil, ctx.Err()
	}
}

// parkable reports whether the fan-out can serve this viewer from v.
func (s *Subscription) parkable(v *view) bool {
	return !s.ended && v.live && s.next == v.last+1 && len(v.frames) > 0 &&
		(v.viewersFrame == nil || v.viewersVer == s.vver) &&
		(s.idleTicks == 0 || v.ticks-s.lastTick < s.idleTicks)
}

// fanout serves a topic's parked viewers until none is left.
//
// A round costs about one write(2) per viewer whatever it carries, so with
// thousands of viewers and a round per event the fan-out alone would take
// a core (5,000 viewers at 20 events/s: 100,000 writes a second, measured
// at 94% of a core). So a round that took longer than PaceAfter is followed
// by a pause half as long: the fan-out then uses at most about two thirds of
// a core (measured: 54-62%), leaving the rest to the producer, the log and
// the viewers' own goroutines; each write carries every event of the pause,
// and an event waits at most about one and a half rounds. (A pause as long
// as the round took 44% of a core but lengthened p99; docs/benchmarks.md.)
// Small audiences (rounds under PaceAfter) get no pause at all.
func (h *Hub) fanout(t *topic) {
	var batch []*direct // this goroutine's copy of the list, reused
	var joined joinCache
	var pause *time.Timer
	for {
		v := t.cur.Load()
		start := time.Now()
		t.mu.Lock()
		list := t.direct[:0]
		for _, d := range t.direct {
			if !d.done.Load() {
				list = append(list, d)
			}
		}
		clear(t.direct[len(list):])
		t.direct = list
		if len(list) == 0 {
			t.fanning = false
			t.mu.Unlock()
			return
		}
		batch = append(batch[:0], list...)
		t.mu.Unlock()
		delivered, left := 0, 0
		joined.reset()
		for _, d := range batch {
			delivered += h.serveDirect(v, d, &joined)
			if !d.done.Load() {
				left++
			}
		}
		if delivered > 0 {
			h.cfg.Metrics.Delivered.Add(float64(delivered))
			if k := len(v.frames); k > 0 && !v.frames[k-1].Created.IsZero() {
				h.cfg.Metrics.Lag.Observe(time.Since(v.frames[k-1].Created).Seconds())
			}
		}
		if left == 0 {
			continue // all handed back (e.g. the run ended): prune and end
		}
		if d := time.Since(start); delivered > 0 && h.cfg.PaceAfter > 0 && d > h.cfg.PaceAfter {
			p := d / 2
			if pause == nil {
				pause = time.NewTimer(p)
			} else {
				pause.Reset(p)
			}
			<-pause.C
			h.cfg.Metrics.Paused.Add(p.Seconds())
		}
		select {
		case <-v.notify:
		case <-t.kick:
		}
	}
}

// serveDirect writes what a parked viewer has not seen of v, then hands
// the viewer back if something needs its own goroutine. It returns how many
// frames it delivered.
func (h *Hub) serveDirect(v *view, d *direct, joined *joinCache) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done.Load() {
		return 0
	}
	s := d.sub
	if s.next < v.base {
		h.handBack(d) // fell out of the window: the log has the rest
		return 0
	}
	n := 0
	if s.next <= v.last {
		frames := v.frames[s.next-v.base:]
		b := joined.wire(s.next, frames)
		w, err := d.w.TryWrite(b)
		switch {
		case err != nil:
			// Nothing counts as delivered: the stream is over anyway.
			d.err = err
			h.handBack(d)
			return 0
		case w < len(b):
			// The viewer's own goroutine owes the rest (blocking, under
			// the write timeout); the cursor moves past all of it.
			d.pending = b[w:]
			s.advance(frames)
			h.handBack(d)
			return len(frames)
		}
		s.advance(frames)
		n = len(frames)
	}
	if !s.parkable(v) {
		h.handBack(d) // ended, heartbeat or viewer count due
	}
	return n
}

// handBack returns a parked viewer to its goroutine; d.mu is held.
func (h *Hub) handBack(d *direct) {
	if d.done.CompareAndSwap(false, true) {
		close(d.wake)
	}
}

// joinCache holds, for one fan-out round, the wire bytes of the frames from one
// seq to the view's last joined into one buffer: parked viewers are nearly
// all at the same cursor, so the frames are copied once per round, not once
// per viewer. A buffer is never reused, since a viewer whose socket filled
// keeps its unwritten tail.
type joinCache struct {
	from int64 // the joined buffer starts at this seq
	buf  []byte
}

func (c *joinCache) reset() { *c = joinCache{} }

// wire returns the wire bytes of frames (which start at seq from and end
// at the round's view's last) as one buffer.
func (c *joinCache) wire(from int64, frames []Frame) []byte {
	if len(frames) == 1 {
		return frames[0].Wire
	}
	if c.buf != nil && c.from == from {
		return c.buf
	}
	n := 0
	for _, f := range frames {
		n += len(f.Wire)
	}
	b := make([]byte, 0, n)
	for _, f := range frames {
		b = append(b, f.Wire...)
	}
	c.from, c.buf = from, b
	return b
}
