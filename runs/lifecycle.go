package runs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
)

// Recover ends the runs a crash left queued or running with run.interrupted,
// so that every run in the log has exactly one terminal event, or, with
// Config.ResumeInterrupted, continues them: a running one from its logged
// output, a queued one from its place in the queue. It returns how many
// runs it ended or continued.
func (m *Manager) Recover(ctx context.Context) (int, error) {
	if m.cfg.Queue != nil {
		// A gateway's runs belong to the work queue: it gives every run
		// that has not ended to a worker, which continues it.
		return 0, nil
	}
	ids, err := m.cfg.Log.RunIDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var cut []cutRun
	for _, id := range ids {
		meta, err := m.cfg.Log.GetRun(ctx, id)
		if err != nil {
			return n, err
		}
		m.access.set(id, meta.Owner, meta.Visibility)
		if meta.State.Terminal() || meta.InWorkQueue || m.alive(ctx, id) {
			// Over, the work queue's (a worker takes or continues it), or
			// another process of the cluster writes it.
			continue
		}
		last, err := m.cfg.Log.LastSeq(ctx, id)
		if err != nil {
			return n, err
		}
		// The crash may have come between the terminal event and the
		// metadata update: then only the metadata is stale.
		if term, ok := m.terminalAt(ctx, id, last); ok {
			meta.State, meta.LastSeq = term, last
			if err := m.cfg.Log.PutRun(ctx, meta); err != nil {
				return n, err
			}
			continue
		}
		if m.cfg.ResumeInterrupted && meta.Source != "openai" {
			cut = append(cut, cutRun{meta, last})
			continue
		}
		m.endInterrupted(ctx, meta, last)
		n++
	}
	// Oldest first, the runs that were generating before those that
	// waited: they take the free slots in the order they had them, and the
	// rest queue behind them.
	slices.Reverse(cut)
	slices.SortStableFunc(cut, func(a, b cutRun) int {
		return cmp.Compare(stateRank(a.meta.State), stateRank(b.meta.State))
	})
	for _, c := range cut {
		ok, err := m.resumeLocal(ctx, c.meta, c.last)
		if err != nil {
			return n, err
		}
		if !ok {
			m.endInterrupted(ctx, c.meta, c.last)
		}
		n++
	}
	m.renumber()
	return n, nil
}

// cutRun is a run a crash left queued or running.
type cutRun struct {
	meta thinkstream.Run
	last int64
}

func stateRank(s thinkstream.RunState) int {
	if s == thinkstream.StateRunning {
		return 0
	}
	return 1
}

// endInterrupted ends a run a crash cut short with run.interrupted.
func (m *Manager) endInterrupted(ctx context.Context, meta thinkstream.Run, last int64) {
	r := &run{m: m, meta: meta, created: meta.CreatedAt}
	// The count the crash took with it, from what the log kept, so the
	// run's usage and the log line say what it streamed.
	r.tokens, r.thinking = m.loggedTokens(ctx, meta.ID, last)
	r.w = m.acquireWriter(meta.ID, meta.CreatedAt, last, true)
	r.finish(thinkstream.StateInterrupted, errors.New("server restarted"), thinkstream.Result{})
	m.releaseWriter(r.w)
}

// loggedTokens estimates how many tokens a run streamed from its log: the
// last stats event's count, plus one per text event logged after it (the
// parser makes one text event of each token; the stats event at most a
// second old does the rest). A log it cannot read counts zero.
func (m *Manager) loggedTokens(ctx context.Context, id string, last int64) (tokens, thinking int) {
	_ = m.cfg.Log.Read(ctx, id, 0, last, func(r thinkstream.Record) error {
		switch r.Type {
		case thinkstream.EventStats:
			var ev thinkstream.Event
			if json.Unmarshal(r.Data, &ev) == nil && ev.Stats != nil {
				tokens, thinking = ev.Stats.Tokens, ev.Stats.ThinkingTokens
			}
		case thinkstream.EventThinking, thinkstream.EventCode, thinkstream.EventAnswer:
			tokens++
			var ev thinkstream.Event
			if r.Type != thinkstream.EventAnswer && json.Unmarshal(r.Data, &ev) == nil && thinkstream.IsReasoning(ev.Type, ev.Channel) {
				thinking++
			}
		}
		return nil
	})
	return tokens, thinking
}

