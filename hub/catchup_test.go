package hub

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// TestIncompleteRun: a run whose log ends before its terminal event (here:
// not live on this node, three events logged) ends a viewer's stream with
// ErrIncomplete, never with ErrEnded as if the run were over.
func TestIncompleteRun(t *testing.T) {
	l := newLog(t)
	h := New(l, Config{})
	h.Open("r", 0)
	produce(t, l, h, "r", deltas(1, 3, thinkstream.EventThinking))
	h2 := New(l, Config{}) // as after a restart: only the log knows r
	for _, after := range []int64{0, 2, 3} {
		s := h2.Subscribe("r", after, Options{})
		var seqs []int64
		var err error
		for {
			var frames []Frame
			frames, _, err = s.Next(context.Background())
			if err != nil {
				break
			}
			for _, f := range frames {
				seqs = append(seqs, f.Seq)
			}
		}
		s.Close()
		if !errors.Is(err, ErrIncomplete) {
			t.Errorf("after %d: ended with %v, want ErrIncomplete", after, err)
		}
		var want []int64
		for seq := after + 1; seq <= 3; seq++ {
			want = append(want, seq)
		}
		if diff := cmp.Diff(want, seqs); diff != "" {
			t.Errorf("after %d (-want +got):\n%s", after, diff)
		}
	}
}

// TestCatchUpMissing: a viewer behind the window whose catch-up finds a
// hole in the log gets the error, not a clean end. (Published frames are
// normally logged first; here 4..10 are not, as if the log lost them.)
func TestCatchUpMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("the log waits a while before it calls events missing")
	}
	l := newLog(t)
	h := New(l, Config{Window: 4})
	h.Open("r", 0)
	produce(t, l, h, "r", deltas(1, 3, thinkstream.EventThinking))
	var unlogged []Frame
	for seq := int64(4); seq <= 10; seq++ {
		unlogged = append(unlogged, frame(t, seq, thinkstream.EventThinking))
	}
	if err := h.Publish("r", unlogged); err != nil {
		t.Fatal(err)
	}
	s := h.Subscribe("r", 0, Options{})
	defer s.Close()
	_, _, err := s.Next(context.Background())
	if err == nil || errors.Is(err, ErrEnded) || errors.Is(err, ErrIncomplete) {
		t.Fatalf("catch-up over a hole: err %v, want the log's error", err)
	}
}
