// Package cluster connects the processes that share one NATS JetStream
// (gateways and workers): commands for a run travel over NATS
// request/reply to the process that writes it.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/thinkstream/thinkstream/runs"
)

// SendTimeout bounds a command's round trip when the caller's context has
// no deadline of its own.
const SendTimeout = 10 * time.Second

// Remote is runs.Remote over NATS: the writer of run X answers on the
// subject thinkstream.run.X.cmd, so a command reaches exactly the one
// process that writes X, and no process at all yields "no responders" at
// once instead of a timeout.
type Remote struct {
	nc  *nats.Conn
	log *slog.Logger
}

// NewRemote returns a Remote on nc.
func NewRemote(nc *nats.Conn, logger *slog.Logger) *Remote {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Remote{nc: nc, log: logger}
}

func commandSubject(runID string) string { return "thinkstream.run." + runID + ".cmd" }

// Serve answers commands for runID with handle until stop is called.
func (r *Remote) Serve(runID string, handle func(context.Context, runs.Command) runs.Reply) (func(), error) {
	sub, err := r.nc.Subscribe(commandSubject(runID), func(msg *nats.Msg) {
		var cmd runs.Command
		rep := runs.Reply{Error: "internal"}
		if err := json.Unmarshal(msg.Data, &cmd); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), SendTimeout)
			rep = handle(ctx, cmd)
			cancel()
		}
		data, _ := json.Marshal(rep)
		if err := msg.Respond(data); err != nil {
			r.log.Warn("cluster: answer a command", "run", runID, "op", cmd.Op, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: serve commands of %s: %w", runID, err)
	}
	// The subscription must be known to the server before anyone is told
	// the run exists, or a command sent at once finds no responder.
	if err := r.nc.FlushTimeout(5 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("cluster: serve commands of %s: %w", runID, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Send delivers cmd to the writer of runID.
func (r *Remote) Send(ctx context.Context, runID string, cmd runs.Command) (runs.Reply, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return runs.Reply{}, fmt.Errorf("cluster: encode command: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, SendTimeout)
		defer cancel()
	}
	msg, err := r.nc.RequestWithContext(ctx, commandSubject(runID), data)
	if errors.Is(err, nats.ErrNoResponders) {
		return runs.Reply{}, runs.ErrNoWriter
	}
	if err != nil {
		return runs.Reply{}, fmt.Errorf("cluster: %s %s: %w", cmd.Op, runID, err)
	}
	var rep runs.Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return runs.Reply{}, fmt.Errorf("cluster: decode reply: %w", err)
	}
	return rep, nil
}
