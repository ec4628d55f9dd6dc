package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// Follow tails a run that another process writes: it calls fn with the
// run's last logged event and then with every event logged after it, in
// order, in batches of whatever arrived together, until the terminal event
// was passed to fn (nil), fn fails (its error), ctx ends, or the consumer
// fails. A run whose metadata says it is over is not followed at all (nil
// at once, fn never called): the log holds all of it already.
//
// One ordered consumer serves the whole follow: it is ephemeral, kept in
// memory, and re-created by the client from the last stream sequence it
// delivered if a server or the connection goes away, so a follower neither
// skips nor repeats events across a NATS node's failure.
func (l *Log) Follow(ctx context.Context, runID string, fn func([]Record) error) error {
	meta, err := l.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if meta.State.Terminal() {
		return nil
	}
	subj := subject(runID)
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverAllPolicy}
	// Starting at the run's last message rather than after it: the
	// follower learns where the run is from the consumer itself, so no
	// event can fall between a look-up and the consumer's start.
	last, err := l.stream.GetLastMsgForSubject(ctx, subj)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("eventlog: follow %s: %w", runID, err)
	default:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last.Sequence
	}
	cons, err := l.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("eventlog: follow %s: %w", runID, err)
	}
	in := &inbox{wake: make(chan struct{}, 1)}
	// Consume's errors (missed heartbeats, a server going away) are the
	// ordered consumer's to recover from: it re-creates itself.
	cc, err := cons.Consume(in.add)
	if err != nil {
		return fmt.Errorf("eventlog: follow %s: %w", runID, err)
	}
	defer cc.Stop()
	next := int64(0) // next seq expected; 0 until the first arrives
	check := time.NewTicker(stallCheck)
	defer check.Stop()
	got := false // anything arrived since the last check
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if got || next == 0 {
				got = false
				continue
			}
			// Quiet for a while: make sure the consumer is not stuck
			// (a NATS node went away under it) while the log moves on.
			last, err := l.LastSeq(ctx, runID)
			if err == nil && last >= next {
				return fmt.Errorf("eventlog: follow %s: consumer behind the log (at %d, log at %d): %w", runID, next-1, last, errLost)
			}
			continue
		case <-in.wake:
		}
		got = true
		recs, err := in.take()
		if err != nil {
			return fmt.Errorf("eventlog: follow %s: %w", runID, err)
		}
		out := recs[:0]
		terminal := false
		for _, r := range recs {
			if next != 0 && r.Seq < next {
				continue // the ordered consumer redelivered after a reset
			}
			if next != 0 && r.Seq != next {
				return fmt.Errorf("eventlog: follow %s: want seq %d, got %d: %w", runID, next, r.Seq, errLost)
			}
			next = r.Seq + 1
			out = append(out, r)
			if thinkstream.IsTerminal(r.Type) {
				terminal = true
				break
			}
		}
		if len(out) > 0 {
			if err := fn(out); err != nil {
				return err
			}
		}
		if terminal {
			return nil
		}
	}
}

// stallCheck is how often a quiet follower compares itself with the log.
const stallCheck = 2 * time.Second

// inbox hands what the consumer's callback receives to the follower's
// loop: the callback must not block on a slow hub, and the loop takes
// everything that arrived since its last turn in one batch.
type inbox struct {
	wake chan struct{}
	mu   sync.Mutex
	recs []Record
	err  error
}

func (in *inbox) add(m jetstream.Msg) {
	h := m.Headers()
	seq, err := strconv.ParseInt(h.Get(seqHeader), 10, 64)
	in.mu.Lock()
	if err != nil {
		in.err = fmt.Errorf("bad seq header: %w", err)
	} else {
		r := Record{Seq: seq, Type: h.Get(typeHeader), Data: m.Data()}
		r.T, _ = strconv.ParseInt(h.Get(timeHeader), 10, 64)
		if r.Type == "" {
			// Logged before events carried type headers: the follower
			// must still see where the run ends.
			var ev struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(r.Data, &ev)
			r.Type = ev.Type
		}
		in.recs = append(in.recs, r)
	}
	in.mu.Unlock()
	in.signal()
}

func (in *inbox) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *inbox) take() ([]Record, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	recs := in.recs
	in.recs = nil
	return recs, in.err
}
