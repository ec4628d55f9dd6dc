package eventlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/thinkstream/thinkstream"
)

// TestAppendAfter: an append fenced on the log's end lands only while the
// run's log still ends there; a second writer that read the same end is
// refused instead of deduplicated away.
func TestAppendAfter(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	tail, fence, err := l.Tail(ctx, "r1")
	if err != nil || tail.Seq != 0 || fence != 0 {
		t.Fatalf("tail of a run with no events: %+v at %d (%v)", tail, fence, err)
	}
	if err := l.AppendAfter(ctx, "r1", 0, recs(1, 3, "a")); err != nil {
		t.Fatalf("first append of a run, fenced on no events: %v", err)
	}
	if err := l.Append(ctx, "other", recs(1, 2, "o")); err != nil {
		t.Fatal(err)
	}
	tail, fence, err = l.Tail(ctx, "r1")
	if err != nil || tail.Seq != 3 || string(tail.Data) != string(recs(3, 3, "a")[0].Data) {
		t.Fatalf("tail: %+v (%v), want seq 3", tail, err)
	}
	// Two writers read the same end; the first one's append lands.
	if err := l.AppendAfter(ctx, "r1", fence, recs(4, 4, "first")); err != nil {
		t.Fatalf("append after the tail: %v", err)
	}
	err = l.AppendAfter(ctx, "r1", fence, recs(4, 5, "second"))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second append on a stale fence: %v, want ErrConflict", err)
	}
	if diff := cmp.Diff(seqRange(1, 4), readAll(t, l, "r1", 0, 0)); diff != "" {
		t.Errorf("log after the refused append (-want +got):\n%s", diff)
	}
	var last string
	_ = l.Read(ctx, "r1", 3, 4, func(r Record) error { last = string(r.Data); return nil })
	if last != string(recs(4, 4, "first")[0].Data) {
		t.Errorf("seq 4 is %s, want the first writer's", last)
	}
	// Renumbered after what the other logged, it lands.
	_, fence, _ = l.Tail(ctx, "r1")
	if err := l.AppendAfter(ctx, "r1", fence, recs(5, 6, "second")); err != nil {
		t.Fatalf("append on the new fence: %v", err)
	}
	if diff := cmp.Diff(seqRange(1, 6), readAll(t, l, "r1", 0, 0)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestUpdateRun: concurrent read-modify-writes of one run's metadata each
// apply to what the one before stored; a change that says no stores
// nothing.
func TestUpdateRun(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.PutRun(ctx, thinkstream.Run{ID: "r1", State: thinkstream.StateQueued, OwnerKey: "k"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := l.UpdateRun(ctx, "r1", func(r *thinkstream.Run) error { r.LastSeq++; return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := l.GetRun(ctx, "r1")
	if err != nil || got.LastSeq != n || got.OwnerKey != "k" {
		t.Fatalf("after %d concurrent increments: last_seq %d, owner key %q (%v)", n, got.LastSeq, got.OwnerKey, err)
	}

	// Of a taker and a canceller racing on a queued run, exactly one wins.
	errNo := errors.New("not queued")
	var wins sync.Map
	for _, who := range []string{"take", "cancel"} {
		wg.Go(func() {
			_, err := l.UpdateRun(ctx, "r1", func(r *thinkstream.Run) error {
				if r.State != thinkstream.StateQueued || r.Taken {
					return errNo
				}
				if who == "take" {
					r.Taken = true
				} else {
					r.State = thinkstream.StateCancelled
				}
				return nil
			})
			if err == nil {
				wins.Store(who, true)
			} else if !errors.Is(err, errNo) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n2 := 0
	wins.Range(func(any, any) bool { n2++; return true })
	got, _ = l.GetRun(ctx, "r1")
	if n2 != 1 || got.Taken == (got.State == thinkstream.StateCancelled) {
		t.Errorf("%d winners; stored taken %v state %s, want exactly one of the two", n2, got.Taken, got.State)
	}
	if _, err := l.UpdateRun(ctx, "nope", func(*thinkstream.Run) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown run: %v", err)
	}
}

// TestOpenConcurrently: processes of a cluster that start at once on a
// fresh NATS all open the log, also when they configure it apart: the
// losers of the race to create the stream and the bucket update the
// winner's, rather than failing with "stream name already in use".
func TestOpenConcurrently(t *testing.T) {
	for round := range 30 {
		ns, err := server.NewServer(&server.Options{
			Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats not ready")
		}
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				// Gateways and workers may configure retention apart.
				l, err := Open(context.Background(), Config{URL: ns.ClientURL(), MaxAge: time.Duration(i%2) * time.Hour})
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				l.Close()
			})
		}
		wg.Wait()
		ns.Shutdown()
	}
}
