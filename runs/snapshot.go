package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/thinkstream/thinkstream"
)

// Snapshot is what a late joiner needs to show a run without replaying its
// deltas one by one: the coalesced events so far and their digest.
type Snapshot struct {
	Events      []json.RawMessage        `json:"events"`
	Thinking    string                   `json:"thinking"`
	Answer      string                   `json:"answer"`
	Result      string                   `json:"result,omitempty"`
	Steps       int                      `json:"steps"`
	Annotations []thinkstream.Annotation `json:"annotations"`
	LastSeq     int64                    `json:"last_seq"`
}

// fold builds a snapshot one event at a time, coalescing deltas the way
// hub.Coalesce does. A live run's writer feeds it as events are logged, so
// reading an active run's snapshot costs what arrived since, not the whole
// log; a finished run's is folded once from the log.
type fold struct {
	mu          sync.Mutex
	done        []json.RawMessage // coalesced events before the open delta run
	cur         thinkstream.Event // the open delta run, when n > 0
	one         []byte            // its first event's JSON (sent as-is when n == 1)
	text        strings.Builder   // its text
	n           int
	enc         json.RawMessage // cur encoded at seq encSeq, reused between reads
	encSeq      int64
	thinking    strings.Builder
	answer      strings.Builder
	result      string
	steps       int
	annotations []thinkstream.Annotation
	lastSeq     int64
}

// add folds logged events (evs[i] encodes to recs[i].Data).
func (f *fold) add(evs []thinkstream.Event, recs []thinkstream.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range evs {
		f.addOne(&evs[i], recs[i].Data)
	}
}

func (f *fold) addOne(ev *thinkstream.Event, data []byte) {
	f.lastSeq = ev.Seq
	switch {
	case thinkstream.IsReasoning(ev.Type, ev.Channel):
		f.thinking.WriteString(ev.Text)
	case ev.Type == thinkstream.EventAnswer || ev.Type == thinkstream.EventCode:
		f.answer.WriteString(ev.Text)
	case ev.Type == thinkstream.EventResult:
		f.result = ev.Answer
	case ev.Type == thinkstream.EventAnnotation && ev.Annotation != nil:
		f.annotations = append(f.annotations, *ev.Annotation)
	}
	if ev.Type == thinkstream.EventStep {
		f.steps = ev.Index
	}
	if !thinkstream.IsDelta(ev.Type) {
		f.flush()
		f.done = append(f.done, data)
		return
	}
	if f.n > 0 && sameStream(f.cur, *ev) {
		f.text.WriteString(ev.Text)
		f.cur.Seq, f.cur.T = ev.Seq, ev.T
		f.n++
		return
	}
	f.flush()
	f.cur, f.one, f.n = *ev, data, 1
	if f.cur.From == 0 {
		f.cur.From = ev.Seq
	}
	f.text.WriteString(ev.Text)
}

func sameStream(a, b thinkstream.Event) bool {
	return a.Type == b.Type && a.Step == b.Step && a.Block == b.Block &&
		a.Channel == b.Channel && a.Lang == b.Lang
}

// flush closes the open delta run.
func (f *fold) flush() {
	if f.n > 0 {
		f.done = append(f.done, f.openEvent())
	}
	f.n = 0
	f.text.Reset()
	f.enc, f.encSeq = nil, 0
}

// openEvent encodes the open delta run (f.n > 0).
func (f *fold) openEvent() json.RawMessage {
	if f.n == 1 {
		return f.one
	}
	if f.enc != nil && f.encSeq == f.cur.Seq {
		return f.enc
	}
	ev := f.cur
	ev.Text = f.text.String()
	data, err := json.Marshal(ev)
	if err != nil {
		// An Event of a delta type has no field that fails to encode.
		panic(fmt.Sprintf("runs: encode coalesced event: %v", err))
	}
	f.enc, f.encSeq = data, f.cur.Seq
	return data
}

// snapshot returns the fold's current state. The result shares memory with
// the fold but never changes: the fold only appends beyond what it handed
// out.
func (f *fold) snapshot() *Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &Snapshot{
		Events:      f.done[:len(f.done):len(f.done)],
		Thinking:    f.thinking.String(),
		Answer:      f.answer.String(),
		Result:      f.result,
		Steps:       f.steps,
		Annotations: f.annotations[:len(f.annotations):len(f.annotations)],
		LastSeq:     f.lastSeq,
	}
	if f.n > 0 {
		// Copies only the slice headers; the open run is re-encoded
		// only when it grew since the last read.
		s.Events = append(s.Events, f.openEvent())
	}
	if s.Events == nil {
		s.Events = []json.RawMessage{}
	}
	if s.Annotations == nil {
		s.Annotations = []thinkstream.Annotation{}
	}
	return s
}

// Snapshot returns a run's snapshot: an active run's from its live fold,
// a finished run's from the log (cached).
func (m *Manager) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r != nil {
		return r.w.fold.snapshot(), nil
	}
	m.snapMu.Lock()
	if s, ok := m.snaps[id]; ok {
		m.snapMu.Unlock()
		return s, nil
	}
	m.snapMu.Unlock()
	gen := m.snapGen.Load()
	run, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var f fold
	err = m.cfg.Log.Read(ctx, id, 0, 0, func(rec thinkstream.Record) error {
		var ev thinkstream.Event
		if err := json.Unmarshal(rec.Data, &ev); err != nil {
			return fmt.Errorf("runs: decode seq %d of %s: %w", rec.Seq, id, err)
		}
		f.addOne(&ev, rec.Data)
		return nil
	})
	if err != nil && !errors.Is(err, thinkstream.ErrRunNotFound) {
		return nil, err
	}
	s := f.snapshot()
	if run.State.Terminal() && m.snapGen.Load() == gen {
		// Kept only if no annotation dropped a snapshot meanwhile: it
		// might have landed after this read of the log.
		m.keepSnapshot(id, s)
	}
	return s, nil
}

const snapshotCache = 32

func (m *Manager) keepSnapshot(id string, s *Snapshot) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if _, ok := m.snaps[id]; ok {
		return
	}
	m.snaps[id] = s
	m.order = append(m.order, id)
	if len(m.order) > snapshotCache {
		delete(m.snaps, m.order[0])
		m.order = m.order[1:]
	}
}

func (m *Manager) dropSnapshot(id string) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	m.snapGen.Add(1)
	delete(m.snaps, id)
}
