package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// damagedMessage is what a viewer of a run marked damaged reads.
const damagedMessage = "part of this run's log was lost; the events that are left are shown as logged"

// Repair fixes what Check found: it rebuilds lost metadata from the run's
// own events where they prove it (run.created holds the run, later events
// its progress and end), and marks every other damaged run failed with
// code log_damaged and a terminal run.failed event after the last seq it
// ever had, so that it is listed, says what happened and never again looks
// like a run in progress. Nothing that is left is deleted, except the
// bucket's record of a run of which nothing at all can be read. It adds
// to rep.Repaired what it did, one line per run.
func (l *Log) Repair(ctx context.Context, rep *Report) error {
	byRun := map[string][]Problem{}
	var order []string
	for _, p := range rep.Problems {
		if _, ok := byRun[p.Run]; !ok {
			order = append(order, p.Run)
		}
		byRun[p.Run] = append(byRun[p.Run], p)
	}
	if slices.ContainsFunc(rep.Problems, bucketSide) {
		if err := l.rebuildBucket(ctx); err != nil {
			return err
		}
		rep.Repaired = append(rep.Repaired, "bucket: rewritten from its readable entries")
	}
	for _, id := range order {
		probs := byRun[id]
		f := &runFacts{id: id, listed: true}
		if err := l.refresh(ctx, f); err != nil {
			return err
		}
		var did string
		var err error
		switch {
		case !slices.ContainsFunc(probs, func(p Problem) bool { return !p.Recoverable }):
			did, err = l.rebuild(ctx, f)
		case slices.ContainsFunc(probs, func(p Problem) bool { return p.Kind == ProblemGone }):
			did, err = l.forget(ctx, f)
		default:
			did, err = l.markDamaged(ctx, f)
		}
		if err != nil {
			return fmt.Errorf("eventlog: repair %s: %w", id, err)
		}
		rep.Repaired = append(rep.Repaired, id+": "+did)
	}
	return nil
}

// refresh gathers a run's facts again (Check may be stale by now).
func (l *Log) refresh(ctx context.Context, f *runFacts) error {
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(subject(f.id)))
	if err != nil {
		return fmt.Errorf("eventlog: stream info: %w", err)
	}
	f.count = info.State.Subjects[subject(f.id)]
	f.metaErr = ErrNotFound
	return l.gather(ctx, f)
}

// rebuild restores a run's metadata from its complete events.
func (l *Log) rebuild(ctx context.Context, f *runFacts) (string, error) {
	if f.created == nil {
		return "", fmt.Errorf("no run.created to rebuild from")
	}
	meta := *f.created
	at := func(t int64) *time.Time {
		v := meta.CreatedAt.Add(time.Duration(t) * time.Millisecond).UTC()
		return &v
	}
	err := l.Read(ctx, f.id, 0, f.last, func(r Record) error {
		var ev thinkstream.Event
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			return fmt.Errorf("seq %d: %w", r.Seq, err)
		}
		switch {
		case ev.Type == thinkstream.EventRunStarted:
			meta.State, meta.StartedAt = thinkstream.StateRunning, at(ev.T)
		case ev.Type == thinkstream.EventResult:
			meta.Answer = ev.Answer
		case thinkstream.IsTerminal(ev.Type):
			meta.State, meta.EndedAt = ev.State, at(ev.T)
			meta.Usage, meta.Timings, meta.Error = ev.Usage, ev.Timings, ev.Error
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	meta.LastSeq = f.last
	if err := l.PutRun(ctx, meta); err != nil {
		return "", err
	}
	return fmt.Sprintf("metadata rebuilt from its %d events (state %s)", f.count, meta.State), nil
}

// forget drops the bucket's record of a run of which nothing can be read.
func (l *Log) forget(ctx context.Context, f *runFacts) (string, error) {
	st, err := l.js.Stream(ctx, "KV_"+bucketName)
	if err != nil {
		return "", err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucketName+"."+f.id)); err != nil {
		return "", err
	}
	return "nothing of it could be read; removed from the bucket", nil
}

// markDamaged ends a run that lost events with run.failed (code
// log_damaged) and stores it as failed. The event goes after the highest
// seq the run ever had, so no seq a viewer may have seen is reused.
func (l *Log) markDamaged(ctx context.Context, f *runFacts) (string, error) {
	meta := f.meta
	if f.metaErr != nil {
		switch {
		case f.created != nil:
			meta = *f.created
		default:
			meta = thinkstream.Run{ID: f.id, CreatedAt: time.Now().UTC()}
			if msg, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject(f.id))); err == nil {
				meta.CreatedAt = msg.Time.UTC()
			}
		}
	}
	seq := max(meta.LastSeq, f.last, 0) + 1
	now := time.Now().UTC()
	runErr := &thinkstream.RunError{Code: DamagedCode, Message: damagedMessage}
	ev := thinkstream.Event{
		Seq: seq, T: now.Sub(meta.CreatedAt).Milliseconds(), Type: thinkstream.EventRunFailed,
		State: thinkstream.StateFailed, Error: runErr,
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	if err := l.Append(ctx, f.id, []Record{{Seq: seq, Type: ev.Type, T: ev.T, Data: data}}); err != nil {
		return "", err
	}
	meta.State, meta.EndedAt, meta.Error, meta.LastSeq = thinkstream.StateFailed, &now, runErr, seq
	if err := l.PutRun(ctx, meta); err != nil {
		return "", err
	}
	return "events lost; marked failed (" + DamagedCode + ") with run.failed at seq " + strconv.FormatInt(seq, 10), nil
}

// bucketSide reports problems of the bucket's own files.
func bucketSide(p Problem) bool {
	switch p.Kind {
	case ProblemMetaLost, ProblemMetaStale, ProblemUnreadable, ProblemGone:
		return true
	}
	return false
}

// rebuildBucket replaces the bucket's stream by a new one holding every
// entry that can still be read. A damaged block cannot be written around:
// replacing a key whose old revision is corrupt makes JetStream fail the
// write ("critical write error") and then refuse every later write to the
// bucket, which is how a damaged store wedges run creation. The entries
// are first saved to a file in the data dir, so that a crash in between
// loses nothing the log cannot prove either.
func (l *Log) rebuildBucket(ctx context.Context) error {
	keys, _, err := l.bucketKeys(ctx)
	if err != nil {
		return err
	}
	var runs []thinkstream.Run
	for _, k := range keys {
		if run, err := l.GetRun(ctx, k); err == nil {
			runs = append(runs, run)
		}
	}
	if l.dir != "" {
		b, err := json.Marshal(runs)
		if err != nil {
			return err
		}
		path := filepath.Join(l.dir, fmt.Sprintf("bucket-backup-%d.json", time.Now().Unix()))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("eventlog: save bucket: %w", err)
		}
	}
	st, err := l.js.Stream(ctx, "KV_"+bucketName)
	if err != nil {
		return fmt.Errorf("eventlog: bucket stream: %w", err)
	}
	cfg := st.CachedInfo().Config
	if err := l.js.DeleteStream(ctx, cfg.Name); err != nil {
		return fmt.Errorf("eventlog: delete bucket: %w", err)
	}
	if _, err := l.js.CreateStream(ctx, cfg); err != nil {
		return fmt.Errorf("eventlog: recreate bucket: %w", err)
	}
	if l.kv, err = l.js.KeyValue(ctx, bucketName); err != nil {
		return fmt.Errorf("eventlog: recreate bucket: %w", err)
	}
	for _, run := range runs {
		if err := l.PutRun(ctx, run); err != nil {
			return err
		}
	}
	return nil
}
