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
