package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/hub"
)

// logged reads a run's whole log.
func logged(t *testing.T, l Log, id string) []thinkstream.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []thinkstream.Event
	err := l.Read(ctx, id, 0, 0, func(r thinkstream.Record) error {
		ev, err := decode(r.Data)
		out = append(out, ev)
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return out
}

// checkDense fails unless seqs run 1, 2, 3, … and t never lies outside the
// run's life (a t counted from the zero time is ~9e15 ms).
func checkDense(t *testing.T, evs []thinkstream.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d (%s) has seq %d", i, ev.Type, ev.Seq)
		}
		if ev.T < 0 || ev.T > time.Hour.Milliseconds() {
			t.Fatalf("event %d (%s) has t %d ms", i, ev.Type, ev.T)
		}
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitState(t *testing.T, m *Manager, id string, state thinkstream.RunState) {
	t.Helper()
	waitFor(t, fmt.Sprintf("run %s to be %s", id, state), func() bool {
		r, err := m.Get(context.Background(), id)
		return err == nil && r.State == state
	})
}

// annotateConcurrently sends n annotations at once and returns their seqs.
func annotateConcurrently(m *Manager, id string, n int) ([]int64, error) {
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ev, err := m.Annotate(context.Background(), id, thinkstream.Annotation{Step: 1, Note: fmt.Sprint(i)})
			seqs[i], errs[i] = ev.Seq, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("annotation %d: %w", i, err)
		}
	}
	return seqs, nil
}

func decode(data []byte) (thinkstream.Event, error) {
	var ev thinkstream.Event
	err := json.Unmarshal(data, &ev)
	return ev, err
}

// checkAnnotations fails unless the log holds exactly the n notes 0..n-1
// at the seqs the callers were told.
func checkAnnotations(t *testing.T, evs []thinkstream.Event, seqs []int64, n int) {
	t.Helper()
	notes := map[string]int64{}
	for _, ev := range evs {
		if ev.Type == thinkstream.EventAnnotation {
			if _, dup := notes[ev.Annotation.Note]; dup {
				t.Fatalf("note %s logged twice", ev.Annotation.Note)
			}
			notes[ev.Annotation.Note] = ev.Seq
		}
	}
	if len(notes) != n {
		t.Fatalf("%d annotations logged, want %d", len(notes), n)
	}
	for i, seq := range seqs {
		if got := notes[fmt.Sprint(i)]; got != seq {
			t.Errorf("annotation %d: told seq %d, logged at %d", i, seq, got)
		}
	}
}

// finishedRun runs a short run to its end and returns it and its events.
func finishedRun(t *testing.T, e *env) (Created, []thinkstream.Event) {
	t.Helper()
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	before := collect(t, e.m, c.ID)
	waitFor(t, "run to leave the active set", func() bool { q, r := e.m.Active(); return q+r == 0 })
	return c, before
}

func TestAnnotateFinishedConcurrently(t *testing.T) {
	e := newEnv(t, &scripted{tokens: []string{"<think>a", "</think>b"}}, Config{})
	ctx := context.Background()
	c, before := finishedRun(t, e)
	snap, err := e.m.Snapshot(ctx, c.ID) // cached now; annotations must drop it
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Annotations) != 0 {
		t.Fatalf("annotations before annotating: %v", snap.Annotations)
	}

	const n = 50
	seqs, err := annotateConcurrently(e.m, c.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	evs := logged(t, e.log, c.ID)
	checkDense(t, evs)
	if len(evs) != len(before)+n {
		t.Fatalf("log has %d events, want %d + %d", len(evs), len(before), n)
	}
	checkAnnotations(t, evs, seqs, n)
	term := before[len(before)-1]
	for _, ev := range evs[len(before):] {
		if ev.T < term.T {
			t.Fatalf("annotation at t %d before the terminal event's %d", ev.T, term.T)
		}
	}
	snap, err = e.m.Snapshot(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Annotations) != n || snap.LastSeq != evs[len(evs)-1].Seq {
		t.Errorf("snapshot after annotating: %d annotations, last seq %d", len(snap.Annotations), snap.LastSeq)
	}
	if run, err := e.m.Get(ctx, c.ID); err != nil || run.LastSeq != evs[len(evs)-1].Seq {
		t.Errorf("run's last_seq after annotating = %d (%v), want %d", run.LastSeq, err, evs[len(evs)-1].Seq)
	}
}

