package runs

import (
	"context"
	"strings"
	"testing"

	"github.com/thinkstream/thinkstream"
)

// named is a scripted engine with its own name and model.
type named struct {
	scripted
	name string
}

func (n *named) Name() string { return n.name }
func (n *named) Info() thinkstream.EngineInfo {
	return thinkstream.EngineInfo{Model: n.name + "-model", MaxParallel: 1}
}

// textOf is what a run's engine wrote (the parser reads it as thinking).
func textOf(evs []thinkstream.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type == thinkstream.EventThinking || ev.Type == thinkstream.EventAnswer {
			b.WriteString(ev.Text)
		}
	}
	return b.String()
}

// After SetEngine new runs go to the new engine; a run already running and
// one already queued stay on the engine they were created for.
func TestSetEngineKeepsCreatedRunsOnTheirEngine(t *testing.T) {
	oldEng := &named{scripted: scripted{tokens: []string{"old"}, gate: make(chan struct{})}, name: "old"}
	newEng := &named{scripted: scripted{tokens: []string{"new"}}, name: "new"}
	e := newEnv(t, oldEng, Config{})
	ctx := context.Background()
	running, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "a"})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if queued.State != thinkstream.StateQueued {
		t.Fatalf("second run %s, want queued (MaxParallel 1)", queued.State)
	}
	e.m.SetEngine(newEng)
	if info := e.m.EngineInfo(); info.Model != "new-model" {
		t.Fatalf("EngineInfo after the switch: %+v", info)
	}
	after, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if after.Engine != "new" || after.Model != "new-model" {
		t.Fatalf("run created after the switch: engine %s model %s", after.Engine, after.Model)
	}
	close(oldEng.gate) // let the old engine's runs go
	for _, tt := range []struct {
		id, engine, answer string
	}{{running.ID, "old", "old"}, {queued.ID, "old", "old"}, {after.ID, "new", "new"}} {
		evs := collect(t, e.m, tt.id)
		if got := textOf(evs); got != tt.answer {
			t.Errorf("run %s answered %q, want %q; events %v", tt.id, got, tt.answer, types(evs))
		}
		r, err := e.m.Get(ctx, tt.id)
		if err != nil || r.Engine != tt.engine {
			t.Errorf("run %s: engine %q (%v), want %s", tt.id, r.Engine, err, tt.engine)
		}
	}
}
