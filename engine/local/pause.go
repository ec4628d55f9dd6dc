package local

import "github.com/thinkstream/thinkstream/engine/pause"

// ErrUnknownRun is returned by Pause and Resume for a run that is not
// generating on this engine.
var ErrUnknownRun = pause.ErrUnknownRun

// Pause implements thinkstream.Pauser: the run stops after the token in
// progress and keeps its place (and its KV cache and sequence slot) until
// Resume. Pausing a paused run does nothing.
func (e *Engine) Pause(runID string) error { return e.pauses.Pause(runID) }

// Resume implements thinkstream.Pauser.
func (e *Engine) Resume(runID string) error { return e.pauses.Resume(runID) }
