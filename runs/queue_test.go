package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// positions returns the run.queued positions of a run's events, failing if
// one comes after run.started.
func positions(t *testing.T, evs []thinkstream.Event) []int {
	t.Helper()
	var out []int
	started := false
	for _, ev := range evs {
		switch ev.Type {
		case thinkstream.EventRunStarted:
			started = true
		case thinkstream.EventRunQueued:
			if started {
				t.Fatalf("run.queued %d after run.started", ev.Position)
			}
			out = append(out, ev.Position)
		}
	}
	return out
}

func TestQueuePositionsRenumber(t *testing.T) {
	eng := &scripted{tokens: []string{"a"}, gate: make(chan struct{}), par: 1}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	create := func(p string) Created {
		t.Helper()
		c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: p})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := create("first")
	q := []Created{create("q1"), create("q2"), create("q3"), create("q4")}
	if n, r := e.m.Active(); n != 4 || r != 1 {
		t.Fatalf("active = %d queued, %d running", n, r)
	}
	if err := e.m.Cancel(ctx, q[1].ID, q[1].OwnerToken); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, e.m, q[1].ID); got[len(got)-1].Type != thinkstream.EventRunCancelled {
		t.Fatalf("cancelled queued run ends with %s", got[len(got)-1].Type)
	}
	// The cancel renumbers the runs behind it before anything else moves.
	waitFor(t, "q4 to move to 3", func() bool {
		return slices.Contains(positions(t, logged(t, e.log, q[3].ID)), 3)
	})
	// Let one run finish at a time, so that every step is seen.
	eng.gate <- struct{}{}
	waitFor(t, "q4 to move to 2", func() bool {
		return slices.Contains(positions(t, logged(t, e.log, q[3].ID)), 2)
	})
	eng.gate <- struct{}{}
	waitFor(t, "q4 to move to 1", func() bool {
		return slices.Contains(positions(t, logged(t, e.log, q[3].ID)), 1)
	})
	close(eng.gate)
	collect(t, e.m, first.ID)
	want := map[string][]int{"q1": {1}, "q2": {2}, "q3": {3, 2, 1}, "q4": {4, 3, 2, 1}}
	for i, c := range q {
		evs := collect(t, e.m, c.ID)
		name := fmt.Sprintf("q%d", i+1)
		if diff := cmp.Diff(want[name], positions(t, evs)); diff != "" {
			t.Errorf("%s positions (-want +got):\n%s", name, diff)
		}
		checkDense(t, evs)
	}
}

// TestQueuePositionsInOrder: many runs moving up at once still see their
// positions strictly falling (sent from one place, decided under each
// run's writer).
func TestQueuePositionsInOrder(t *testing.T) {
	eng := &scripted{tokens: []string{"a"}, gate: make(chan struct{}), par: 1}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	go func() {
		for range ids {
			eng.gate <- struct{}{}
		}
	}()
	for i, id := range ids {
		pos := positions(t, collect(t, e.m, id))
		if i == 0 {
			if len(pos) != 0 {
				t.Errorf("the first run was queued at %v", pos)
			}
			continue
		}
		if len(pos) == 0 || pos[0] != i {
			t.Fatalf("run %d positions %v, want to start at %d", i, pos, i)
		}
		for j := 1; j < len(pos); j++ {
			if pos[j] >= pos[j-1] {
				t.Fatalf("run %d positions %v not falling", i, pos)
			}
		}
	}
}

// pausable is the scripted engine with pause support recorded.
type pausable struct {
	*scripted
	mu    sync.Mutex
	calls []string
}

func (p *pausable) Pause(id string) error  { return p.note("pause " + id) }
func (p *pausable) Resume(id string) error { return p.note("resume " + id) }
func (p *pausable) note(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
	return nil
}

