// Package pause lets an engine pause its generations by run id: a
// generation registers its run, waits at its gate between tokens, and
// Pause/Resume (thinkstream.Pauser) close and open the gate. The
// generating goroutine keeps its state meanwhile (the local engine its KV
// cache), so resuming costs nothing.
package pause

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrUnknownRun is returned by Pause and Resume for a run that is not
// generating.
var ErrUnknownRun = errors.New("no such run is generating")

// Gate blocks a generation between tokens while it is paused.
type Gate struct {
	mu      sync.Mutex
	paused  bool
	wake    chan struct{} // closed on resume
	blocked func()
}

func (g *Gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		g.wake = make(chan struct{})
	}
}

func (g *Gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused = false
		close(g.wake)
	}
}

// Wait returns at once when not paused, otherwise when resumed or when ctx
// ends; it reports how long it blocked.
func (g *Gate) Wait(ctx context.Context) (time.Duration, error) {
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

// Registry holds the gates of the runs generating on one engine. The zero
// Registry is ready to use.
type Registry struct {
	// Blocked, when set (tests), is called each time a generation starts
	// waiting at its gate, so a test knows it is parked without sleeping.
	Blocked func()

	mu    sync.Mutex
	gates map[string]*Gate
}

// Register makes a run pausable by id until the returned function is
// called. Runs without an id get a gate that nothing can close.
func (r *Registry) Register(runID string) (*Gate, func(), error) {
	g := &Gate{blocked: r.Blocked}
	if runID == "" {
		return g, func() {}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.gates[runID]; dup {
		return nil, nil, fmt.Errorf("run %q is already generating", runID)
	}
	if r.gates == nil {
		r.gates = make(map[string]*Gate)
	}
	r.gates[runID] = g
	return g, func() {
		r.mu.Lock()
		delete(r.gates, runID)
		r.mu.Unlock()
	}, nil
}

func (r *Registry) gate(runID string) (*Gate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gates[runID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRun, runID)
	}
	return g, nil
}

// Pause stops the run after the token in progress; it keeps its place
// until Resume. Pausing a paused run does nothing.
func (r *Registry) Pause(runID string) error {
	g, err := r.gate(runID)
	if err != nil {
		return err
	}
	g.pause()
	return nil
}

// Resume lets a paused run go on. Resuming a running one does nothing.
func (r *Registry) Resume(runID string) error {
	g, err := r.gate(runID)
	if err != nil {
		return err
	}
	g.resume()
	return nil
}
