package runs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/hub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

// scripted is a test engine at the true external edge: it streams fixed
// tokens, optionally blocking before each one until released.
type scripted struct {
	tokens []string
	gate   chan struct{} // when set, one receive per token
	par    int
}

func (s *scripted) Name() string { return "scripted" }
func (s *scripted) Info() thinkstream.EngineInfo {
	return thinkstream.EngineInfo{Model: "scripted", MaxParallel: s.par}
}
func (s *scripted) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	for _, t := range s.tokens {
		if s.gate != nil {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return thinkstream.Result{FinishReason: "cancelled"}, ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			return thinkstream.Result{}, err
		}
		if err := emit(thinkstream.Token{Text: t, ID: -1}); err != nil {
			return thinkstream.Result{}, err
		}
	}
	return thinkstream.Result{FinishReason: "stop", Usage: thinkstream.Usage{PromptTokens: 7}}, nil
}

type env struct {
	log *eventlog.Log
	hub *hub.Hub
	m   *Manager
	dir string
}

func newEnv(t testing.TB, eng thinkstream.Engine, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	return openEnv(t, dir, eng, cfg)
}

func openEnv(t testing.TB, dir string, eng thinkstream.Engine, cfg Config) *env {
	t.Helper()
	return openEnvWrap(t, dir, eng, cfg, nil)
}

// openEnvWrap opens an env whose manager logs through wrap(log) when wrap
// is set (a real log underneath, failing where a test says).
func openEnvWrap(t testing.TB, dir string, eng thinkstream.Engine, cfg Config, wrap func(*eventlog.Log) Log) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(l, hub.Config{Linger: time.Millisecond})
	cfg.Engine, cfg.Log, cfg.Hub = eng, l, h
	if wrap != nil {
		cfg.Log = wrap(l)
	}
	m := New(cfg)
	e := &env{log: l, hub: h, m: m, dir: dir}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Shutdown(sctx)
		l.Close()
	})
	return e
}

func collect(t *testing.T, m *Manager, id string) []thinkstream.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []thinkstream.Event
	for ev, err := range m.Follow(ctx, id, 0) {
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func types(evs []thinkstream.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == thinkstream.EventStats {
			continue
		}
		out = append(out, ev.Type)
	}
	return out
}

func TestRunCompletes(t *testing.T) {
	eng := &scripted{tokens: []string{"<th", "ink>Let me", " think.</think>", "The answer is \\boxed{", "10}."}}
	e := newEnv(t, eng, Config{})
	c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "C(5,3)?"})
	if err != nil {
		t.Fatal(err)
	}
	if c.OwnerToken == "" || c.State != thinkstream.StateQueued {
		t.Fatalf("created %+v", c)
	}
	evs := collect(t, e.m, c.ID)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	want := []string{"run.created", "run.started", "step", "thinking", "thinking", "answer", "answer", "result", "run.completed"}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	last := evs[len(evs)-1]
	if last.Usage == nil || last.Usage.PromptTokens != 7 || last.Usage.CompletionTokens != 5 {
		t.Errorf("terminal usage %+v", last.Usage)
	}
	run, err := e.m.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != thinkstream.StateCompleted || run.Answer != "10" || run.LastSeq != last.Seq {
		t.Errorf("final run %+v", run)
	}
	snap, err := e.m.Snapshot(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Thinking != "Let me think." || snap.Answer != "The answer is \\boxed{10}." || snap.Result != "10" {
		t.Errorf("snapshot %+v", snap)
	}
	if len(snap.Events) >= len(evs) {
		t.Errorf("snapshot has %d events, want fewer than %d (coalesced)", len(snap.Events), len(evs))
	}
}

func TestQueueAndCancel(t *testing.T) {
	eng := &scripted{tokens: strings.Split("a b c d e f", " "), gate: make(chan struct{}), par: 1}
	e := newEnv(t, eng, Config{MaxQueue: 1})
	ctx := context.Background()
	first, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "one"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "three"}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third run: err %v, want ErrQueueFull", err)
	}
	if err := e.m.Cancel(ctx, first.ID, "wrong"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("cancel with wrong token: %v", err)
	}
	eng.gate <- struct{}{}
	if err := e.m.Cancel(ctx, first.ID, first.OwnerToken); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, e.m, first.ID)
	if got := evs[len(evs)-1].Type; got != thinkstream.EventRunCancelled {
		t.Errorf("first ends with %s", got)
	}
	// The queued run starts once the first is gone.
	go func() {
		for range 6 {
			eng.gate <- struct{}{}
		}
	}()
	evs = collect(t, e.m, second.ID)
	want := []string{"run.created", "run.queued", "run.started"}
	if diff := cmp.Diff(want, types(evs)[:3]); diff != "" {
		t.Errorf("queued run (-want +got):\n%s", diff)
	}
	if got := evs[len(evs)-1].Type; got != thinkstream.EventRunCompleted {
		t.Errorf("second ends with %s", got)
	}
}

func TestRecoverInterruptsCrashedRuns(t *testing.T) {
	dir := t.TempDir()
	eng := &scripted{tokens: []string{"x"}, gate: make(chan struct{})}
	e := openEnv(t, dir, eng, Config{})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until it runs, then "crash": close the log under it without
	// letting the manager finish the run.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := e.log.GetRun(ctx, c.ID)
		if r.State == thinkstream.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run never started")
		}
		time.Sleep(time.Millisecond)
	}
	e.log.Close()
	close(eng.gate)

	e2 := openEnv(t, dir, &scripted{}, Config{})
	n, err := e2.m.Recover(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recover = %d, %v", n, err)
	}
	evs := collect(t, e2.m, c.ID)
	if got := evs[len(evs)-1]; got.Type != thinkstream.EventRunInterrupted || got.Error == nil || !got.Error.Retryable {
		t.Errorf("last event %+v", got)
	}
	if n, _ := e2.m.Recover(ctx); n != 0 {
		t.Errorf("second recover ended %d runs", n)
	}
}

// paramsEngine records the parameters each generation was given.
type paramsEngine struct {
	scripted
	got chan thinkstream.Params
}

func (p *paramsEngine) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	p.got <- req.Params
	return p.scripted.Generate(ctx, req, emit)
}

// A server's max_tokens cap ends runs there even when the request (or its
// profile) asks for none or more: `serve --max-tokens 1100` must not run on
// to the profile's 16384.
func TestMaxTokensCapsEveryRun(t *testing.T) {
	tests := []struct {
		cap, asked, want int
	}{
		{cap: 1100, asked: 0, want: 1100},
		{cap: 1100, asked: 5000, want: 1100},
		{cap: 1100, asked: 500, want: 500},
		{cap: 0, asked: 0, want: 0},
		{cap: 0, asked: 700, want: 700},
	}
	for _, tt := range tests {
		eng := &paramsEngine{scripted: scripted{tokens: []string{"x"}}, got: make(chan thinkstream.Params, 1)}
		e := newEnv(t, eng, Config{MaxTokens: tt.cap})
		c, err := e.m.Create(context.Background(), thinkstream.RunRequest{Problem: "p", Params: thinkstream.Params{MaxTokens: tt.asked}})
		if err != nil {
			t.Fatal(err)
		}
		collect(t, e.m, c.ID)
		if got := (<-eng.got).MaxTokens; got != tt.want {
			t.Errorf("cap %d, asked %d: engine got max_tokens %d, want %d", tt.cap, tt.asked, got, tt.want)
		}
	}
}
