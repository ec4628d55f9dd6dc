package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/eventlog"
)

func newLog(t testing.TB) *eventlog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// produce logs and publishes events seq from..to like the run manager does.
func produce(t *testing.T, l *eventlog.Log, h *Hub, run string, evs []thinkstream.Event) {
	t.Helper()
	var recs []thinkstream.Record
	var frames []Frame
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, thinkstream.Record{Seq: ev.Seq, Data: data})
		f := testFrame(ev.Seq, ev.Type, data)
		frames = append(frames, f)
	}
	if err := l.Append(context.Background(), run, recs); err != nil {
		t.Fatal(err)
	}
	h.Publish(run, frames)
}

func deltas(from, to int64, typ string) []thinkstream.Event {
	var out []thinkstream.Event
	for s := from; s <= to; s++ {
		out = append(out, thinkstream.Event{Seq: s, Type: typ, Text: "x", Step: 1})
	}
	return out
}

// drain reads a subscription to its end and returns the text of every
// delta and the seq of every frame.
func drain(t *testing.T, s *Subscription) (seqs []int64, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	for {
		frames, _, err := s.Next(ctx)
		if errors.Is(err, ErrEnded) {
			return seqs, b.String()
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		for _, f := range frames {
			seqs = append(seqs, f.Seq)
			var ev thinkstream.Event
			if err := json.Unmarshal(f.Data, &ev); err != nil {
				t.Fatal(err)
			}
			b.WriteString(ev.Text)
		}
	}
}

func TestLiveWindowAndCatchUp(t *testing.T) {
	l := newLog(t)
	h := New(l, Config{Window: 16})
	h.Open("r1", 0)
	early := h.Subscribe("r1", 0, Options{})
	defer early.Close()
	produce(t, l, h, "r1", []thinkstream.Event{{Seq: 1, Type: thinkstream.EventRunStarted}})
	produce(t, l, h, "r1", deltas(2, 100, thinkstream.EventThinking))
	// A viewer that starts late is behind the 16-frame window: it must read
	// the log and rejoin live.
	late := h.Subscribe("r1", 3, Options{})
	defer late.Close()
	produce(t, l, h, "r1", []thinkstream.Event{{Seq: 101, Type: thinkstream.EventRunCompleted}})

	want := make([]int64, 0, 101)
	for s := int64(1); s <= 101; s++ {
		want = append(want, s)
	}
	got, _ := drain(t, early)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("early viewer (-want +got):\n%s", diff)
	}
	got, _ = drain(t, late)
	if diff := cmp.Diff(want[3:], got); diff != "" {
		t.Errorf("late viewer (-want +got):\n%s", diff)
	}
	if h.Viewers("r1") != 2 {
		t.Errorf("viewers = %d, want 2", h.Viewers("r1"))
	}
}

func TestCoalesceKeepsTextAndIDs(t *testing.T) {
	l := newLog(t)
	h := New(l, Config{})
	h.Open("r2", 0)
	evs := []thinkstream.Event{{Seq: 1, Type: thinkstream.EventStep, Index: 1}}
	evs = append(evs, deltas(2, 50, thinkstream.EventThinking)...)
	evs = append(evs, thinkstream.Event{Seq: 51, Type: thinkstream.EventAnswer, Text: "a"},
		thinkstream.Event{Seq: 52, Type: thinkstream.EventAnswer, Text: "b"},
		thinkstream.Event{Seq: 53, Type: thinkstream.EventRunCompleted})
	produce(t, l, h, "r2", evs)
	for _, after := range []int64{0, 10, 50} {
		s := h.Subscribe("r2", after, Options{Coalesce: true})
		seqs, text := drain(t, s)
		s.Close()
		wantText := strings.Repeat("x", int(max(0, 50-max(after, 1)))) + "ab"
		if text != wantText {
			t.Errorf("after %d: text %q, want %q", after, text, wantText)
		}
		if seqs[len(seqs)-1] != 53 || len(seqs) > 4 {
			t.Errorf("after %d: frames %v, want at most 4 ending at 53", after, seqs)
		}
	}
}

func TestFinishedRunFromLog(t *testing.T) {
	l := newLog(t)
	h := New(l, Config{Linger: time.Millisecond})
	h.Open("r3", 0)
	produce(t, l, h, "r3", append(deltas(1, 9, thinkstream.EventAnswer), thinkstream.Event{Seq: 10, Type: thinkstream.EventRunFailed}))
	// A fresh hub (as after a restart) knows nothing of r3 but the log.
	h2 := New(l, Config{})
	s := h2.Subscribe("r3", 4, Options{})
	defer s.Close()
	seqs, _ := drain(t, s)
	if diff := cmp.Diff([]int64{5, 6, 7, 8, 9, 10}, seqs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A viewer already past the end gets ErrEnded at once.
	s2 := h2.Subscribe("r3", 10, Options{})
	defer s2.Close()
	if _, _, err := s2.Next(context.Background()); !errors.Is(err, ErrEnded) {
		t.Errorf("after terminal: err %v, want ErrEnded", err)
	}
}

func TestStalledViewerDoesNotHoldPublisher(t *testing.T) {
	l := newLog(t)
	h := New(nil, Config{Window: 64})
	h.Open("r4", 0)
	stalled := h.Subscribe("r4", 0, Options{})
	defer stalled.Close()
	// Publishing far more than the window completes without any reader,
	// and the topic keeps only the window.
	for s := int64(1); s <= 10000; s++ {
		f := testFrame(s, thinkstream.EventThinking, []byte(`{"text":"x"}`))
		h.Publish("r4", []Frame{f})
	}
	tp := h.topic("r4", false)
	tp.mu.Lock()
	n, base := len(tp.frames), tp.base
	tp.mu.Unlock()
	if n != 64 || base != 10000-63 {
		t.Fatalf("window holds %d frames from %d, want 64 from %d", n, base, 10000-63)
	}
	_ = l
}

// TestIdleHeartbeat: a quiet subscription reports ErrIdle about every
// Idle, and deliveries postpone it.
func TestIdleHeartbeat(t *testing.T) {
	h := New(nil, Config{Tick: 5 * time.Millisecond})
	h.Open("r5", 0)
	s := h.Subscribe("r5", 0, Options{Idle: 20 * time.Millisecond})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if _, _, err := s.Next(ctx); !errors.Is(err, ErrIdle) {
			t.Fatalf("quiet stream: err %v, want ErrIdle", err)
		}
	}
	f := testFrame(1, thinkstream.EventThinking, []byte(`{"text":"x"}`))
	h.Publish("r5", []Frame{f})
	frames, _, err := s.Next(ctx)
	if err != nil || len(frames) != 1 {
		t.Fatalf("next = %v, %v", frames, err)
	}
}

// testFrame builds a frame as a producer would, with wire bytes that name
// the frame, so that a test can tell which frames reached a connection.
func testFrame(seq int64, typ string, data []byte) Frame {
	return Frame{Seq: seq, Type: typ, Data: data, Wire: fmt.Appendf(nil, "%d %s %s\n", seq, typ, data)}
}
