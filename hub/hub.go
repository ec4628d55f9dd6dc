// Package hub fans a run's events out to the viewers on this node.
//
// Each active run is a topic holding a window of recent frames: an event's
// seq, type, time and JSON, plus its bytes on the wire, made once by the
// transport's Encoder so that every viewer writes the same bytes. A viewer is a
// cursor into that window: it takes every frame after its cursor in one
// batch, so a viewer that fell behind catches up with one write, and one that
// fell out of the window reads the missing part from the durable log and then
// rejoins live. Publishing never waits for a viewer: the window is trimmed
// whatever the viewers do, so a stalled viewer costs the run nothing and
// holds at most one window of shared frames.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Log is the part of the event log the hub reads from.
type Log interface {
	Read(ctx context.Context, runID string, after, until int64, fn func(thinkstream.Record) error) error
	LastSeq(ctx context.Context, runID string) (int64, error)
}

// Frame is one event ready to send.
type Frame struct {
	Seq  int64
	Type string
	T    int64  // the event's time, ms since the run was created
	Data []byte // the event's JSON
	// Wire is the event as the transport writes it (Config.Encode), made
	// once per event rather than once per viewer. The hub never looks
	// inside: the direct fan-out writes it to parked viewers as it is.
	Wire []byte
	// Created is when the frame was published (zero for frames read from
	// the log), for delivery-lag measurement.
	Created time.Time
}

// An Encoder turns an event into its bytes on the wire. seq 0 marks a
// frame that is not part of the run's log (the viewer count): it must not
// carry an id that a client would resume from.
type Encoder func(seq int64, typ string, data []byte) ([]byte, error)

// Config configures a Hub.
type Config struct {
	// Encode frames events for the transport (required for viewers that
	// park on the direct fan-out; default: the JSON itself).
	Encode Encoder
	// Window is how many recent frames a topic keeps in memory at least
	// (default 4096; up to a quarter more between trims).
	Window int
	// Linger keeps a finished run's topic this long for late viewers
	// (default 30s).
	Linger time.Duration
	// ViewersEvery limits how often viewer-count frames are sent (default 500ms).
	ViewersEvery time.Duration
	// Follower, when set, feeds topics of runs that another process
	// generates: a viewer of a run that no producer here publishes gets
	// it live from the log (nil: such viewers read the log and stop at
	// its end, as on a single node where nobody else writes).
	Follower Follower
	// Tick wakes a topic's viewers this often so that quiet streams can
	// send heartbeats (default 5s; keep it under a third of the heartbeat).
	Tick time.Duration
	// PaceAfter: a fan-out round over parked viewers that took longer than
	// this is followed by a pause half as long (default 2ms;
	// negative: never pause). See fanout.
	PaceAfter time.Duration
	Metrics   *Metrics
	Logger    *slog.Logger
}

// Hub is the set of topics of this node.
type Hub struct {
	cfg Config
	log Log

	mu     sync.Mutex
	topics map[string]*topic
}

