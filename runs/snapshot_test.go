package runs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
)

// referenceSnapshot builds a snapshot the slow way, independently of the
// fold: the whole log, coalesced by the hub, the digest by the rules of
// docs/protocol.md spelled out here.
func referenceSnapshot(t *testing.T, l Log, id string) *Snapshot {
	t.Helper()
	s := &Snapshot{Events: []json.RawMessage{}, Annotations: []thinkstream.Annotation{}}
	var thinking, answer strings.Builder
	var frames []hub.Frame
	err := l.Read(context.Background(), id, 0, 0, func(r thinkstream.Record) error {
		ev, err := decode(r.Data)
		if err != nil {
			return err
		}
		frames = append(frames, hub.Frame{Seq: ev.Seq, Type: ev.Type, Data: r.Data})
		s.LastSeq = ev.Seq
		switch {
		case ev.Type == thinkstream.EventThinking, ev.Type == thinkstream.EventCode && ev.Channel == "thinking":
			thinking.WriteString(ev.Text)
		case ev.Type == thinkstream.EventAnswer, ev.Type == thinkstream.EventCode:
			answer.WriteString(ev.Text)
		case ev.Type == thinkstream.EventStep:
			s.Steps = ev.Index
		case ev.Type == thinkstream.EventResult:
			s.Result = ev.Answer
		case ev.Type == thinkstream.EventAnnotation:
			s.Annotations = append(s.Annotations, *ev.Annotation)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Thinking, s.Answer = thinking.String(), answer.String()
	frames, err = hub.Coalesce(frames)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		s.Events = append(s.Events, f.Data)
	}
	return s
}

// snapDiff compares snapshots by their JSON, as clients see them.
func snapDiff(t *testing.T, want, got *Snapshot) string {
	t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var wv, gv any
	_ = json.Unmarshal(w, &wv)
	_ = json.Unmarshal(g, &gv)
	return cmp.Diff(wv, gv)
}

var snapTokens = []string{
	"<think>First", " I add.\n\n", "Then I check", " it:\n```python\nprint(", "2+2)\n```\n", "Looks right.",
	"</think>The answer", " is:\n```\n4\n```\n", "So \\boxed{", "4}.",
}

// TestSnapshotLiveMatchesLog checks the live fold against the log after
// every token, with an annotation in the middle, then the cached snapshot
// of the finished run and its renewal after a later annotation.
func TestSnapshotLiveMatchesLog(t *testing.T) {
	eng := &stepper{tokens: snapTokens, next: make(chan struct{}), done: make(chan struct{})}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "2+2"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range snapTokens {
		eng.next <- struct{}{}
		<-eng.done // the token's events are logged
		if i == 3 {
			if _, err := e.m.Annotate(ctx, c.ID, thinkstream.Annotation{Step: 1, Note: "mid"}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.m.Snapshot(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := snapDiff(t, referenceSnapshot(t, e.log, c.ID), got); diff != "" {
			t.Fatalf("after token %d (-log +live):\n%s", i, diff)
		}
	}
	eng.next <- struct{}{} // let it finish
	collect(t, e.m, c.ID)
	waitFor(t, "run to leave the active set", func() bool { q, r := e.m.Active(); return q+r == 0 })
	s1, err := e.m.Snapshot(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := snapDiff(t, referenceSnapshot(t, e.log, c.ID), s1); diff != "" {
		t.Fatalf("finished (-log +cached):\n%s", diff)
	}
	if s1.Result != "4" || !strings.Contains(s1.Thinking, "print(2+2)") || !strings.Contains(s1.Answer, "4\n```") {
		t.Errorf("digest %+v", s1)
	}
	if s2, _ := e.m.Snapshot(ctx, c.ID); s2 != s1 {
		t.Error("a finished run's snapshot was rebuilt, not cached")
	}
	if _, err := e.m.Annotate(ctx, c.ID, thinkstream.Annotation{Step: 2, Note: "after"}); err != nil {
		t.Fatal(err)
	}
	s3, err := e.m.Snapshot(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := snapDiff(t, referenceSnapshot(t, e.log, c.ID), s3); diff != "" {
		t.Fatalf("after a late annotation (-log +snapshot):\n%s", diff)
	}
	if len(s3.Annotations) != 2 {
		t.Errorf("annotations %v", s3.Annotations)
	}
}

// TestSnapshotImmutable: a snapshot handed out does not change as the run
// goes on (it shares memory with the live fold).
func TestSnapshotImmutable(t *testing.T) {
	eng := &scripted{tokens: snapTokens, gate: make(chan struct{})}
	e := newEnv(t, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "2+2"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.m, c.ID, thinkstream.StateRunning)
	eng.gate <- struct{}{}
	eng.gate <- struct{}{}
	var early *Snapshot
	waitFor(t, "two tokens", func() bool {
		early, _ = e.m.Snapshot(ctx, c.ID)
		return early.Thinking == "First I add.\n\n"
	})
	before, _ := json.Marshal(early)
	close(eng.gate)
	collect(t, e.m, c.ID)
	after, _ := json.Marshal(early)
	if string(before) != string(after) {
		t.Errorf("snapshot changed:\n%s\n%s", before, after)
	}
}

// BenchmarkSnapshotActive reads the snapshot of an active run of 18k
// events, as GET /v1/runs/{id} does.
func BenchmarkSnapshotActive(b *testing.B) {
	const n = 18000
	toks := make([]string, n)
	toks[0] = "<think>"
	for i := 1; i < n; i++ {
		toks[i] = " word"
		if i%100 == 0 {
			toks[i] = ".\n\nNext"
		}
	}
	eng := &holding{tokens: toks, hold: make(chan struct{})}
	e := newEnv(b, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		r, err := e.m.Get(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if r.LastSeq >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("run reached only seq %d", r.LastSeq)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := e.m.Snapshot(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if s.LastSeq < n {
			b.Fatalf("snapshot at seq %d", s.LastSeq)
		}
	}
	b.StopTimer()
	close(eng.hold)
}

// holding streams its tokens, then holds the run open until released.
type holding struct {
	tokens []string
	hold   chan struct{}
}

func (h *holding) Name() string { return "holding" }
func (h *holding) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	for _, t := range h.tokens {
		if err := emit(thinkstream.Token{Text: t, ID: -1}); err != nil {
			return thinkstream.Result{}, err
		}
	}
	select {
	case <-h.hold:
	case <-ctx.Done():
	}
	return thinkstream.Result{FinishReason: "stop"}, nil
}

// stepper emits one token per receive on next and reports on done once
// emit returned (the token's events are logged).
type stepper struct {
	tokens     []string
	next, done chan struct{}
}

func (s *stepper) Name() string { return "stepper" }
func (s *stepper) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	for _, t := range s.tokens {
		select {
		case <-s.next:
		case <-ctx.Done():
			return thinkstream.Result{}, ctx.Err()
		}
		err := emit(thinkstream.Token{Text: t, ID: -1})
		s.done <- struct{}{}
		if err != nil {
			return thinkstream.Result{}, err
		}
	}
	select {
	case <-s.next:
	case <-ctx.Done():
	}
	return thinkstream.Result{FinishReason: "stop"}, nil
}