func (m *Manager) terminalAt(ctx context.Context, id string, seq int64) (thinkstream.RunState, bool) {
	if seq == 0 {
		return "", false
	}
	var ev thinkstream.Event
	err := m.cfg.Log.Read(ctx, id, seq-1, seq, func(r thinkstream.Record) error {
		if r.Type != "" && !thinkstream.IsTerminal(r.Type) {
			return nil // no need to decode it (logs before type headers have none)
		}
		return json.Unmarshal(r.Data, &ev)
	})
	if err != nil || !thinkstream.IsTerminal(ev.Type) {
		return "", false
	}
	return ev.State, true
}

// Shutdown stops admitting runs, gives running ones ShutdownGrace to finish,
// then ends the rest with run.interrupted and waits for them (or ctx).
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	queued := m.queue
	m.queue = nil
	m.mu.Unlock()
	for _, r := range queued {
		go r.endQueued(thinkstream.StateInterrupted)
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	if m.cfg.ShutdownGrace > 0 {
		select {
		case <-done:
			return nil
		case <-time.After(m.cfg.ShutdownGrace):
		case <-ctx.Done():
		}
	}
	m.mu.Lock()
	for _, r := range m.active {
		r.stop(thinkstream.StateInterrupted)
	}
	m.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runs: shutdown: %w", ctx.Err())
	}
}

// Follow yields a run's logged events after seq `after`, live, ending after
// the terminal event.
func (m *Manager) Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error] {
	return func(yield func(thinkstream.Event, error) bool) {
		if _, err := m.Get(ctx, id); err != nil {
			yield(thinkstream.Event{}, err)
			return
		}
		sub := m.cfg.Hub.Subscribe(id, after, hub.Options{})
		defer sub.Close()
		for {
			frames, _, err := sub.Next(ctx)
			if errors.Is(err, hub.ErrEnded) {
				return
			}
			if err != nil {
				yield(thinkstream.Event{}, err)
				return
			}
			for _, f := range frames {
				var ev thinkstream.Event
				if err := json.Unmarshal(f.Data, &ev); err != nil {
					yield(ev, fmt.Errorf("runs: decode event: %w", err))
					return
				}
				if !yield(ev, nil) {
					return
				}
			}
		}
	}
}

// Metrics are the run manager's Prometheus collectors.
type Metrics struct {
	Runs         *prometheus.CounterVec
	Rejected     prometheus.Counter
	TTFT         prometheus.Histogram
	TokensPerSec prometheus.Histogram
}

// NewMetrics creates the collectors, registered with reg when not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thinkstream_runs_total", Help: "Runs entering each state.",
		}, []string{"state"}),
		Rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thinkstream_runs_rejected_total", Help: "Runs rejected because the queue was full.",
		}),
		TTFT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "thinkstream_time_to_first_token_seconds", Help: "Time from run start to its first token.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		TokensPerSec: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "thinkstream_tokens_per_second", Help: "Generation speed of finished runs.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Runs, m.Rejected, m.TTFT, m.TokensPerSec)
	}
	return m
}

// FirstSeq returns the lowest seq of a run still in the log: above 1 when
// retention removed its oldest events.
func (m *Manager) FirstSeq(ctx context.Context, id string) (int64, error) {
	return m.cfg.Log.FirstSeq(ctx, id)
}

// Active reports how many runs wait in the queue and how many generate.
func (m *Manager) Active() (queued, running int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue), m.running
}