// New returns a hub reading catch-ups from log.
func New(log Log, cfg Config) *Hub {
	if cfg.Window <= 0 {
		cfg.Window = 4096
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 30 * time.Second
	}
	if cfg.ViewersEvery <= 0 {
		cfg.ViewersEvery = 500 * time.Millisecond
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.PaceAfter == 0 {
		cfg.PaceAfter = 2 * time.Millisecond
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Encode == nil {
		cfg.Encode = func(_ int64, _ string, data []byte) ([]byte, error) { return data, nil }
	}
	return &Hub{cfg: cfg, log: log, topics: make(map[string]*topic)}
}

type topic struct {
	id string
	// cur is what viewers read, without taking mu: thousands of viewers
	// woken by one publish would otherwise all queue on the same mutex.
	// Writers (holding mu) replace it and close the old one's notify.
	cur atomic.Pointer[view]

	mu      sync.Mutex
	live    bool    // a producer is publishing
	opened  bool    // Open or Publish set last: later publishes must continue it
	frames  []Frame // frames[i].Seq == base+i
	base    int64
	last    int64 // last published seq
	ended   bool  // the terminal event was published
	notify  chan struct{}
	viewers int
	// viewer-count frames are throttled: the count is published as a
	// frame at most every ViewersEvery.
	viewersFrame *Frame
	viewersVer   int
	viewersTimer *time.Timer
	lingerTimer  *time.Timer
	// tick wakes the viewers now and then, so each can tell whether its
	// stream has been quiet long enough for a heartbeat: one timer per
	// topic instead of one per viewer.
	tick    *time.Timer
	ticks   int64
	dropped bool
	// follow is the log follower feeding the topic when no producer on
	// this node does (follow.go); nil otherwise.
	follow *following
	// parked viewers served by the fan-out goroutine (direct.go)
	direct  []*direct
	fanning bool
	kick    chan struct{}
}

// view is an immutable snapshot of a topic for its viewers. frames shares
// its backing array with the topic: publishers only append beyond len, so
// a reader never sees a slot change.
type view struct {
	frames       []Frame
	base, last   int64
	live         bool
	ticks        int64         // how often the topic's tick has fired
	notify       chan struct{} // closed when a newer view exists
	viewersFrame *Frame
	viewersVer   int
}

// update publishes the topic's current state to viewers and wakes them.
// t.mu must be held.
func (t *topic) update() {
	old := t.cur.Load()
	t.notify = make(chan struct{})
	t.cur.Store(&view{
		frames: t.frames, base: t.base, last: t.last, live: t.live, notify: t.notify, ticks: t.ticks,
		viewersFrame: t.viewersFrame, viewersVer: t.viewersVer,
	})
	if old != nil {
		close(old.notify)
	}
}

// encode fills in frames' wire bytes where the producer left them empty.
func (h *Hub) encode(frames []Frame) error {
	for i := range frames {
		f := &frames[i]
		if f.Wire != nil {
			continue
		}
		b, err := h.cfg.Encode(f.Seq, f.Type, f.Data)
		if err != nil {
			return fmt.Errorf("hub: encode seq %d: %w", f.Seq, err)
		}
		f.Wire = b
	}
	return nil
}

// Open makes a run live on this node: its producer will Publish to it.
// lastSeq is the highest seq already logged (and so visible) for the run.
func (h *Hub) Open(runID string, lastSeq int64) {
	t := h.topic(runID, true)
	t.mu.Lock()
	t.live = true
	t.opened = true
	if t.lingerTimer != nil {
		t.lingerTimer.Stop()
		t.lingerTimer = nil
	}
	if t.follow != nil {
		// A follower's frames are the same logged events, but it may lag
		// behind the log: start the window where the producer is.
		t.stopFollowing()
		if t.last != lastSeq {
			t.frames = nil
		}
	}
	if len(t.frames) == 0 {
		t.base = lastSeq + 1
		t.last = lastSeq
	}
	t.update()
	t.mu.Unlock()
}

// topic returns the run's topic, creating it when create is set.
func (h *Hub) topic(runID string, create bool) *topic {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[runID]
	if t == nil && create {
		t = &topic{id: runID, kick: make(chan struct{}, 1)}
		t.mu.Lock()
		t.update()
		t.mu.Unlock()
		h.topics[runID] = t
		h.scheduleTick(t)
	}
	return t
}

// ErrOutOfOrder is returned by Publish for frames that do not continue the
// topic's seqs: the window is indexed by seq, so such frames would make every
// viewer read the wrong frames.
var ErrOutOfOrder = errors.New("hub: out-of-order publish")

// Publish appends frames (already acknowledged by the log, in order, with
// consecutive seqs) to a live topic and wakes its viewers. Frames that do
// not continue the topic's last seq are refused whole with ErrOutOfOrder,
// leaving the topic as it was. A topic that was neither opened nor published
// to (e.g. a finished run's annotation after its topic was dropped) starts
// at the first frame given.
func (h *Hub) Publish(runID string, frames []Frame) error {
	if len(frames) == 0 {
		return nil
	}
	if err := h.encode(frames); err != nil {
		return err
	}
	return h.publish(h.topic(runID, true), frames, nil)
}

// publish appends encoded frames to t. by is the follower that read them
// from the log, nil for this node's own producer, which takes a followed
// topic over: both hand on the same logged events, and the producer is
// the one that has them first.
func (h *Hub) publish(t *topic, frames []Frame, by *following) error {
	now := time.Now()
	t.mu.Lock()
	switch {
	case by == nil && t.follow != nil:
		t.stopFollowing()
	case by != nil && t.follow != by:
		t.mu.Unlock()
		return errNotFollowing
	case by != nil:
		if frames = t.fresh(frames); len(frames) == 0 {
			t.mu.Unlock()
			return nil
		}
	}
	next := t.last + 1
	if !t.opened && len(t.frames) == 0 {
		next = frames[0].Seq
	}
	for i := range frames {
		if frames[i].Seq != next+int64(i) {
			t.mu.Unlock()
			return fmt.Errorf("%w: run %s: seq %d, want %d", ErrOutOfOrder, t.id, frames[i].Seq, next+int64(i))
		}
	}
	t.opened = true
	for i := range frames {
		frames[i].Created = now
		t.last = frames[i].Seq
		if thinkstream.IsTerminal(frames[i].Type) {
			t.ended = true
		}
	}
	if len(t.frames) == 0 {
		t.base = frames[0].Seq
	}
	t.frames = append(t.frames, frames...)
	// Trim only once a quarter of a window has piled up: trimming at every
	// frame past Window copied the whole window on every publish (a
	// 12k-event run spent 2.9 of its 3.3 CPU seconds in that copy).
	if over := len(t.frames) - h.cfg.Window; over > 0 && over >= max(h.cfg.Window/4, 1) {
		// Copy rather than reslice so the old backing array can be freed
		// once no stalled viewer holds it.
		kept := make([]Frame, h.cfg.Window, h.cfg.Window+h.cfg.Window/4+len(frames))
		copy(kept, t.frames[over:])
		t.frames = kept
		t.base += int64(over)
	}
	if t.ended {
		t.live = false
		if t.follow != nil {
			t.stopFollowing()
		}
	}
	t.update()
	ended := t.ended
	t.mu.Unlock()
	h.cfg.Metrics.Published.Add(float64(len(frames)))
	if ended {
		h.finish(t)
	}
	return nil
}

// finish marks a topic as no longer produced and drops it after Linger.
func (h *Hub) finish(t *topic) {
	t.mu.Lock()
	if t.live {
		t.live = false
		t.update()
	}
	if t.lingerTimer == nil {
		t.lingerTimer = time.AfterFunc(h.cfg.Linger, func() { h.drop(t) })
	}
	t.mu.Unlock()
}

// Close ends a live topic without a terminal event (its producer stopped,
// e.g. at shutdown); viewers then follow the log.
func (h *Hub) Close(runID string) {
	if t := h.topic(runID, false); t != nil {
		h.finish(t)
	}
}

// scheduleTick starts a topic's tick. t.tick is set under t.mu, which the
// callback takes first, so a tick that fires at once still finds its timer.
func (h *Hub) scheduleTick(t *topic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tick = time.AfterFunc(h.cfg.Tick, func() { h.onTick(t) })
}

func (h *Hub) onTick(t *topic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped {
		return
	}
	t.ticks++
	t.update()
	t.tick.Reset(h.cfg.Tick)
}

func (h *Hub) drop(t *topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live || t.viewers > 0 {
		t.lingerTimer = nil
		return
	}
	if h.topics[t.id] == t {
		delete(h.topics, t.id)
	}
	t.dropped = true
	if t.tick != nil {
		t.tick.Stop()
	}
}

// Viewers returns how many viewers watch a run on this node.
func (h *Hub) Viewers(runID string) int {
	t := h.topic(runID, false)
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.viewers
}

// addViewer changes a topic's viewer count and schedules a count frame.
func (h *Hub) addViewer(t *topic, delta int) {
	t.mu.Lock()
	t.viewers += delta
	if t.viewers == 0 && t.follow != nil {
		// Nobody here watches: a follower would only cost the log a
		// consumer. The next viewer starts a new one.
		t.stopFollowing()
		t.live = false
		t.update()
	}
	if t.viewersTimer == nil {
		t.viewersTimer = time.AfterFunc(h.cfg.ViewersEvery, func() { h.announceViewers(t) })
	}
	idle := !t.live && t.viewers == 0 && t.lingerTimer == nil
	t.mu.Unlock()
	h.cfg.Metrics.Viewers.Add(float64(delta))
	if idle {
		h.finish(t)
	}
}

func (h *Hub) announceViewers(t *topic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.viewersTimer = nil
	data, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Viewers int    `json:"viewers"`
	}{thinkstream.EventViewers, t.viewers})
	f := []Frame{{Type: thinkstream.EventViewers, Data: data}}
	if err := h.encode(f); err != nil {
		h.cfg.Logger.Error("hub: viewer count not sent", "run", t.id, "err", err)
		return
	}
	t.viewersFrame = &f[0]
	t.viewersVer++
	t.update()
}

// Metrics returns the hub's collectors, for the writers that deliver frames.
func (h *Hub) Metrics() *Metrics { return h.cfg.Metrics }
