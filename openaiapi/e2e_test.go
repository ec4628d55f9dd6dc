package openaiapi_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/openai"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/openaiapi"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

type instance struct {
	url string
	mgr *runs.Manager
}

// newInstance starts the whole server (server.New) on 127.0.0.1 around eng.
func newInstance(t *testing.T, eng thinkstream.Engine) instance {
	t.Helper()
	srv := servertest.New(t, server.Config{Engine: eng})
	return instance{url: srv.URL, mgr: srv.Runs}
}

// transcript is what viewers of a run see, reduced to its texts.
type transcript struct {
	reasoning, answer, result string
	steps                     int
	terminal                  string
}

func follow(t *testing.T, ctx context.Context, m *runs.Manager, id string, onEvent func(thinkstream.Event)) transcript {
	t.Helper()
	var tr transcript
	var r, a strings.Builder
	for ev, err := range m.Follow(ctx, id, 0) {
		if err != nil {
			t.Fatalf("follow %s: %v", id, err)
		}
		if onEvent != nil {
			onEvent(ev)
		}
		switch {
		case ev.Type == thinkstream.EventThinking, ev.Type == thinkstream.EventCode && ev.Channel != "answer":
			r.WriteString(ev.Text)
		case ev.Type == thinkstream.EventAnswer, ev.Type == thinkstream.EventCode:
			a.WriteString(ev.Text)
		case ev.Type == thinkstream.EventStep:
			tr.steps++
		case ev.Type == thinkstream.EventResult:
			tr.result = ev.Answer
		case thinkstream.IsTerminal(ev.Type):
			tr.terminal = ev.Type
		}
	}
	tr.reasoning, tr.answer = r.String(), a.String()
	return tr
}

func upstreamEngine(t *testing.T, url string) *openai.Engine {
	t.Helper()
	e, err := openai.New(openai.Config{BaseURL: url + "/v1", Model: openaiapi.DefaultModel,
		TTFTTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestThinkstreamAsUpstream runs one thinkstream as the upstream of another
// over real HTTP: B's run streams from A's OpenAI-compatible API, and
// viewers of both runs must see the same reasoning, answer and result.
func TestThinkstreamAsUpstream(t *testing.T) {
	a := newInstance(t, sim.New(sim.Config{Rate: math.Inf(1), TTFT: -1, Jitter: -1}))
	b := newInstance(t, upstreamEngine(t, a.url))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	created, err := b.mgr.Create(ctx, thinkstream.RunRequest{Problem: "What is 2+2?", Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	got := follow(t, ctx, b.mgr, created.ID, nil)

	list, _, err := a.mgr.List(ctx, 10, "")
	if err != nil || len(list) != 1 || list[0].Source != "openai" {
		t.Fatalf("upstream runs %+v, %v; want one openai run", list, err)
	}
	want := follow(t, ctx, a.mgr, list[0].ID, nil)
	if want.terminal != thinkstream.EventRunCompleted || got.terminal != thinkstream.EventRunCompleted {
		t.Fatalf("terminal events upstream %q downstream %q", want.terminal, got.terminal)
	}
	if want.reasoning == "" || want.answer == "" {
		t.Fatalf("upstream run has no reasoning or answer: %+v", want)
	}
	t.Logf("%d steps, %d reasoning bytes, %d answer bytes, result %q", want.steps, len(want.reasoning), len(want.answer), want.result)
	if got != want {
		t.Errorf("downstream run differs from upstream run\n got %+v\nwant %+v", got, want)
	}
	// B applied the math profile; A must not have appended its suffix again.
	if p := list[0].Problem; strings.Count(p, "within \\boxed{}") != 1 {
		t.Errorf("upstream problem %q: want the math suffix exactly once", p)
	}
}

// TestCancelPropagatesUpstream cancels the downstream run mid-reasoning: the
// upstream engine drops its request and A's API cancels A's run.
func TestCancelPropagatesUpstream(t *testing.T) {
	a := newInstance(t, sim.New(sim.Config{Rate: 200, TTFT: -1, Jitter: -1}))
	b := newInstance(t, upstreamEngine(t, a.url))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	created, err := b.mgr.Create(ctx, thinkstream.RunRequest{Problem: "What is 2+2?", Source: "api",
		Params: thinkstream.Params{MaxTokens: 40000}})
	if err != nil {
		t.Fatal(err)
	}
	cancelled := false
	got := follow(t, ctx, b.mgr, created.ID, func(ev thinkstream.Event) {
		if ev.Type == thinkstream.EventThinking && !cancelled {
			cancelled = true
			if err := b.mgr.CancelAny(ctx, created.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	if got.terminal != thinkstream.EventRunCancelled {
		t.Fatalf("downstream ended with %q", got.terminal)
	}
	list, _, err := a.mgr.List(ctx, 10, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("upstream runs %+v, %v", list, err)
	}
	for {
		run, err := a.mgr.Get(ctx, list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.State.Terminal() {
			if run.State != thinkstream.StateCancelled {
				t.Errorf("upstream run ended %s, want cancelled", run.State)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("upstream run still %s after the downstream cancel", run.State)
		case <-time.After(5 * time.Millisecond): // poll the run's state until the deadline
		}
	}
}
