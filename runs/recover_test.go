package runs

import (
	"context"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// A run a crash cut short is ended with the tokens it had streamed, not
// zero: its usage (and the "run ended" log line) come from what the log kept.
func TestRecoverCountsTheLoggedTokens(t *testing.T) {
	dir := t.TempDir()
	eng := &scripted{tokens: []string{"<think>", "one ", "two ", "</think>", "three", "four"}, gate: make(chan struct{})}
	e := openEnv(t, dir, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p"})
	if err != nil {
		t.Fatal(err)
	}
	// Five of the six tokens; the run waits for the sixth.
	for range 5 {
		eng.gate <- struct{}{}
	}
	// Wait until the fifth token's event is in the log, then "crash".
	deadline := time.Now().Add(10 * time.Second)
	for {
		var answer bool
		last, _ := e.log.LastSeq(ctx, c.ID)
		_ = e.log.Read(ctx, c.ID, 0, last, func(r thinkstream.Record) error {
			answer = answer || r.Type == thinkstream.EventAnswer
			return nil
		})
		if answer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the answer's token never reached the log")
		}
		time.Sleep(time.Millisecond)
	}
	e.log.Close()
	close(eng.gate)

	e2 := openEnv(t, dir, &scripted{}, Config{})
	if n, err := e2.m.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recover = %d, %v", n, err)
	}
	evs := collect(t, e2.m, c.ID)
	var thinking, answer int
	for _, ev := range evs {
		switch ev.Type {
		case thinkstream.EventThinking:
			thinking++
		case thinkstream.EventAnswer:
			answer++
		}
	}
	got := evs[len(evs)-1]
	if got.Type != thinkstream.EventRunInterrupted || got.Usage == nil {
		t.Fatalf("last event %+v", got)
	}
	if got.Usage.CompletionTokens != thinking+answer || got.Usage.CompletionTokens < 3 || got.Usage.ReasoningTokens != thinking {
		t.Fatalf("usage %+v; the log holds %d thinking and %d answer events", got.Usage, thinking, answer)
	}
}

// A run a restart continues keeps its counts and its budget: the new
// attempt is asked for what max_tokens leaves after the logged tokens,
// the end's usage counts every attempt's tokens, and the rate in stats
// counts the new attempt's tokens over its own time (it read ~1e-7 when
// it divided the logged count by the time since the zero time).
func TestResumedRunKeepsCountsAndBudget(t *testing.T) {
	dir := t.TempDir()
	eng := &scripted{tokens: []string{"<think>", "one ", "two ", "three ", "four ", "five"}, gate: make(chan struct{})}
	e := openEnv(t, dir, eng, Config{StatsEvery: time.Hour})
	ctx := context.Background()
	c, err := e.m.Create(ctx, thinkstream.RunRequest{Problem: "p", Params: thinkstream.Params{MaxTokens: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // "<think>", "one ", "two ", "three "
		eng.gate <- struct{}{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		thinking := 0
		last, _ := e.log.LastSeq(ctx, c.ID)
		_ = e.log.Read(ctx, c.ID, 0, last, func(r thinkstream.Record) error {
			if r.Type == thinkstream.EventThinking {
				thinking++
			}
			return nil
		})
		if thinking == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third thinking token never reached the log")
		}
		time.Sleep(time.Millisecond)
	}
	e.log.Close()
	close(eng.gate)

	next := &paramsEngine{scripted: scripted{tokens: []string{"six ", "seven ", "</think>", "8"}}, got: make(chan thinkstream.Params, 1)}
	e2 := openEnv(t, dir, next, Config{ResumeInterrupted: true, StatsEvery: time.Millisecond})
	if n, err := e2.m.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recover = %d, %v", n, err)
	}
	evs := collect(t, e2.m, c.ID)
	if got := (<-next.got).MaxTokens; got != 10-4 {
		t.Errorf("the continuation was asked for %d tokens, want %d (10 less the 4 logged)", got, 10-4)
	}
	resumed := false
	for _, ev := range evs {
		resumed = resumed || ev.Type == thinkstream.EventRunResumed
		if ev.Type == thinkstream.EventStats && resumed && ev.Stats.TokensPerSec != 0 && ev.Stats.TokensPerSec < 1 {
			t.Errorf("stats after the resume: %+v", ev.Stats)
		}
		if ev.Type == thinkstream.EventStats && resumed && ev.Stats.Tokens >= 4 && ev.Stats.ThinkingTokens < 3 {
			t.Errorf("stats after the resume lost the logged thinking tokens: %+v", ev.Stats)
		}
	}
	last := evs[len(evs)-1]
	if !resumed || last.Type != thinkstream.EventRunCompleted || last.Usage == nil {
		t.Fatalf("resumed %v, last event %+v", resumed, last)
	}
	if last.Usage.CompletionTokens != 8 || last.Usage.ReasoningTokens < 5 {
		t.Errorf("usage %+v, want 8 completion tokens (4 logged + 4 new), at least 5 of them reasoning", last.Usage)
	}
}
