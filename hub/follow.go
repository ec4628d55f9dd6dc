package hub

import (
	"context"
	"errors"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Follower tails the log of a run that another process generates (see
// eventlog.Log.Follow): fn gets the run's last logged event and then every
// later one, in order; it returns nil once the terminal event was passed
// on or when the run was over before it started.
type Follower interface {
	Follow(ctx context.Context, runID string, fn func([]thinkstream.Record) error) error
}

// following is one topic's follower. A topic has at most one, whatever
// its number of viewers: the log's cost of a followed run is one consumer
// per node.
type following struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// errNotFollowing tells a follower that it no longer feeds its topic.
var errNotFollowing = errors.New("hub: topic no longer followed")

// followRetry spaces a failed follower's new starts.
const followRetry = 500 * time.Millisecond

// follow starts feeding t from the log when nothing on this node does: it
// is live for its viewers from now on, and frames come as the follower
// reads them.
func (h *Hub) follow(t *topic) {
	if h.cfg.Follower == nil {
		return
	}
	t.mu.Lock()
	if t.live || t.ended || t.follow != nil || t.viewers == 0 {
		t.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{ctx: ctx, cancel: cancel}
	t.follow, t.live = f, true
	if t.lingerTimer != nil {
		t.lingerTimer.Stop()
		t.lingerTimer = nil
	}
	t.update()
	t.mu.Unlock()
	h.cfg.Metrics.Followed.Inc()
	go h.runFollow(t, f)
}

// stopFollowing lets go of the topic's follower; t.mu must be held.
func (t *topic) stopFollowing() {
	t.follow.cancel()
	t.follow = nil
}

// fresh drops the frames a (re)started follower delivers that the topic
// has already, and when the log has moved on past the window, restarts
// the window at the first new frame: viewers between read the log, as if
// they had fallen behind. t.mu must be held.
func (t *topic) fresh(frames []Frame) []Frame {
	if t.opened || len(t.frames) > 0 {
		for len(frames) > 0 && frames[0].Seq <= t.last {
			frames = frames[1:]
		}
	}
	if len(frames) > 0 && frames[0].Seq != t.last+1 {
		t.frames, t.opened = nil, false
	}
	return frames
}

// runFollow feeds t until the run ends, its viewers leave or a local
// producer takes over; a follower that fails starts again.
func (h *Hub) runFollow(t *topic, f *following) {
	defer h.cfg.Metrics.Followed.Dec()
	for {
		err := h.cfg.Follower.Follow(f.ctx, t.id, func(recs []thinkstream.Record) error {
			frames, err := h.framesOf(t.id, recs)
			if err != nil {
				return err
			}
			return h.publish(t, frames, f)
		})
		if f.ctx.Err() != nil || errors.Is(err, errNotFollowing) {
			return
		}
		if err == nil {
			// Over, or over already: whatever the log has is all there is.
			t.mu.Lock()
			if t.follow == f {
				t.stopFollowing()
				t.live = false
				t.update()
			}
			t.mu.Unlock()
			h.finish(t)
			return
		}
		h.cfg.Logger.Warn("hub: following a run from the log; starting again", "run", t.id, "err", err)
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(followRetry):
		}
	}
}

// framesOf turns logged records into encoded frames.
func (h *Hub) framesOf(runID string, recs []thinkstream.Record) ([]Frame, error) {
	frames := make([]Frame, len(recs))
	for i, r := range recs {
		typ, tm := r.Type, r.T
		if typ == "" {
			var err error
			if typ, tm, err = typeAndTime(r.Data); err != nil {
				return nil, err
			}
		}
		frames[i] = Frame{Seq: r.Seq, Type: typ, T: tm, Data: r.Data}
	}
	if err := h.encode(frames); err != nil {
		return nil, err
	}
	return frames, nil
}

// Following returns how many runs this node follows from the log.
func (h *Hub) Following() int {
	h.mu.Lock()
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	n := 0
	for _, t := range topics {
		t.mu.Lock()
		if t.follow != nil {
			n++
		}
		t.mu.Unlock()
	}
	return n
}
