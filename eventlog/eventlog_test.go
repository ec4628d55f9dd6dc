package eventlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

func openTest(t *testing.T, dir string) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func recs(from, to int64, prefix string) []Record {
	var out []Record
	for s := from; s <= to; s++ {
		out = append(out, Record{Seq: s, Data: []byte(fmt.Sprintf(`{"seq":%d,"text":%q}`, s, prefix))})
	}
	return out
}

func readAll(t *testing.T, l *Log, run string, after, until int64) []int64 {
	t.Helper()
	var got []int64
	err := l.Read(context.Background(), run, after, until, func(r Record) error {
		got = append(got, r.Seq)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s after %d: %v", run, after, err)
	}
	return got
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestAppendReadRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	// Interleave two runs so their stream sequences are not contiguous.
	for i := int64(0); i < 10; i++ {
		if err := l.Append(ctx, "runa", recs(i*100+1, i*100+100, "a")); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(ctx, "runb", recs(i*7+1, i*7+7, "b")); err != nil {
			t.Fatal(err)
		}
	}
	// A retried publish of an already logged seq is deduplicated.
	if err := l.Append(ctx, "runb", recs(70, 70, "b")); err != nil {
		t.Fatal(err)
	}
	for _, after := range []int64{0, 1, 255, 256, 257, 600, 999, 1000} {
		if diff := cmp.Diff(seqRange(after+1, 1000), readAll(t, l, "runa", after, 0)); diff != "" {
			t.Errorf("runa after %d (-want +got):\n%s", after, diff)
		}
	}
	if diff := cmp.Diff(seqRange(11, 20), readAll(t, l, "runa", 10, 20)); diff != "" {
		t.Errorf("bounded read (-want +got):\n%s", diff)
	}
	if got, _ := l.LastSeq(ctx, "runb"); got != 70 {
		t.Errorf("last seq runb = %d, want 70", got)
	}
	run := thinkstream.Run{ID: "runa", State: thinkstream.StateRunning, Problem: "p", OwnerKey: "k3y", Taken: true, InWorkQueue: true}
	if err := l.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// After a restart the index is gone; reads must still position correctly.
	l = openTest(t, dir)
	defer l.Close()
	if diff := cmp.Diff(seqRange(901, 1000), readAll(t, l, "runa", 900, 0)); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(1, 70), readAll(t, l, "runb", 0, 0)); diff != "" {
		t.Errorf("runb after restart (-want +got):\n%s", diff)
	}
	got, err := l.GetRun(ctx, "runa")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(run, got); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
	// The store keeps the owner key; clients never see it.
	if b, _ := json.Marshal(got); bytes.Contains(b, []byte("k3y")) {
		t.Errorf("a run's JSON shows its owner key: %s", b)
	}
	if _, err := l.GetRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(nope) err = %v, want ErrNotFound", err)
	}
	if _, err := l.GetRun(ctx, "bad.key*"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(bad) err = %v, want ErrNotFound", err)
	}
	ids, err := l.RunIDs(ctx)
	if err != nil || len(ids) != 1 {
		t.Errorf("RunIDs = %v, %v", ids, err)
	}
	if got := readAll(t, l, "unknown", 0, 0); len(got) != 0 {
		t.Errorf("unknown run read %v", got)
	}
}

// TestExternalNATS uses a NATS server reached over loopback TCP, as
// --nats-url does, instead of the embedded one.
func TestExternalNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	ctx := context.Background()
	l, err := Open(ctx, Config{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(ctx, "ext", recs(1, 3, "x")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seqRange(2, 3), readAll(t, l, "ext", 1, 0)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := Open(ctx, Config{}); err == nil {
		t.Error("Open without a data dir or URL succeeded")
	}
}

// TestRetentionGap removes a run's oldest events, as size or age retention
// does, and checks that reads start at what is left and FirstSeq says so.
func TestRetentionGap(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.Append(ctx, "old", recs(1, 10, "x")); err != nil {
		t.Fatal(err)
	}
	if first, _ := l.FirstSeq(ctx, "old"); first != 1 {
		t.Fatalf("first seq %d, want 1", first)
	}
	for i := 0; i < 3; i++ {
		m, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject("old")))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.stream.DeleteMsg(ctx, m.Sequence); err != nil {
			t.Fatal(err)
		}
	}
	if first, _ := l.FirstSeq(ctx, "old"); first != 4 {
		t.Fatalf("first seq %d, want 4", first)
	}
	if diff := cmp.Diff(seqRange(4, 10), readAll(t, l, "old", 0, 0)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if first, _ := l.FirstSeq(ctx, "none"); first != 0 {
		t.Errorf("unknown run first seq %d", first)
	}
}
