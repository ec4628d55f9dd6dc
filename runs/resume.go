package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/reasoning"
)

// maxSeam bounds the events logged past the last record with model output
// (thinkstream.Record.Raw): a worker that died between two appends of one
// token's events leaves at most that token's events behind. More means
// the output was not logged in a form that can be continued.
const maxSeam = 16

// resumed is what the log says about a run that an earlier worker started.
type resumed struct {
	raw      []string // the model output logged, token by token
	events   int      // events the parser made of it (and of its end)
	answer   string
	handOver int // run.resumed events of earlier hand-overs
}

// resumePoint reads what a previous worker logged of the run; nil when
// the run never started (it begins as new).
func (r *run) resumePoint(ctx context.Context) (*resumed, error) {
	if r.attempt <= 1 {
		return nil, nil
	}
	var p resumed
	started := false
	err := r.m.cfg.Log.Read(ctx, r.meta.ID, 0, 0, func(rec thinkstream.Record) error {
		p.raw = append(p.raw, rec.Raw...)
		switch rec.Type {
		case thinkstream.EventRunStarted:
			started = true
		case thinkstream.EventRunResumed:
			var ev thinkstream.Event
			if err := json.Unmarshal(rec.Data, &ev); err == nil && ev.Attempt > 0 {
				p.handOver++
			}
		case thinkstream.EventStep, thinkstream.EventThinking, thinkstream.EventCode, thinkstream.EventAnswer:
			p.events++
		case thinkstream.EventResult:
			p.events++
			var ev thinkstream.Event
			if err := json.Unmarshal(rec.Data, &ev); err == nil {
				p.answer = ev.Answer
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("runs: read %s to resume it: %w", r.meta.ID, err)
	}
	if !started {
		return nil, nil
	}
	return &p, nil
}

// continueFrom brings a fresh parser to where the previous worker's was by
// feeding it the logged output token by token, as it was fed then, and
// sets the engine's prefix. It returns how many of the events the new
// generation makes first are logged already (the previous worker died
// between them and their token's last event).
func (r *run) continueFrom(p *resumed, parser *reasoning.Parser) (int, error) {
	var buf []thinkstream.Event
	made, thinking := 0, 0
	for _, text := range p.raw {
		buf = parser.AppendAdd(buf[:0], thinkstream.Token{Text: text, Channel: thinkstream.ChannelRaw, ID: -1})
		made += len(buf)
		// As countToken counts them: a token is reasoning when one of
		// its events is.
		for _, ev := range buf {
			if thinkstream.IsReasoning(ev.Type, ev.Channel) {
				thinking++
				break
			}
		}
	}
	skip := p.events - made
	if skip < 0 || skip > maxSeam {
		return 0, &thinkstream.EngineError{Code: "not_resumable",
			Message: "the run's worker stopped and its output cannot be continued from the log"}
	}
	r.req.Prefix = strings.Join(p.raw, "")
	r.mu.Lock()
	r.tokens, r.thinking, r.answer = len(p.raw), thinking, p.answer
	r.resumedFrom = len(p.raw)
	r.mu.Unlock()
	return skip, nil
}

// resumeLocal continues, at start-up, a run that this server generated
// when it died: as a worker continues a dead worker's run, from the logged
// output, with run.resumed at the seam, or, when it never started, from
// its place in the queue. It reports false for runs whose request the
// metadata cannot rebuild; Recover ends those as before. The owner token
// still cancels and pauses the run: the metadata keeps its key.
func (m *Manager) resumeLocal(ctx context.Context, meta thinkstream.Run, last int64) (bool, error) {
	msgs, params, err := m.apply(thinkstream.RunRequest{Problem: meta.Problem, System: meta.System, Profile: meta.Profile, Params: meta.Params})
	if err != nil {
		return false, nil
	}
	r := &run{
		m: m, eng: m.Engine(), created: meta.CreatedAt, ready: make(chan struct{}),
		done: make(chan struct{}), meta: meta,
		req: thinkstream.Request{RunID: meta.ID, Messages: msgs, Params: params},
	}
	close(r.ready)
	r.w = m.acquireWriter(meta.ID, meta.CreatedAt, last, true)
	r.w.fold = &fold{}
	// Snapshots of the run read its live fold: it starts with what the
	// log holds.
	err = m.cfg.Log.Read(ctx, meta.ID, 0, last, func(rec thinkstream.Record) error {
		var ev thinkstream.Event
		if err := json.Unmarshal(rec.Data, &ev); err != nil {
			return fmt.Errorf("runs: decode seq %d of %s: %w", rec.Seq, meta.ID, err)
		}
		r.w.fold.addOne(&ev, rec.Data)
		return nil
	})
	if err != nil {
		m.releaseWriter(r.w)
		return false, err
	}
	// The how-manieth take this is: one more than the hand-overs the log
	// shows, after the first.
	r.attempt = 2
	if p, err := r.resumePoint(ctx); err != nil {
		m.releaseWriter(r.w)
		return false, err
	} else if p != nil {
		r.attempt += p.handOver
	}
	m.serve(r)
	r.w.open()
	m.mu.Lock()
	m.active[meta.ID] = r
	m.wg.Add(1)
	start := m.running < m.cfg.MaxConcurrent
	if start {
		m.running++
	} else {
		// More were cut than this server now runs at once (or the run
		// was waiting): it waits its turn, and renumber tells its viewers.
		m.queue = append(m.queue, r)
		r.position = len(m.queue)
		r.meta.State = thinkstream.StateQueued
	}
	m.mu.Unlock()
	if start {
		go r.work()
	}
	m.cfg.Logger.Info("continuing a run the last crash cut short", "run", meta.ID, "attempt", r.attempt, "queued", !start)
	return true, nil
}

// attemptsExhausted is why a run that lost its worker too often ends.
func attemptsExhausted(n int) error {
	return &thinkstream.EngineError{Code: "attempts_exhausted",
		Message: fmt.Sprintf("the run's worker stopped %d times; it was not started again", n)}
}
