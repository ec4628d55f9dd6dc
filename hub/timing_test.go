package hub

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// The hub's timers (tick, heartbeat, viewer-count throttle, linger) are
// tested in synctest bubbles: the clock only moves when every goroutine of
// the bubble is blocked, so the times below are exact, not approximate.

func frame(t *testing.T, seq int64, typ string) Frame {
	t.Helper()
	data, err := json.Marshal(thinkstream.Event{Seq: seq, Type: typ, Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f := testFrame(seq, typ, data)
	return f
}

func TestHeartbeatTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(nil, Config{Tick: time.Second})
		h.Open("r", 0)
		s := h.Subscribe("r", 0, Options{Idle: 3 * time.Second})
		defer s.Close()
		ctx := context.Background()
		start := time.Now()
		// The first Next hands out the viewer count (after ViewersEvery).
		if _, v, err := s.Next(ctx); err != nil || v == nil {
			t.Fatalf("first next: viewers %v, err %v", v, err)
		}
		for i := 1; i <= 3; i++ {
			if _, _, err := s.Next(ctx); !errors.Is(err, ErrIdle) {
				t.Fatalf("next %d: %v, want ErrIdle", i, err)
			}
			if got, want := time.Since(start), time.Duration(i)*3*time.Second; got != want {
				t.Errorf("heartbeat %d after %v, want %v", i, got, want)
			}
		}
		// A delivery postpones the next heartbeat to the third tick after
		// it (ticks at whole seconds here; the delivery between two, so
		// that it does not race a tick).
		time.Sleep(1500 * time.Millisecond)
		if err := h.Publish("r", []Frame{frame(t, 1, thinkstream.EventThinking)}); err != nil {
			t.Fatal(err)
		}
		if f, _, err := s.Next(ctx); err != nil || len(f) != 1 {
			t.Fatalf("next = %v, %v", f, err)
		}
		delivered := time.Now()
		if _, _, err := s.Next(ctx); !errors.Is(err, ErrIdle) {
			t.Fatalf("after delivery: %v, want ErrIdle", err)
		}
		if got := time.Since(delivered); got != 2500*time.Millisecond {
			t.Errorf("heartbeat %v after a delivery, want 2.5s", got)
		}
	})
}

func TestViewerCountThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(nil, Config{ViewersEvery: 500 * time.Millisecond})
		h.Open("r", 0)
		start := time.Now()
		var subs []*Subscription
		for range 3 {
			subs = append(subs, h.Subscribe("r", 0, Options{}))
		}
		_, v, err := subs[0].Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 500*time.Millisecond {
			t.Errorf("count frame after %v, want 500ms", got)
		}
		var got struct{ Viewers int }
		if err := json.Unmarshal(v.Data, &got); err != nil {
			t.Fatalf("viewers frame %q: %v", v.Data, err)
		}
		if got.Viewers != 3 {
			t.Errorf("viewers = %d, want 3 (joins within one period are one frame)", got.Viewers)
		}
		// Two leave at once: one more frame, a period later.
		subs[1].Close()
		subs[2].Close()
		left := time.Now()
		_, v, err = subs[0].Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(left); d != 500*time.Millisecond {
			t.Errorf("second count frame after %v, want 500ms", d)
		}
		if err := json.Unmarshal(v.Data, &got); err != nil || got.Viewers != 1 {
			t.Errorf("viewers frame %v (%v), want 1", v, err)
		}
		subs[0].Close()
	})
}

func TestLingerDropsFinishedTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(nil, Config{Linger: 10 * time.Second, Tick: time.Second})
		h.Open("r", 0)
		if err := h.Publish("r", []Frame{frame(t, 1, thinkstream.EventRunCompleted)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		synctest.Wait()
		if h.topic("r", false) == nil {
			t.Fatal("topic dropped before Linger")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if h.topic("r", false) != nil {
			t.Fatal("topic kept after Linger")
		}
	})
}

