package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrUnknownRun is returned by Pause and Resume for a run that is not
// generating on this engine.
var ErrUnknownRun = errors.New("local: no such run is generating")

// pauseGate blocks a generation between tokens while it is paused. The
// generating goroutine keeps its KV cache meanwhile, so resuming costs
// nothing.
type pauseGate struct {
	mu     sync.Mutex
	paused bool
	wake   chan struct{} // closed on resume
	// blocked, when set (tests), is called each time a generation starts
	// waiting, so a test knows it is parked without sleeping.
	blocked func()
}

func (g *pauseGate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		g.wake = make(chan struct{})
	}
}

func (g *pauseGate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused = false
		close(g.wake)
	}
}

// wait returns at once when not paused, otherwise when resumed or when ctx
// ends; it reports how long it blocked.
func (g *pauseGate) wait(ctx context.Context) (time.Duration, error) {
	g.mu.Lock()
	paused, wake := g.paused, g.wake
	g.mu.Unlock()
	if !paused {
		return 0, ctx.Err()
	}
	start := time.Now()
	if g.blocked != nil {
		g.blocked()
	}
	select {
	case <-wake:
		return time.Since(start), ctx.Err()
	case <-ctx.Done():
		return time.Since(start), ctx.Err()
	}
}

// register makes a run pausable by id for the duration of its generation.
// Runs without an id cannot be paused.
func (e *Engine) register(runID string) (*pauseGate, func(), error) {
	g := &pauseGate{blocked: e.pauseHook}
	if runID == "" {
		return g, func() {}, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.gates[runID]; dup {
		return nil, nil, fmt.Errorf("local: run %q is already generating", runID)
	}
	e.gates[runID] = g
	return g, func() {
		e.mu.Lock()
		delete(e.gates, runID)
		e.mu.Unlock()
	}, nil
}

func (e *Engine) gate(runID string) (*pauseGate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.gates[runID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRun, runID)
	}
	return g, nil
}

// Pause implements thinkstream.Pauser: the run stops after the token in
// progress and keeps its place (and its KV cache and sequence slot) until
// Resume. Pausing a paused run does nothing.
func (e *Engine) Pause(runID string) error {
	g, err := e.gate(runID)
	if err != nil {
		return err
	}
	g.pause()
	return nil
}

// Resume implements thinkstream.Pauser.
func (e *Engine) Resume(runID string) error {
	g, err := e.gate(runID)
	if err != nil {
		return err
	}
	g.resume()
	return nil
}