// TestAnnotateFinishedFromTwoProcesses: two managers on one log (two
// gateways of a cluster) annotate a finished run at once. Each reads where
// the log ends; without the fence both would number the same seq and the
// log's dedup by run and seq would drop one of the two notes silently.
func TestAnnotateFinishedFromTwoProcesses(t *testing.T) {
	e := newEnv(t, &scripted{tokens: []string{"<think>a", "</think>b"}}, Config{})
	m2 := New(Config{Engine: &scripted{}, Log: e.log, Hub: hub.New(e.log, hub.Config{Linger: time.Millisecond})})
	t.Cleanup(func() { _ = m2.Shutdown(context.Background()) })
	ctx := context.Background()
	c, before := finishedRun(t, e)

	const n = 40
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		m := e.m
		if i%2 == 1 {
			m = m2
		}
		wg.Go(func() {
			ev, err := m.Annotate(ctx, c.ID, thinkstream.Annotation{Step: 1, Note: fmt.Sprint(i)})
			seqs[i], errs[i] = ev.Seq, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("annotation %d: %v", i, err)
		}
	}
	evs := logged(t, e.log, c.ID)
	checkDense(t, evs)
	if len(evs) != len(before)+n {
		t.Fatalf("log has %d events, want %d + %d", len(evs), len(before), n)
	}
	checkAnnotations(t, evs, seqs, n)
	if run, err := m2.Get(ctx, c.ID); err != nil || run.LastSeq != evs[len(evs)-1].Seq {
		t.Errorf("run's last_seq after annotating = %d (%v), want %d", run.LastSeq, err, evs[len(evs)-1].Seq)
	}
}

func TestAnnotateLiveConcurrently(t *testing.T) {
	eng := &scripted{tokens: []string{"<think>a", "b", "</think>c"}, gate: make(chan struct{})}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.m, c.ID, thinkstream.StateRunning)
	eng.gate <- struct{}{} // one token, then annotations race the rest
	const n = 50
	var seqs []int64
	var aerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		seqs, aerr = annotateConcurrently(e.m, c.ID, n)
	}()
	eng.gate <- struct{}{}
	<-done
	close(eng.gate)
	if aerr != nil {
		t.Fatal(aerr)
	}
	evs := collect(t, e.m, c.ID)
	checkDense(t, evs)
	checkAnnotations(t, evs, seqs, n)
	if got := evs[len(evs)-1].Type; got != thinkstream.EventRunCompleted {
		t.Fatalf("last event %s", got)
	}
	if diff := cmp.Diff(evs, logged(t, e.log, c.ID)); diff != "" {
		t.Errorf("live stream and log differ (-live +log):\n%s", diff)
	}
}

// failLog is the real log with appends that fail where fail says.
type failLog struct {
	*eventlog.Log
	mu   sync.Mutex
	fail func(recs []thinkstream.Record) bool
}

var errInjected = fmt.Errorf("injected append failure")

func (f *failLog) Append(ctx context.Context, id string, recs []thinkstream.Record) error {
	f.mu.Lock()
	fail := f.fail != nil && f.fail(recs)
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Log.Append(ctx, id, recs)
}

func (f *failLog) AppendAfter(ctx context.Context, id string, fence uint64, recs []thinkstream.Record) error {
	f.mu.Lock()
	fail := f.fail != nil && f.fail(recs)
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Log.AppendAfter(ctx, id, fence, recs)
}

func (f *failLog) set(fail func(recs []thinkstream.Record) bool) {
	f.mu.Lock()
	f.fail = fail
	f.mu.Unlock()
}

func hasType(typ string) func([]thinkstream.Record) bool {
	return func(recs []thinkstream.Record) bool {
		for _, r := range recs {
			if r.Type == typ {
				return true
			}
		}
		return false
	}
}

func newFailEnv(t *testing.T, eng thinkstream.Engine, cfg Config) (*env, *failLog) {
	t.Helper()
	var fl *failLog
	e := openEnvWrap(t, t.TempDir(), eng, cfg, func(l *eventlog.Log) Log {
		fl = &failLog{Log: l}
		return fl
	})
	return e, fl
}

// followEnds fails unless following the run ends (with or without error)
// before the deadline: a topic left open would keep it waiting forever.
func followEnds(t *testing.T, m *Manager, id string) []thinkstream.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []thinkstream.Event
	for ev, err := range m.Follow(ctx, id, 0) {
		if ctx.Err() != nil {
			t.Fatalf("follow %s did not end: %v", id, err)
		}
		if err != nil {
			break
		}
		out = append(out, ev)
	}
	if ctx.Err() != nil {
		t.Fatalf("follow %s did not end", id)
	}
	return out
}

func TestTerminalAppendFailsClosesTopic(t *testing.T) {
	e, fl := newFailEnv(t, &scripted{tokens: []string{"a", "b"}}, Config{StatsEvery: time.Hour})
	fl.set(hasType(thinkstream.EventRunCompleted))
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	evs := followEnds(t, e.m, c.ID)
	if n := len(evs); n == 0 || thinkstream.IsTerminal(evs[n-1].Type) {
		t.Fatalf("followed %v, want the events before the failed terminal one", types(evs))
	}
	waitFor(t, "run to leave the active set", func() bool { q, r := e.m.Active(); return q+r == 0 })
	if v := e.hub.Viewers(c.ID); v != 0 {
		t.Errorf("%d viewers left on the topic", v)
	}
}

