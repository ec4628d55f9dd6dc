package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/runs"
)

func connect(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestRemote: a command reaches the process that serves the run and its
// answer comes back; nobody serving the run is ErrNoWriter at once, also
// after the writer stopped serving it.
func TestRemote(t *testing.T) {
	nc := connect(t)
	writer, sender := NewRemote(nc, nil), NewRemote(nc, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sender.Send(ctx, "r1", runs.Command{Op: runs.OpPing}); !errors.Is(err, runs.ErrNoWriter) {
		t.Fatalf("no writer: err %v, want ErrNoWriter", err)
	}
	var got []runs.Command
	stop, err := writer.Serve("r1", func(_ context.Context, c runs.Command) runs.Reply {
		got = append(got, c)
		if c.Op == runs.OpCancel && c.Token != "secret" {
			return runs.Reply{Error: "forbidden"}
		}
		return runs.Reply{Event: &thinkstream.Event{Seq: 9, Type: thinkstream.EventAnnotation}}
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sender.Send(ctx, "r1", runs.Command{Op: runs.OpCancel, Token: "wrong"})
	if err != nil || rep.Error != "forbidden" {
		t.Errorf("cancel with a wrong token: %+v, %v", rep, err)
	}
	rep, err = sender.Send(ctx, "r1", runs.Command{Op: runs.OpAnnotate, Annotation: &thinkstream.Annotation{Step: 1, Note: "n"}})
	if err != nil || rep.Event == nil || rep.Event.Seq != 9 {
		t.Errorf("annotate: %+v, %v", rep, err)
	}
	if len(got) != 2 || got[1].Annotation == nil || got[1].Annotation.Note != "n" {
		t.Errorf("the writer got %+v", got)
	}
	if _, err := sender.Send(ctx, "r2", runs.Command{Op: runs.OpPing}); !errors.Is(err, runs.ErrNoWriter) {
		t.Errorf("another run: err %v, want ErrNoWriter", err)
	}
	stop()
	if _, err := sender.Send(ctx, "r1", runs.Command{Op: runs.OpPing}); !errors.Is(err, runs.ErrNoWriter) {
		t.Errorf("after stop: err %v, want ErrNoWriter", err)
	}
}
