package eventlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// TestFollow: a follower gets the run's last logged event, then every
// later one in order (another run's events interleaved are not its), and
// returns after the terminal event.
func TestFollow(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.PutRun(ctx, thinkstream.Run{ID: "live", State: thinkstream.StateRunning}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "live", recs(1, 5, "a")); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, "live", func(rs []Record) error {
			for _, r := range rs {
				got <- r.Seq
			}
			return nil
		})
	}()
	if s := <-got; s != 5 {
		t.Fatalf("first followed seq = %d, want the last logged, 5", s)
	}
	for s := int64(6); s <= 40; s++ {
		if err := l.Append(ctx, "other", recs(s, s, "o")); err != nil {
			t.Fatal(err)
		}
		r := recs(s, s, "a")
		if s == 40 {
			r[0].Type = thinkstream.EventRunCompleted
		}
		if err := l.Append(ctx, "live", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v, want nil after the terminal event", err)
	}
	close(got)
	var seqs []int64
	for s := range got {
		seqs = append(seqs, s)
	}
	if diff := cmp.Diff(seqRange(6, 40), seqs); diff != "" {
		t.Errorf("followed (-want +got):\n%s", diff)
	}
}

// TestFollowNothingLive: finished and unknown runs are not followed.
func TestFollowNothingLive(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.PutRun(ctx, thinkstream.Run{ID: "done", State: thinkstream.StateCompleted}); err != nil {
		t.Fatal(err)
	}
	called := false
	fn := func([]Record) error { called = true; return nil }
	if err := l.Follow(ctx, "done", fn); err != nil || called {
		t.Errorf("finished run: err %v, fn called %v", err, called)
	}
	if err := l.Follow(ctx, "nope", fn); !errors.Is(err, ErrNotFound) || called {
		t.Errorf("unknown run: err %v, fn called %v", err, called)
	}
}

// TestCheckBesideAWriter: on a shared NATS another process appends to a
// run while a starting server checks the log; the check must not take
// the events arriving meanwhile for a hole.
func TestCheckBesideAWriter(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.PutRun(ctx, thinkstream.Run{ID: "busy", State: thinkstream.StateRunning, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	created := recs(1, 1, "c")
	created[0].Type = thinkstream.EventRunCreated
	if err := l.Append(ctx, "busy", created); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		for s := int64(2); ; s++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			if err := l.Append(ctx, "busy", recs(s, s, "x")); err != nil {
				wrote <- err
				return
			}
		}
	}()
	for range 20 {
		rep, err := l.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("check beside a writer found %+v", rep.Problems)
		}
	}
	close(stop)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}
