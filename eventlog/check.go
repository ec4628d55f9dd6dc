package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// DamagedCode is the error code of runs that a repair marked failed because
// part of their log was lost.
const DamagedCode = "log_damaged"

// Kinds of problem a check finds.
const (
	// ProblemMetaLost: events without metadata. Recoverable when the run's
	// events start with run.created (it holds the run) and have no hole.
	ProblemMetaLost = "metadata-lost"
	// ProblemGone: the bucket lists the run but neither its metadata nor
	// any of its events can be read.
	ProblemGone = "gone"
	// ProblemEventsLost: metadata without a single event left.
	ProblemEventsLost = "events-lost"
	// ProblemHeadLost: the run's first events are gone (not by retention).
	ProblemHeadLost = "head-lost"
	// ProblemHole: events missing between the run's first and last.
	ProblemHole = "hole"
	// ProblemTailLost: the metadata counts more events than the log holds.
	ProblemTailLost = "tail-lost"
	// ProblemMetaStale: the metadata is an older revision than the log
	// (it says the run is in progress, the log has its terminal event):
	// a damaged bucket can bring back a revision it had replaced.
	ProblemMetaStale = "metadata-stale"
	// ProblemUnreadable: metadata or events that do not decode.
	ProblemUnreadable = "unreadable"
)

// Problem is one thing wrong with one run.
type Problem struct {
	Run    string `json:"run"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	// Recoverable says a repair restores the run completely; otherwise it
	// can only mark the run failed (code log_damaged) and keep what is left.
	Recoverable bool `json:"recoverable"`
}

// StoreState is what JetStream reports of one of the log's streams.
type StoreState struct {
	Msgs      uint64    `json:"msgs"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	FirstTime time.Time `json:"first_time"`
	// Deleted counts messages missing between first and last. The event
	// stream never deletes inside (retention drops the oldest), so there
	// it means lost messages.
	Deleted int `json:"deleted"`
}