func TestPauseResume(t *testing.T) {
	eng := &pausable{scripted: &scripted{tokens: []string{"a", "b"}, gate: make(chan struct{})}}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.m, c.ID, thinkstream.StateRunning)
	if err := e.m.Pause(ctx, c.ID, "not the owner"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("pause by a stranger: %v", err)
	}
	if err := e.m.Pause(ctx, c.ID, c.OwnerToken); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Resume(ctx, c.ID, c.OwnerToken); err != nil {
		t.Fatal(err)
	}
	close(eng.gate)
	evs := collect(t, e.m, c.ID)
	want := []string{"run.created", "run.started", "run.paused", "run.resumed", "step", "thinking", "thinking", "run.completed"}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pause " + c.ID, "resume " + c.ID}, eng.calls); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}
	if err := e.m.Pause(ctx, c.ID, c.OwnerToken); !errors.Is(err, ErrNotActive) {
		t.Errorf("pause of a finished run: %v, want ErrNotActive", err)
	}
	if err := e.m.Pause(ctx, "no-such-run", c.OwnerToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("pause of an unknown run: %v, want ErrNotFound", err)
	}
}

func TestPauseUnsupported(t *testing.T) {
	e := newEnv(t, &scripted{tokens: []string{"a"}}, Config{})
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Pause(context.Background(), c.ID, c.OwnerToken); !errors.Is(err, thinkstream.ErrUnsupported) {
		t.Errorf("pause: %v, want ErrUnsupported", err)
	}
	collect(t, e.m, c.ID)
}

func TestShutdownGrace(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		let   bool // let the running run finish during the grace
		want  thinkstream.RunState
	}{
		{"finishes within grace", time.Minute, true, thinkstream.StateCompleted},
		{"interrupted after grace", 20 * time.Millisecond, false, thinkstream.StateInterrupted},
		{"no grace", 0, false, thinkstream.StateInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &scripted{tokens: []string{"a", "b"}, gate: make(chan struct{}), par: 1}
			e := newEnv(t, eng, Config{ShutdownGrace: tt.grace, StatsEvery: time.Hour})
			ctx := context.Background()
			running, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "running"})
			if err != nil {
				t.Fatal(err)
			}
			queued, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "queued"})
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, e.m, running.ID, thinkstream.StateRunning)
			done := make(chan error, 1)
			go func() { done <- e.m.Shutdown(ctx) }()
			// Queued runs are interrupted at once, grace or not.
			waitState(t, e.m, queued.ID, thinkstream.StateInterrupted)
			if _, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "late"}); !errors.Is(err, ErrShuttingDown) {
				t.Errorf("create during shutdown: %v", err)
			}
			if tt.let {
				close(eng.gate)
			}
			if err := <-done; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			evs := logged(t, e.log, running.ID)
			checkDense(t, evs)
			last := evs[len(evs)-1]
			if last.State != tt.want {
				t.Errorf("running run ended %s, want %s", last.State, tt.want)
			}
			if tt.want == thinkstream.StateInterrupted && (last.Error == nil || !last.Error.Retryable) {
				t.Errorf("interrupted run's error %+v", last.Error)
			}
			qevs := logged(t, e.log, queued.ID)
			if diff := cmp.Diff([]string{"run.created", "run.queued", "run.error", "run.interrupted"}, types(qevs)); diff != "" {
				t.Errorf("queued run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatsEvents(t *testing.T) {
	eng := &scripted{tokens: []string{"<think>a", "b", "</think>c"}, gate: make(chan struct{})}
	e := newEnv(t, eng, Config{StatsEvery: 2 * time.Millisecond})
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	eng.gate <- struct{}{}
	eng.gate <- struct{}{}
	var last *thinkstream.Stats
	waitFor(t, "a stats event after two tokens", func() bool {
		for _, ev := range logged(t, e.log, c.ID) {
			if ev.Type == thinkstream.EventStats && ev.Stats.Tokens == 2 {
				last = ev.Stats
			}
		}
		return last != nil
	})
	if last.ThinkingTokens != 2 || last.ElapsedMS < 0 {
		t.Errorf("stats %+v", last)
	}
	close(eng.gate)
	checkDense(t, collect(t, e.m, c.ID))
}

func TestList(t *testing.T) {
	e := newEnv(t, &scripted{tokens: []string{"a"}}, Config{})
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	slices.Reverse(ids) // newest first
	var got []string
	before := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		list, next, err := e.m.List(ctx, 2, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 2 {
			t.Fatalf("page of %d, limit 2", len(list))
		}
		for _, r := range list {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		before = next
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	list, _, err := e.m.List(ctx, 10, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != ids[2] {
		t.Errorf("list before %s: %d runs", ids[1], len(list))
	}
	for _, id := range ids {
		collect(t, e.m, id)
	}
}
