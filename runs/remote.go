package runs

import (
	"context"
	"errors"
	"fmt"

	"github.com/thinkstream/thinkstream"
)

// Remote carries commands between the processes that share one log (the
// gateways and workers of a cluster): each run's writer answers the
// commands for its run, and a process asked about a run that another one
// writes sends the command there. nil in Config: this process writes every
// run it knows of (a single server).
type Remote interface {
	// Serve makes this process answer commands for a run it now writes,
	// until stop is called.
	Serve(runID string, handle func(context.Context, Command) Reply) (stop func(), err error)
	// Send delivers a command to the run's writer and returns its reply;
	// ErrNoWriter when no process answers for the run.
	Send(ctx context.Context, runID string, cmd Command) (Reply, error)
}

// ErrNoWriter is returned by Remote.Send when no process writes the run.
var ErrNoWriter = errors.New("runs: no process writes this run")

// Command ops.
const (
	OpCancel    = "cancel"
	OpCancelAny = "cancel-any" // the server's own front doors, no owner check
	OpPause     = "pause"
	OpResume    = "resume"
	OpAnnotate  = "annotate"
	OpPing      = "ping" // is anyone writing the run?
)

// Command is an operation on a run, sent to the process that writes it.
type Command struct {
	Op         string                  `json:"op"`
	Token      string                  `json:"token,omitempty"`
	Annotation *thinkstream.Annotation `json:"annotation,omitempty"`
}

// Reply is a command's outcome: the error as a code that maps back to
// this package's errors, and the event an annotation logged.
type Reply struct {
	Error string             `json:"error,omitempty"`
	Event *thinkstream.Event `json:"event,omitempty"`
}

// errorCodes name the errors a reply can carry; anything else travels
// as "internal" so that no internal text crosses to another process.
var errorCodes = []struct {
	code string
	err  error
}{
	{"not_found", ErrNotFound},
	{"not_active", ErrNotActive},
	{"forbidden", ErrForbidden},
	{"shutting_down", ErrShuttingDown},
	{"unsupported", thinkstream.ErrUnsupported},
}

func replyOf(ev *thinkstream.Event, err error) Reply {
	if err == nil {
		return Reply{Event: ev}
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return Reply{Error: c.code}
		}
	}
	return Reply{Error: "internal"}
}

func (r Reply) err() error {
	if r.Error == "" {
		return nil
	}
	for _, c := range errorCodes {
		if r.Error == c.code {
			return c.err
		}
	}
	return fmt.Errorf("runs: the run's writer failed the command (%s)", r.Error)
}

// isLocal reports whether this process writes the run.
func (m *Manager) isLocal(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active[id] != nil
}

// forward sends a command for a run this process does not write to the
// process that does. It reports handled false when the command is this
// process's to do after all: nobody writes the run (a finished run's
// annotation), or no Remote is configured.
func (m *Manager) forward(ctx context.Context, id string, cmd Command) (ev *thinkstream.Event, handled bool, err error) {
	if m.cfg.Remote == nil || m.isLocal(id) {
		return nil, false, nil
	}
	run, err := m.Get(ctx, id)
	if err != nil {
		return nil, true, err
	}
	if run.State.Terminal() {
		return nil, false, nil
	}
	rep, err := m.cfg.Remote.Send(ctx, id, cmd)
	if errors.Is(err, ErrNoWriter) && run.State == thinkstream.StateQueued && (cmd.Op == OpCancel || cmd.Op == OpCancelAny) {
		// Waiting in a cluster's work queue: no worker has it yet.
		return nil, true, m.cancelUntaken(ctx, id, cmd)
	}
	if errors.Is(err, ErrNoWriter) {
		// Stored as live but written by no one: its process died, and
		// its recovery will end or resume it.
		return nil, true, ErrNotActive
	}
	if err != nil {
		return nil, true, fmt.Errorf("runs: send %s for %s: %w", cmd.Op, id, err)
	}
	return rep.Event, true, rep.err()
}

// serve answers commands for a run this process writes. They are carried
// out locally only: a run that ended meanwhile is not sent on again.
func (m *Manager) serve(r *run) {
	if m.cfg.Remote == nil {
		return
	}
	id := r.meta.ID
	stop, err := m.cfg.Remote.Serve(id, func(ctx context.Context, cmd Command) Reply {
		switch cmd.Op {
		case OpPing:
			return Reply{}
		case OpCancel:
			return replyOf(nil, m.cancelLocal(ctx, id, cmd.Token))
		case OpCancelAny:
			return replyOf(nil, m.cancelAnyLocal(ctx, id))
		case OpPause, OpResume:
			return replyOf(nil, m.pauseResumeLocal(ctx, id, cmd.Token, cmd.Op == OpPause))
		case OpAnnotate:
			if cmd.Annotation == nil {
				return Reply{Error: "internal"}
			}
			ev, err := m.annotateLocal(ctx, id, *cmd.Annotation)
			return replyOf(&ev, err)
		}
		return Reply{Error: "internal"}
	})
	if err != nil {
		// The run still runs and is served here; only other processes
		// cannot reach it.
		m.cfg.Logger.Warn("run: answer commands from other processes", "run", id, "err", err)
		return
	}
	r.mu.Lock()
	r.unserve = stop
	r.mu.Unlock()
}

// alive reports whether another process writes the run (recovery must
// leave such runs alone).
func (m *Manager) alive(ctx context.Context, id string) bool {
	if m.cfg.Remote == nil {
		return false
	}
	_, err := m.cfg.Remote.Send(ctx, id, Command{Op: OpPing})
	return err == nil
}
