package hub

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/eventlog"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func putRunning(t *testing.T, l *eventlog.Log, id string) {
	t.Helper()
	if err := l.PutRun(context.Background(), thinkstream.Run{ID: id, State: thinkstream.StateRunning}); err != nil {
		t.Fatal(err)
	}
}

// drainAll reads every subscription to its end concurrently and returns
// each one's frames (seq and JSON).
func drainAll(t *testing.T, subs ...*Subscription) [][]Frame {
	t.Helper()
	out := make([][]Frame, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for {
				frames, _, err := s.Next(ctx)
				if err != nil {
					if err != ErrEnded {
						t.Errorf("viewer %d: %v", i, err)
					}
					return
				}
				for _, f := range frames {
					out[i] = append(out[i], Frame{Seq: f.Seq, Data: f.Data})
				}
			}
		})
	}
	wg.Wait()
	return out
}

// logged returns what the log holds for a run after seq `after`.
func logged(t *testing.T, l *eventlog.Log, id string, after int64) []Frame {
	t.Helper()
	var out []Frame
	err := l.Read(context.Background(), id, after, 0, func(r thinkstream.Record) error {
		out = append(out, Frame{Seq: r.Seq, Data: r.Data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFollowForeignRun: hub b serves a run that hub a's producer writes,
// live from the log, with one follower for all of b's viewers, and every
// viewer gets the same dense seqs and bytes as the log holds.
func TestFollowForeignRun(t *testing.T) {
	l := newLog(t)
	a := New(l, Config{})
	b := New(l, Config{Follower: l, Window: 16})
	putRunning(t, l, "f1")
	a.Open("f1", 0)
	produce(t, l, a, "f1", deltas(1, 40, thinkstream.EventThinking))
	var subs []*Subscription
	for _, after := range []int64{0, 5, 39, 40} {
		s := b.Subscribe("f1", after, Options{})
		defer s.Close()
		subs = append(subs, s)
	}
	if n := float64(b.Following()); n != 1 {
		t.Fatalf("followers for 4 viewers = %v, want 1", n)
	}
	for s := int64(41); s <= 200; s += 10 {
		produce(t, l, a, "f1", deltas(s, s+9, thinkstream.EventThinking))
	}
	produce(t, l, a, "f1", []thinkstream.Event{{Seq: 201, Type: thinkstream.EventRunCompleted}})
	got := drainAll(t, subs...)
	for i, after := range []int64{0, 5, 39, 40} {
		if diff := cmp.Diff(logged(t, l, "f1", after), got[i]); diff != "" {
			t.Errorf("viewer after %d (-log +got):\n%s", after, diff)
		}
	}
	waitFor(t, "the follower to stop at the run's end", func() bool { return float64(b.Following()) == 0 })
}

// TestFollowStopsWithoutViewers: the last viewer leaving stops the
// follower; a later viewer starts another that carries on where the
// first stopped, without repeating or skipping an event.
func TestFollowStopsWithoutViewers(t *testing.T) {
	l := newLog(t)
	a := New(l, Config{})
	b := New(l, Config{Follower: l})
	putRunning(t, l, "f2")
	a.Open("f2", 0)
	produce(t, l, a, "f2", deltas(1, 10, thinkstream.EventAnswer))
	s1 := b.Subscribe("f2", 0, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen int64
	for seen < 10 {
		frames, _, err := s1.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = frames[len(frames)-1].Seq
	}
	produce(t, l, a, "f2", deltas(11, 12, thinkstream.EventAnswer))
	waitFor(t, "the follower to publish seq 12", func() bool { return b.topic("f2", false).cur.Load().last == 12 })
	s1.Close()
	waitFor(t, "the follower to stop", func() bool { return float64(b.Following()) == 0 })
	produce(t, l, a, "f2", deltas(13, 30, thinkstream.EventAnswer))
	s2 := b.Subscribe("f2", 3, Options{})
	defer s2.Close()
	produce(t, l, a, "f2", []thinkstream.Event{{Seq: 31, Type: thinkstream.EventRunCancelled}})
	got := drainAll(t, s2)
	if diff := cmp.Diff(logged(t, l, "f2", 3), got[0]); diff != "" {
		t.Errorf("(-log +got):\n%s", diff)
	}
}

// TestFollowFinishedRun: a run that is over is not followed; its viewers
// read the log to the terminal event as before.
func TestFollowFinishedRun(t *testing.T) {
	l := newLog(t)
	a := New(l, Config{})
	b := New(l, Config{Follower: l})
	a.Open("f3", 0)
	produce(t, l, a, "f3", append(deltas(1, 5, thinkstream.EventAnswer), thinkstream.Event{Seq: 6, Type: thinkstream.EventRunCompleted}))
	if err := l.PutRun(context.Background(), thinkstream.Run{ID: "f3", State: thinkstream.StateCompleted, LastSeq: 6}); err != nil {
		t.Fatal(err)
	}
	s := b.Subscribe("f3", 2, Options{})
	defer s.Close()
	got := drainAll(t, s)
	if diff := cmp.Diff(logged(t, l, "f3", 2), got[0]); diff != "" {
		t.Errorf("(-log +got):\n%s", diff)
	}
	waitFor(t, "no follower", func() bool { return float64(b.Following()) == 0 })
}

// TestLocalProducerTakesOver: a followed topic whose run this node starts
// producing (e.g. a worker here took it over) continues densely from the
// producer's seq; the follower lets go.
func TestLocalProducerTakesOver(t *testing.T) {
	l := newLog(t)
	a := New(l, Config{})
	b := New(l, Config{Follower: l})
	putRunning(t, l, "f4")
	a.Open("f4", 0)
	produce(t, l, a, "f4", deltas(1, 8, thinkstream.EventThinking))
	s := b.Subscribe("f4", 0, Options{})
	defer s.Close()
	waitFor(t, "the follower to publish seq 8", func() bool { return b.topic("f4", false).cur.Load().last == 8 })
	// The log moves on while b's producer starts: b opens at what is logged.
	if err := l.Append(context.Background(), "f4", recsOf(t, deltas(9, 12, thinkstream.EventThinking))); err != nil {
		t.Fatal(err)
	}
	b.Open("f4", 12)
	produce(t, l, b, "f4", append(deltas(13, 15, thinkstream.EventThinking), thinkstream.Event{Seq: 16, Type: thinkstream.EventRunCompleted}))
	got := drainAll(t, s)
	if diff := cmp.Diff(logged(t, l, "f4", 0), got[0]); diff != "" {
		t.Errorf("(-log +got):\n%s", diff)
	}
	if n := float64(b.Following()); n != 0 {
		t.Errorf("followers after the takeover = %v", n)
	}
}

func recsOf(t *testing.T, evs []thinkstream.Event) []thinkstream.Record {
	t.Helper()
	var recs []thinkstream.Record
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, thinkstream.Record{Seq: ev.Seq, Type: ev.Type, Data: data})
	}
	return recs
}