func TestTokenAppendFailsEndsRun(t *testing.T) {
	e, fl := newFailEnv(t, &scripted{tokens: []string{"a", "b", "c"}}, Config{StatsEvery: time.Hour})
	fl.set(hasType(thinkstream.EventThinking))
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	evs := followEnds(t, e.m, c.ID)
	want := []string{"run.created", "run.started", "run.error", "run.failed"}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkDense(t, evs)
	waitState(t, e.m, c.ID, thinkstream.StateFailed)
}

func TestAnnounceFailsEndsRun(t *testing.T) {
	for _, queued := range []bool{false, true} {
		t.Run(fmt.Sprintf("queued=%v", queued), func(t *testing.T) {
			eng := &scripted{tokens: []string{"a"}, gate: make(chan struct{}), par: 1}
			e, fl := newFailEnv(t, eng, Config{StatsEvery: time.Hour})
			ctx := context.Background()
			if queued {
				first, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "first"})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { close(eng.gate); collect(t, e.m, first.ID) }()
			}
			fl.set(hasType(thinkstream.EventRunCreated))
			_, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
			if err == nil {
				t.Fatal("create succeeded with a failing log")
			}
			fl.set(nil)
			list, _, err := e.m.List(ctx, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			var id string
			for _, r := range list {
				if r.Problem == "p" {
					id = r.ID
				}
			}
			if id == "" {
				t.Fatal("the stored run is not listed")
			}
			waitState(t, e.m, id, thinkstream.StateFailed)
			evs := followEnds(t, e.m, id)
			if diff := cmp.Diff([]string{"run.error", "run.failed"}, types(evs)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			checkDense(t, evs)
			if q, r := e.m.Active(); q != 0 || r != btoi(queued) {
				t.Errorf("active = %d queued, %d running", q, r)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// blockLog is the real log whose appends of one event type wait until
// released, telling the test when one is waiting.
type blockLog struct {
	*eventlog.Log
	typ     string
	entered chan struct{}
	release chan struct{}
}

func (b *blockLog) Append(ctx context.Context, id string, recs []thinkstream.Record) error {
	if hasType(b.typ)(recs) {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Log.Append(ctx, id, recs)
}

func (b *blockLog) AppendAfter(ctx context.Context, id string, fence uint64, recs []thinkstream.Record) error {
	if hasType(b.typ)(recs) {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Log.AppendAfter(ctx, id, fence, recs)
}

// TestSlowAppendDoesNotBlockReaders: while a run's append hangs, its
// metadata and snapshot are still served.
func TestSlowAppendDoesNotBlockReaders(t *testing.T) {
	bl := &blockLog{typ: thinkstream.EventThinking, entered: make(chan struct{}), release: make(chan struct{})}
	e := openEnvWrap(t, t.TempDir(), &scripted{tokens: []string{"a"}}, Config{StatsEvery: time.Hour},
		func(l *eventlog.Log) Log { bl.Log = l; return bl })
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	<-bl.entered
	var once sync.Once
	unblock := func() { once.Do(func() { close(bl.release) }) }
	t.Cleanup(unblock) // registered after the env's, so it runs first
	read := make(chan error, 1)
	go func() {
		r, err := e.m.Get(ctx, c.ID)
		if err == nil && r.State != thinkstream.StateRunning {
			err = fmt.Errorf("state %s", r.State)
		}
		if err == nil {
			_, err = e.m.Snapshot(ctx, c.ID)
		}
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get/Snapshot blocked behind a pending append")
	}
	unblock()
	checkDense(t, collect(t, e.m, c.ID))
}

// putFailLog is the real log whose first PutRun fails.
type putFailLog struct {
	*eventlog.Log
	mu     sync.Mutex
	failed bool
}

func (p *putFailLog) PutRun(ctx context.Context, run thinkstream.Run) error {
	p.mu.Lock()
	first := !p.failed
	p.failed = true
	p.mu.Unlock()
	if first {
		return errInjected
	}
	return p.Log.PutRun(ctx, run)
}

func TestStoreFailsCreatesNothing(t *testing.T) {
	e := openEnvWrap(t, t.TempDir(), &scripted{tokens: []string{"a"}}, Config{},
		func(l *eventlog.Log) Log { return &putFailLog{Log: l} })
	ctx := context.Background()
	if _, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"}); err == nil {
		t.Fatal("create succeeded with a failing store")
	}
	if q, r := e.m.Active(); q+r != 0 {
		t.Fatalf("active = %d queued, %d running", q, r)
	}
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "q"})
	if err != nil {
		t.Fatal(err)
	}
	checkDense(t, collect(t, e.m, c.ID))
	list, _, err := e.m.List(ctx, 10, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %d runs, %v", len(list), err)
	}
}