// TestLingerWaitsForViewers: a topic with a viewer is not dropped; it is
// once the last viewer leaves and another Linger passes.
func TestLingerWaitsForViewers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(nil, Config{Linger: 10 * time.Second})
		h.Open("r", 0)
		s := h.Subscribe("r", 0, Options{})
		if err := h.Publish("r", []Frame{frame(t, 1, thinkstream.EventRunCompleted)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if h.topic("r", false) == nil {
			t.Fatal("topic with a viewer dropped")
		}
		s.Close()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h.topic("r", false) != nil {
			t.Fatal("topic kept a Linger after its last viewer left")
		}
	})
}

func TestTicksCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(nil, Config{Tick: time.Second})
		h.Open("r", 0)
		tp := h.topic("r", false)
		time.Sleep(5*time.Second + time.Millisecond)
		synctest.Wait()
		if got := tp.cur.Load().ticks; got != 5 {
			t.Errorf("ticks after 5s = %d, want 5", got)
		}
	})
}

// TestTickFiresAtOnce is the regression test for a tick timer that fired
// before it was stored (nil dereference in the callback, and a data race):
// a 1ns tick fires while the topic is still being created. Real time, so
// that the race detector sees the goroutines interleave; few topics, since
// each ticks flat out until it is dropped.
func TestTickFiresAtOnce(t *testing.T) {
	h := New(nil, Config{Tick: time.Nanosecond, Linger: time.Nanosecond})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			for j := range 5 {
				id := string(rune('a'+i)) + string(rune('a'+j%26)) + string(rune('a'+j/26))
				h.Open(id, 0)
				h.Close(id)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.topics)
		h.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d topics not dropped", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPublishOutOfOrder(t *testing.T) {
	tests := []struct {
		name  string
		first []int64 // published first, accepted
		then  []int64 // refused
	}{
		{"gap", []int64{1, 2}, []int64{4}},
		{"repeat", []int64{1, 2}, []int64{2}},
		{"backwards", []int64{1, 2, 3}, []int64{1}},
		{"hole inside a batch", []int64{1}, []int64{2, 4}},
		{"first after open", nil, []int64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(nil, Config{})
			h.Open("r", 0)
			var fs []Frame
			for _, seq := range tc.first {
				fs = append(fs, frame(t, seq, thinkstream.EventThinking))
			}
			if err := h.Publish("r", fs); err != nil {
				t.Fatalf("in-order publish: %v", err)
			}
			before := *h.topic("r", false).cur.Load()
			fs = nil
			for _, seq := range tc.then {
				fs = append(fs, frame(t, seq, thinkstream.EventThinking))
			}
			if err := h.Publish("r", fs); !errors.Is(err, ErrOutOfOrder) {
				t.Fatalf("publish %v after %v: err %v, want ErrOutOfOrder", tc.then, tc.first, err)
			}
			after := *h.topic("r", false).cur.Load()
			if after.last != before.last || after.base != before.base || len(after.frames) != len(before.frames) {
				t.Errorf("window changed: base %d last %d len %d -> base %d last %d len %d",
					before.base, before.last, len(before.frames), after.base, after.last, len(after.frames))
			}
			// The topic still takes the right next frame, and a viewer
			// reads every accepted frame in order.
			next := before.last + 1
			if err := h.Publish("r", []Frame{frame(t, next, thinkstream.EventRunCompleted)}); err != nil {
				t.Fatalf("publish %d after the refusal: %v", next, err)
			}
			s := h.Subscribe("r", 0, Options{})
			defer s.Close()
			var got []int64
			for {
				frames, _, err := s.Next(context.Background())
				if errors.Is(err, ErrEnded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range frames {
					got = append(got, f.Seq)
				}
			}
			want := append(append([]int64{}, tc.first...), next)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("viewer read (-want +got):\n%s", diff)
			}
		})
	}
}