// Report is the result of Check.
type Report struct {
	Events StoreState `json:"events"`
	Bucket StoreState `json:"bucket"`
	// Runs counts every run the bucket or the stream knows.
	Runs int `json:"runs"`
	// Intact lists the runs with nothing wrong: their metadata and every
	// event from seq 1 (or from where retention cut) to the last.
	Intact []string `json:"intact"`
	// Marked lists runs an earlier repair marked as damaged.
	Marked   []string  `json:"marked,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	// Repaired lists, after Repair, what was done to each damaged run.
	Repaired []string `json:"repaired,omitempty"`
}

// OK reports whether the check found nothing to repair.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Lossy reports whether some problem cannot be repaired without loss.
func (r *Report) Lossy() bool {
	return slices.ContainsFunc(r.Problems, func(p Problem) bool { return !p.Recoverable })
}

// Summary is a one-paragraph account of the problems for a log line or an
// error message.
func (r *Report) Summary() string {
	if r.OK() {
		return fmt.Sprintf("%d runs, all intact", r.Runs)
	}
	kinds := map[string]int{}
	runs := map[string]bool{}
	for _, p := range r.Problems {
		kinds[p.Kind]++
		runs[p.Run] = true
	}
	var parts []string
	for _, k := range slices.Sorted(mapKeys(kinds)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, kinds[k]))
	}
	s := fmt.Sprintf("%d of %d runs damaged (%s)", len(runs), r.Runs, strings.Join(parts, ", "))
	if r.Events.Deleted > 0 {
		s += fmt.Sprintf("; the event stream lost %d messages", r.Events.Deleted)
	}
	return s
}

func mapKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// runFacts is what the stream and the bucket say about one run.
type runFacts struct {
	id          string
	count       uint64 // messages on the run's subject
	first, last int64  // per-run seqs of the first and last of them
	meta        thinkstream.Run
	metaErr     error // nil: meta is valid
	listed      bool  // the bucket lists the key
	created     *thinkstream.Run
	lastType    string // type of the last event
	// moving: another process was appending to the run while it was
	// checked (a shared NATS), so its count and last never matched.
	moving bool
}

// Check compares the run bucket with the event stream and reports every run
// whose metadata or events are lost or damaged. It reads O(runs) messages,
// not every event. Run it before anything writes to the log.
func (l *Log) Check(ctx context.Context) (*Report, error) {
	rep := &Report{Intact: []string{}}
	evInfo, err := l.stream.Info(ctx, jetstream.WithSubjectFilter("runs.*"))
	if err != nil {
		return nil, fmt.Errorf("eventlog: check: stream info: %w", err)
	}
	rep.Events = stateOf(evInfo.State)
	keys, bucket, err := l.bucketKeys(ctx)
	if err != nil {
		return nil, err
	}
	rep.Bucket = bucket
	facts := map[string]*runFacts{}
	get := func(id string) *runFacts {
		f := facts[id]
		if f == nil {
			f = &runFacts{id: id, metaErr: ErrNotFound}
			facts[id] = f
		}
		return f
	}
	for subj, n := range evInfo.State.Subjects {
		get(strings.TrimPrefix(subj, "runs.")).count = n
	}
	for _, k := range keys {
		get(k).listed = true
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range facts {
			if !yield(id) {
				return
			}
		}
	})
	rep.Runs = len(ids)
	for _, id := range ids {
		f := facts[id]
		if err := l.gather(ctx, f); err != nil {
			return nil, err
		}
		probs, marked := judge(f, rep.Events)
		switch {
		case marked:
			rep.Marked = append(rep.Marked, id)
		case len(probs) == 0:
			rep.Intact = append(rep.Intact, id)
		default:
			rep.Problems = append(rep.Problems, probs...)
		}
	}
	return rep, nil
}

func stateOf(s jetstream.StreamState) StoreState {
	return StoreState{Msgs: s.Msgs, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq, FirstTime: s.FirstTime, Deleted: s.NumDeleted}
}

// bucketKeys lists the bucket's keys from the stream's subject state rather
// than with a key watcher: a watcher waits for every initial value, and
// one the store lost never comes, so it hangs forever.
func (l *Log) bucketKeys(ctx context.Context) ([]string, StoreState, error) {
	st, err := l.js.Stream(ctx, "KV_"+bucketName)
	if err != nil {
		return nil, StoreState{}, fmt.Errorf("eventlog: bucket stream: %w", err)
	}
	prefix := "$KV." + bucketName + "."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, StoreState{}, fmt.Errorf("eventlog: bucket info: %w", err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	return keys, stateOf(info.State), nil
}

// gather reads a run's metadata and its first and last events.
func (l *Log) gather(ctx context.Context, f *runFacts) error {
	if f.listed {
		f.meta, f.metaErr = l.GetRun(ctx, f.id)
		if f.metaErr != nil && !errors.Is(f.metaErr, ErrNotFound) && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if f.count == 0 {
		return nil
	}
	msg, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject(f.id)))
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	f.first, err = seqOf(f.id, "first", msg, err)
	if err == nil && f.first == 1 && msg.Header.Get(typeHeader) == thinkstream.EventRunCreated {
		var ev thinkstream.Event
		if json.Unmarshal(msg.Data, &ev) == nil && ev.Run != nil && ev.Run.ID == f.id {
			f.created = ev.Run
		}
	}
	if err != nil {
		f.first = -1
	}
	msg, err = l.stream.GetLastMsgForSubject(ctx, subject(f.id))
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if f.last, err = seqOf(f.id, "last", msg, err); err != nil {
		f.last = -1
		return nil
	}
	f.lastType = msg.Header.Get(typeHeader)
	if f.first > 0 && uint64(f.last-f.first+1) != f.count {
		return l.settle(ctx, f)
	}
	return nil
}

// settle reads a run's count and last again when they disagree: the count
// came from the stream's info before the last event was read, and on a
// shared NATS another process may be appending meanwhile. A count that is
// the same before and after reading the last event is exact for it.
func (l *Log) settle(ctx context.Context, f *runFacts) error {
	for range 3 {
		c1, err := l.subjectCount(ctx, f.id)
		if err != nil {
			return err
		}
		msg, err := l.stream.GetLastMsgForSubject(ctx, subject(f.id))
		if err != nil {
			return fmt.Errorf("eventlog: check %s: %w", f.id, err)
		}
		last, err := seqOf(f.id, "last", msg, nil)
		if err != nil {
			return nil // judged unreadable by what gather found
		}
		c2, err := l.subjectCount(ctx, f.id)
		if err != nil {
			return err
		}
		if c1 == c2 {
			f.count, f.last, f.lastType = c2, last, msg.Header.Get(typeHeader)
			return nil
		}
	}
	f.moving = true
	return nil
}

func (l *Log) subjectCount(ctx context.Context, id string) (uint64, error) {
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(subject(id)))
	if err != nil {
		return 0, fmt.Errorf("eventlog: check %s: stream info: %w", id, err)
	}
	return info.State.Subjects[subject(id)], nil
}

// judge decides what is wrong with a run. marked: an earlier repair
// already marked it damaged.
func judge(f *runFacts, ev StoreState) (probs []Problem, marked bool) {
	add := func(kind string, recoverable bool, format string, args ...any) {
		probs = append(probs, Problem{Run: f.id, Kind: kind, Detail: fmt.Sprintf(format, args...), Recoverable: recoverable})
	}
	if f.metaErr == nil && f.meta.Error != nil && f.meta.Error.Code == DamagedCode {
		return nil, true
	}
	if f.first < 0 || f.last < 0 {
		add(ProblemUnreadable, false, "its first or last event cannot be read")
		return probs, false
	}
	span := f.last - f.first + 1
	dense := f.count > 0 && uint64(span) == f.count
	// Retention drops the oldest events of the stream: a run created
	// before the oldest event left may have lost its start that way.
	var cut bool
	if f.metaErr == nil {
		cut = ev.FirstSeq > 1 && !f.meta.CreatedAt.After(ev.FirstTime)
	}
	if f.moving {
		// Written by a live process while checked: what a crash of ours
		// did is not what it shows.
		return nil, false
	}
	if f.count > 0 && !dense {
		add(ProblemHole, false, "%d of its events between seq %d and %d are missing", uint64(span)-min(f.count, uint64(span)), f.first, f.last)
	}
	switch {
	case errors.Is(f.metaErr, ErrNotFound) && f.count == 0:
		add(ProblemGone, false, "the bucket lists it but its metadata and all its events are lost")
		return probs, false
	case f.metaErr != nil && !errors.Is(f.metaErr, ErrNotFound):
		add(ProblemUnreadable, f.created != nil && dense, "its metadata cannot be read: %v", f.metaErr)
		return probs, false
	case f.metaErr != nil:
		if f.created != nil {
			add(ProblemMetaLost, dense, "its metadata is lost; run.created and %d events are in the log", f.count)
		} else {
			add(ProblemMetaLost, false, "its metadata and its first events are lost (log has seq %d to %d)", f.first, f.last)
		}
		return probs, false
	}
	m := f.meta
	switch {
	case f.count == 0 && m.LastSeq == 0 && !m.State.Terminal():
		// A crash between storing the run and logging run.created: not
		// damage, recovery ends it.
	case f.count == 0 && !cut:
		add(ProblemEventsLost, false, "its metadata (state %s, last seq %d) is there but none of its events", m.State, m.LastSeq)
	case f.count > 0 && f.first != 1 && !cut:
		add(ProblemHeadLost, false, "its events before seq %d are lost", f.first)
	}
	// Annotations may follow the terminal event; a run whose log ends with
	// one is judged by its metadata alone.
	if f.count > 0 && !m.State.Terminal() && thinkstream.IsTerminal(f.lastType) {
		add(ProblemMetaStale, f.created != nil && dense && f.first == 1,
			"its metadata says %s at seq %d, the log has its terminal event at seq %d", m.State, m.LastSeq, f.last)
	}
	if f.count > 0 && m.LastSeq > f.last {
		add(ProblemTailLost, false, "its metadata says seq %d was logged, the log ends at %d", m.LastSeq, f.last)
	}
	return probs, false
}
