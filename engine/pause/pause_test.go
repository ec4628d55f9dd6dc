package pause

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPauseResume(t *testing.T) {
	blocked := make(chan struct{}, 1)
	r := &Registry{Blocked: func() { blocked <- struct{}{} }}
	g, done, err := r.Register("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Register("a"); err == nil {
		t.Fatal("a second registration of one run was accepted")
	}
	if d, err := g.Wait(context.Background()); d != 0 || err != nil {
		t.Fatalf("open gate: %v, %v", d, err)
	}
	if err := r.Pause("a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause("a"); err != nil { // idempotent
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := g.Wait(context.Background())
		waited <- err
	}()
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not block on a paused gate")
	}
	select {
	case err := <-waited:
		t.Fatalf("Wait returned while paused: %v", err)
	default:
	}
	if err := r.Resume("a"); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	done()
	if err := r.Pause("a"); !errors.Is(err, ErrUnknownRun) {
		t.Fatalf("pause after the run ended: %v", err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	var r Registry
	g, done, err := r.Register("b")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	_ = r.Pause("b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
}

func TestAnonymousRunsCannotBePaused(t *testing.T) {
	var r Registry
	g, done, err := r.Register("")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if err := r.Pause(""); !errors.Is(err, ErrUnknownRun) {
		t.Fatalf("pause of a run without id: %v", err)
	}
	if d, err := g.Wait(context.Background()); d != 0 || err != nil {
		t.Fatalf("%v %v", d, err)
	}
}
