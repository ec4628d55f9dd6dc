package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// writeRun logs a finished run of n events the way the run manager does
// and returns its metadata and the stream seq of its first event.
func writeRun(t testing.TB, l *Log, id string, n int64) (thinkstream.Run, uint64) {
	t.Helper()
	ctx := context.Background()
	created := time.Now().UTC().Truncate(time.Millisecond)
	meta := thinkstream.Run{ID: id, State: thinkstream.StateQueued, Problem: "p " + id, Engine: "sim", CreatedAt: created}
	if err := l.PutRun(ctx, meta); err != nil {
		t.Fatal(err)
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := info.State.LastSeq + 1
	var rs []Record
	for seq := int64(1); seq <= n; seq++ {
		ev := thinkstream.Event{Seq: seq, T: seq, Type: thinkstream.EventThinking, Text: "x"}
		switch seq {
		case 1:
			m := meta
			ev = thinkstream.Event{Seq: 1, Type: thinkstream.EventRunCreated, Run: &m}
		case 2:
			ev = thinkstream.Event{Seq: 2, T: 2, Type: thinkstream.EventRunStarted}
		case n - 1:
			ev = thinkstream.Event{Seq: seq, T: seq, Type: thinkstream.EventResult, Answer: "42"}
		case n:
			ev = thinkstream.Event{Seq: seq, T: seq, Type: thinkstream.EventRunCompleted, State: thinkstream.StateCompleted,
				Usage: &thinkstream.Usage{CompletionTokens: int(n)}}
		}
		b, _ := json.Marshal(ev)
		rs = append(rs, Record{Seq: seq, Type: ev.Type, T: ev.T, Data: b})
	}
	if err := l.Append(ctx, id, rs); err != nil {
		t.Fatal(err)
	}
	started, ended := created.Add(2*time.Millisecond), created.Add(time.Duration(n)*time.Millisecond)
	meta.State, meta.StartedAt, meta.EndedAt, meta.LastSeq = thinkstream.StateCompleted, &started, &ended, n
	meta.Answer, meta.Usage = "42", &thinkstream.Usage{CompletionTokens: int(n)}
	if err := l.PutRun(ctx, meta); err != nil {
		t.Fatal(err)
	}
	return meta, base
}

func deleteMsgs(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		if err := l.stream.DeleteMsg(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func purgeKey(t *testing.T, l *Log, id string) {
	t.Helper()
	st, err := l.js.Stream(context.Background(), "KV_"+bucketName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background(), jetstream.WithPurgeSubject("$KV."+bucketName+"."+id)); err != nil {
		t.Fatal(err)
	}
}

func kinds(rep *Report, id string) []string {
	var out []string
	for _, p := range rep.Problems {
		if p.Run == id {
			out = append(out, fmt.Sprintf("%s/%v", p.Kind, p.Recoverable))
		}
	}
	return out
}

func TestCheckAndRepair(t *testing.T) {
	const n = 20
	tests := []struct {
		name   string
		damage func(t *testing.T, l *Log, id string, base uint64)
		want   []string // kind/recoverable
		// marked: repair can only mark the run failed.
		marked bool
	}{
		{"intact", func(*testing.T, *Log, string, uint64) {}, nil, false},
		{"metadata lost", func(t *testing.T, l *Log, id string, _ uint64) { purgeKey(t, l, id) },
			[]string{"metadata-lost/true"}, false},
		{"metadata stale", func(t *testing.T, l *Log, id string, _ uint64) {
			run, _ := l.GetRun(context.Background(), id)
			run.State, run.LastSeq, run.EndedAt, run.Answer, run.Usage = thinkstream.StateRunning, 0, nil, "", nil
			if err := l.PutRun(context.Background(), run); err != nil {
				t.Fatal(err)
			}
		}, []string{"metadata-stale/true"}, false},
		{"hole", func(t *testing.T, l *Log, _ string, base uint64) { deleteMsgs(t, l, base+5, base+7) },
			[]string{"hole/false"}, true},
		{"tail lost", func(t *testing.T, l *Log, _ string, base uint64) { deleteMsgs(t, l, base+n-4, base+n-1) },
			[]string{"tail-lost/false"}, true},
		{"head lost", func(t *testing.T, l *Log, _ string, base uint64) { deleteMsgs(t, l, base, base+2) },
			[]string{"head-lost/false"}, true},
		{"events lost", func(t *testing.T, l *Log, _ string, base uint64) { deleteMsgs(t, l, base, base+n-1) },
			[]string{"events-lost/false"}, true},
		{"metadata and head lost", func(t *testing.T, l *Log, id string, base uint64) {
			purgeKey(t, l, id)
			deleteMsgs(t, l, base, base)
		}, []string{"metadata-lost/false"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l := openTest(t, t.TempDir())
			defer l.Close()
			before, _ := writeRun(t, l, "before", n)
			meta, base := writeRun(t, l, "damaged", n)
			after, _ := writeRun(t, l, "after", n)
			tc.damage(t, l, "damaged", base)

			rep, err := l.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, kinds(rep, "damaged")); diff != "" {
				t.Fatalf("problems (-want +got):\n%s\n%+v", diff, rep.Problems)
			}
			if len(rep.Problems) != len(tc.want) || rep.Runs != 3 {
				t.Fatalf("report %+v", rep)
			}
			if err := l.Repair(ctx, rep); err != nil {
				t.Fatal(err)
			}
			again, err := l.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !again.OK() {
				t.Fatalf("after repair: %+v", again.Problems)
			}
			for _, want := range []thinkstream.Run{before, after} {
				got, err := l.GetRun(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("untouched run %s changed (-want +got):\n%s", want.ID, diff)
				}
			}
			got, err := l.GetRun(ctx, "damaged")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.marked {
				if diff := cmp.Diff(meta, got); diff != "" {
					t.Errorf("rebuilt metadata (-want +got):\n%s", diff)
				}
				return
			}
			if got.State != thinkstream.StateFailed || got.Error == nil || got.Error.Code != DamagedCode || got.LastSeq != n+1 {
				t.Fatalf("marked run: %+v", got)
			}
			if len(again.Marked) != 1 || again.Marked[0] != "damaged" {
				t.Errorf("marked: %v", again.Marked)
			}
			// What is left reads through the holes to the terminal event.
			var last Record
			if err := l.Read(ctx, "damaged", 0, 0, func(r Record) error { last = r; return nil }); err != nil {
				t.Fatal(err)
			}
			if last.Seq != n+1 || last.Type != thinkstream.EventRunFailed {
				t.Errorf("last event read: seq %d type %s", last.Seq, last.Type)
			}
		})
	}
}

func TestCheckCrashBeforeFirstEvent(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	// The run manager stores a run before logging run.created.
	if err := l.PutRun(ctx, thinkstream.Run{ID: "r", State: thinkstream.StateQueued, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Intact) != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestHolesStillFailReadsOfUnmarkedRuns(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	_, base := writeRun(t, l, "r", 10)
	deleteMsgs(t, l, base+4, base+4)
	err := l.Read(context.Background(), "r", 0, 0, func(Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "hole") {
		t.Fatalf("read across a hole: %v", err)
	}
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	l1, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock excludes per open file, so a second lock in this process
	// conflicts just as another process's would.
	_, err = LockDir(dir)
	want := fmt.Sprintf("data dir %s is in use by pid %d", dir, os.Getpid())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want ErrLocked saying %q", err, want)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}

// BenchmarkCheck measures the start-up check of a log of 1,000 finished
// runs of 50 events each (b.N checks).
func BenchmarkCheck(b *testing.B) {
	l, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range 1000 {
		writeRun(b, l, fmt.Sprintf("run-%04d", i), 50)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := l.Check(context.Background())
		if err != nil || !rep.OK() || rep.Runs != 1000 {
			b.Fatalf("check: %v %+v", err, rep)
		}
	}
}
