package hub

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// fakeConn is a socket with a send buffer of room bytes.
type fakeConn struct {
	mu     sync.Mutex
	got    strings.Builder
	room   int
	err    error
	writes int
}

func (c *fakeConn) TryWrite(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes++
	n := min(len(b), c.room)
	c.room -= n
	c.got.Write(b[:n])
	return n, nil
}

func (c *fakeConn) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got.String()
}

func publishOne(t *testing.T, h *Hub, run string, seq int64, typ string) Frame {
	t.Helper()
	f := testFrame(seq, typ, []byte(`{"text":"x"}`))
	h.Publish(run, []Frame{f})
	return f
}

// waitParked waits until n viewers of run are parked.
func waitParked(t *testing.T, h *Hub, run string, n int) {
	t.Helper()
	tp := h.topic(run, false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.mu.Lock()
		k := 0
		for _, d := range tp.direct {
			if !d.done.Load() {
				k++
			}
		}
		tp.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers parked, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParkedViewer(t *testing.T) {
	h := New(nil, Config{ViewersEvery: time.Hour})
	h.Open("p", 0)
	s := h.Subscribe("p", 0, Options{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Not caught up: Park returns at once and Next delivers.
	f1 := publishOne(t, h, "p", 1, thinkstream.EventRunStarted)
	conn := &fakeConn{room: 1 << 20}
	if pending, err := s.Park(ctx, conn); pending != nil || err != nil {
		t.Fatalf("park while behind = %q, %v", pending, err)
	}
	if frames, _, err := s.Next(ctx); err != nil || len(frames) != 1 {
		t.Fatalf("next = %v, %v", frames, err)
	}

	// Caught up: the fan-out writes the next frames; a full socket hands
	// the viewer back with the rest of the frame it could not finish.
	type result struct {
		pending []byte
		err     error
	}
	res := make(chan result, 1)
	go func() { p, err := s.Park(ctx, conn); res <- result{p, err} }()
	waitParked(t, h, "p", 1)
	f2 := publishOne(t, h, "p", 2, thinkstream.EventThinking)
	deadline := time.Now().Add(5 * time.Second)
	for conn.text() != string(f2.Wire) {
		if time.Now().After(deadline) {
			t.Fatalf("fan-out wrote %q, want %q", conn.text(), f2.Wire)
		}
		time.Sleep(time.Millisecond)
	}
	conn.mu.Lock()
	conn.room = 5
	conn.mu.Unlock()
	f3 := publishOne(t, h, "p", 3, thinkstream.EventThinking)
	r := <-res
	if r.err != nil || string(r.pending) != string(f3.Wire[5:]) {
		t.Fatalf("handed back with %q, %v; want the rest of frame 3", r.pending, r.err)
	}
	if got := conn.text(); got != string(f2.Wire)+string(f3.Wire[:5]) {
		t.Fatalf("socket got %q", got)
	}

	// A failed write hands back the error; the cursor stays before the
	// frame that was not written.
	conn.mu.Lock()
	conn.room, conn.err = 1<<20, errors.New("broken pipe")
	conn.mu.Unlock()
	go func() { p, err := s.Park(ctx, conn); res <- result{p, err} }()
	waitParked(t, h, "p", 1)
	publishOne(t, h, "p", 4, thinkstream.EventThinking)
	if r := <-res; r.err == nil {
		t.Fatal("a failed write was not reported")
	}
	if frames, _, err := s.Next(ctx); err != nil || frames[0].Seq != 4 {
		t.Fatalf("after a failed write next = %v, %v; want frame 4 again", frames, err)
	}

	// The terminal frame is delivered by the fan-out and ends the viewer.
	conn = &fakeConn{room: 1 << 20}
	go func() { p, err := s.Park(ctx, conn); res <- result{p, err} }()
	waitParked(t, h, "p", 1)
	end := publishOne(t, h, "p", 5, thinkstream.EventRunCompleted)
	if r := <-res; r.err != nil || r.pending != nil {
		t.Fatalf("at the end: %q, %v", r.pending, r.err)
	}
	if conn.text() != string(end.Wire) {
		t.Fatalf("terminal frame not written: %q", conn.text())
	}
	if _, _, err := s.Next(ctx); !errors.Is(err, ErrEnded) {
		t.Fatalf("after the end next err = %v", err)
	}
	_ = f1
}

// TestParkedViewersGetBacklogInOneWrite: frames published while the fan-out
// was busy reach each parked viewer in one write, all of them, in order.
func TestParkedViewersGetBacklogInOneWrite(t *testing.T) {
	h := New(nil, Config{ViewersEvery: time.Hour})
	h.Open("b", 0)
	first := publishOne(t, h, "b", 1, thinkstream.EventRunStarted)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 3
	conns := make([]*fakeConn, n)
	done := make(chan error, n)
	for i := range conns {
		s := h.Subscribe("b", 1, Options{})
		defer s.Close()
		conns[i] = &fakeConn{room: 1 << 20}
		go func() { _, err := s.Park(ctx, conns[i]); done <- err }()
	}
	waitParked(t, h, "b", n)
	var frames []Frame
	var want strings.Builder
	for seq := int64(2); seq <= 6; seq++ {
		typ := thinkstream.EventThinking
		if seq == 6 {
			typ = thinkstream.EventRunCompleted
		}
		f := testFrame(seq, typ, []byte(`{"text":"x"}`))
		frames = append(frames, f)
		want.Write(f.Wire)
	}
	// One publish of five frames: one view for the fan-out to serve.
	if err := h.Publish("b", frames); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		if got := c.text(); got != want.String() {
			t.Errorf("viewer %d got %q, want %q", i, got, want.String())
		}
		if c.writes != 1 {
			t.Errorf("viewer %d: %d writes for one backlog, want 1", i, c.writes)
		}
	}
	_ = first
}
