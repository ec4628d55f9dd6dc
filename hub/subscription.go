package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thinkstream/thinkstream"
)

// ErrEnded is returned by Next after the terminal frame was delivered.
var ErrEnded = errors.New("run ended")

// ErrIncomplete is returned by Next when the run's events end before its
// terminal event: the run is not live on this node and the log holds
// nothing more. The stream cannot be completed, so the caller must say so
// rather than end it as if the run were over.
var ErrIncomplete = errors.New("hub: the run's events end before its terminal event")

// ErrIdle is returned by Next when nothing happened for Options.Idle: time
// for the caller to send a heartbeat.
var ErrIdle = errors.New("idle")

// catchUpBatch bounds how many log events one Next returns, so a viewer of a
// huge run gets its first bytes early and memory per viewer stays bounded.
const catchUpBatch = 2048

// Options choose how a subscription reads.
type Options struct {
	// Coalesce merges consecutive deltas of one kind in catch-up batches.
	Coalesce bool
	// Idle makes Next return ErrIdle after this long without anything to
	// deliver (0: wait indefinitely).
	Idle time.Duration
}

// Subscription is one viewer's cursor over a run's events.
type Subscription struct {
	h      *Hub
	t      *topic
	runID  string
	next   int64 // seq of the next frame to deliver
	opts   Options
	ended  bool
	vver   int
	closed bool
	// lastTick is the topic's tick count when something was last
	// delivered (or a heartbeat was due): counting ticks instead of
	// reading the clock keeps time out of every delivery.
	lastTick  int64
	idleTicks int64
}

// Subscribe starts a viewer of runID after seq `after`. The caller must
// Close it.
func (h *Hub) Subscribe(runID string, after int64, opts Options) *Subscription {
	t := h.topic(runID, true)
	h.addViewer(t, 1)
	h.follow(t)
	vver := t.cur.Load().viewersVer
	sub := &Subscription{h: h, t: t, runID: runID, next: after + 1, opts: opts, vver: vver - 1, lastTick: t.cur.Load().ticks}
	if opts.Idle > 0 {
		sub.idleTicks = max(int64((opts.Idle+h.cfg.Tick-1)/h.cfg.Tick), 1)
	}
	return sub
}

// Close releases the viewer.
func (s *Subscription) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.h.addViewer(s.t, -1)
}

// Next returns the next batch: frames to write in order (several when the
// viewer is behind), and possibly a viewer-count frame. It blocks until
// something is available or ctx ends. After the terminal frame it returns
// ErrEnded.
func (s *Subscription) Next(ctx context.Context) (frames []Frame, viewers *Frame, err error) {
	for {
		if s.ended {
			return nil, nil, ErrEnded
		}
		v := s.t.cur.Load()
		if s.vver != v.viewersVer && v.viewersFrame != nil {
			s.vver = v.viewersVer
			viewers = v.viewersFrame
		}
		inWindow := len(v.frames) > 0 && s.next >= v.base
		if inWindow && s.next <= v.last {
			frames = v.frames[s.next-v.base:]
			if s.opts.Coalesce && len(frames) > 1 {
				frames, err = Coalesce(frames)
				if err == nil {
					err = s.h.encode(frames)
				}
				if err != nil {
					return nil, nil, err
				}
			}
			s.advance(frames)
			return frames, viewers, nil
		}
		live, last, notify := v.live, v.last, v.notify
		switch {
		case !inWindow && s.next <= last || !live:
			// Behind the window, or the run is not live here: read the log.
			frames, err = s.fromLog(ctx, last)
			if err != nil {
				return nil, viewers, err
			}
			if len(frames) > 0 || viewers != nil {
				return frames, viewers, nil
			}
			if !live {
				// Nothing more is logged and no producer is here, yet this
				// viewer has not had the terminal event: unless it resumed
				// right after it, the run's events end short.
				return nil, nil, s.endedBefore(ctx)
			}
		case viewers != nil:
			return nil, viewers, nil
		}
		if s.idleTicks > 0 && v.ticks-s.lastTick >= s.idleTicks {
			s.lastTick = v.ticks
			return nil, nil, ErrIdle
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// endedBefore returns ErrEnded when the event before the cursor is the
// run's terminal event, else ErrIncomplete (or why it could not tell).
func (s *Subscription) endedBefore(ctx context.Context) error {
	if s.next <= 1 {
		return ErrIncomplete
	}
	terminal := false
	err := s.h.log.Read(ctx, s.runID, s.next-2, s.next-1, func(r thinkstream.Record) error {
		typ := r.Type
		if typ == "" {
			var err error
			if typ, _, err = typeAndTime(r.Data); err != nil {
				return err
			}
		}
		terminal = thinkstream.IsTerminal(typ)
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("hub: run %s seq %d: %w", s.runID, s.next-1, err)
	case terminal:
		s.ended = true
		return ErrEnded
	}
	return ErrIncomplete
}

func (s *Subscription) advance(frames []Frame) {
	if len(frames) == 0 {
		return
	}
	s.lastTick = s.t.cur.Load().ticks
	lastF := frames[len(frames)-1]
	s.next = lastF.Seq + 1
	if thinkstream.IsTerminal(lastF.Type) {
		s.ended = true
	}
}

// fromLog reads up to catchUpBatch events after the cursor from the log.
// liveLast is the topic's last published seq (0 when not live here).
func (s *Subscription) fromLog(ctx context.Context, liveLast int64) ([]Frame, error) {
	until := liveLast
	if until < s.next {
		last, err := s.h.log.LastSeq(ctx, s.runID)
		if err != nil {
			return nil, err
		}
		until = last
	}
	if until < s.next {
		return nil, nil
	}
	until = min(until, s.next+catchUpBatch-1)
	frames := make([]Frame, 0, until-s.next+1)
	err := s.h.log.Read(ctx, s.runID, s.next-1, until, func(r thinkstream.Record) error {
		typ, t := r.Type, r.T
		if typ == "" {
			var err error
			if typ, t, err = typeAndTime(r.Data); err != nil {
				return fmt.Errorf("hub: run %s seq %d: %w", s.runID, r.Seq, err)
			}
		}
		frames = append(frames, Frame{Seq: r.Seq, Type: typ, T: t, Data: r.Data})
		return nil
	})
	if err != nil {
		// ErrRunNotFound included: events it should have are gone.
		return nil, fmt.Errorf("hub: catch up run %s after seq %d: %w", s.runID, s.next-1, err)
	}
	s.h.cfg.Metrics.CatchUps.Inc()
	if s.opts.Coalesce && len(frames) > 1 {
		if frames, err = Coalesce(frames); err != nil {
			return nil, err
		}
	}
	if err := s.h.encode(frames); err != nil {
		return nil, err
	}
	s.advance(frames)
	return frames, nil
}
