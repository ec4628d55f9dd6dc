package runs

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/reasoning"
)

// run is one admitted run. Its events go through its writer; its mutex
// guards only its state and is never held across a log append, so that
// readers (GET /v1/runs/{id}) never wait on the log.
type run struct {
	m        *Manager
	eng      thinkstream.Engine // the engine it was created for
	w        *writer
	created  time.Time
	owner    string        // the owner token, where this process made it (for Created and the job); checks use meta.OwnerKey
	ready    chan struct{} // closed once announce is over (run.created logged or failed)
	done     chan struct{} // closed once the run has left the active set
	doneOnce sync.Once
	req      thinkstream.Request
	startNow bool
	position int // queue position, 0 when not queued; guarded by m.mu
	sentPos  int // last position logged; guarded by w.mu

	mu       sync.Mutex
	meta     thinkstream.Run
	ended    bool // finish has begun
	cancel   context.CancelCauseFunc
	stopWith thinkstream.RunState // why cancel was called
	failure  error                // why announce failed, with stopWith
	unstored bool                 // announce could not even store it: log nothing
	deleted  bool                 // Delete forgot it: store nothing more
	unserve  func()               // stops answering other processes' commands
	attempt  int                  // times a worker took the run (Take); 0: admitted here
	left     bool                 // its worker stopped: no terminal event, another continues

	tokens, thinking int
	// resumedFrom is the tokens an earlier attempt streamed (continueFrom):
	// the rate counts this attempt's alone, from its first token.
	resumedFrom int
	firstToken  time.Time
	startedAt   time.Time
	answer      string
}

var (
	errStopped = errors.New("run stopped")
)

// ownedBy says whether token is the run's owner token, by its key
// (thinkstream.Run.OwnerKey): the one thing every process that writes the
// run knows of it, also after a restart continued it.
func (r *run) ownedBy(token string) bool { return ownsKey(r.meta.OwnerKey, token) }

// ownsKey says whether token is the owner token whose key is key.
func ownsKey(key, token string) bool {
	return token != "" && key != "" && subtle.ConstantTimeCompare([]byte(ownerKey(token)), []byte(key)) == 1
}

func (r *run) snapshotMeta() thinkstream.Run {
	r.mu.Lock()
	m := r.meta
	r.mu.Unlock()
	m.LastSeq = r.w.last.Load()
	return m
}

// emit logs events of the running run and publishes them.
func (r *run) emit(ctx context.Context, evs ...thinkstream.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return r.w.emit(ctx, evs...)
}

// emitPosition logs the run's current queue position if it changed since
// the last one logged. It decides under the writer's lock, so a position
// never follows run.started and positions arrive in the order they held,
// whoever calls it.
func (r *run) emitPosition(ctx context.Context) error {
	return r.w.emitFunc(ctx, false, func() []thinkstream.Event {
		if r.w.seq == 0 {
			return nil // run.created is not logged yet; announce sends it
		}
		r.m.mu.Lock()
		pos := r.position
		r.m.mu.Unlock()
		if pos == 0 || pos == r.sentPos {
			return nil
		}
		r.sentPos = pos
		return []thinkstream.Event{{Type: thinkstream.EventRunQueued, Position: pos}}
	}, nil)
}

// stop asks a running generation to end with the given state.
func (r *run) stop(state thinkstream.RunState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopWith == "" {
		r.stopWith = state
	}
	if r.cancel != nil {
		r.cancel(errStopped)
	}
}

// endQueued ends a run that never started.
func (r *run) endQueued(state thinkstream.RunState) {
	<-r.ready
	r.finish(state, nil, thinkstream.Result{})
	r.m.retire(r)
	r.m.renumber()
	r.m.wg.Done()
}

// work runs the generation; it owns a slot of the manager.
func (r *run) work() {
	defer r.m.release(r)
	<-r.ready
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	r.mu.Lock()
	if r.left {
		r.mu.Unlock()
		r.w.close()
		return
	}
	if r.stopWith != "" { // cancelled, shut down or failed while being admitted
		state, cause := r.stopWith, r.failure
		r.mu.Unlock()
		r.finish(state, cause, thinkstream.Result{})
		return
	}
	r.cancel = cancel
	r.startedAt = time.Now()
	started := r.startedAt.UTC()
	r.mu.Unlock()
	if r.attempt > r.m.cfg.MaxAttempts {
		r.finish(thinkstream.StateFailed, attemptsExhausted(r.attempt-1), thinkstream.Result{})
		return
	}
	from, err := r.resumePoint(ctx)
	if err != nil {
		r.finish(thinkstream.StateFailed, err, thinkstream.Result{})
		return
	}
	first := thinkstream.Event{Type: thinkstream.EventRunStarted}
	if from != nil {
		// The seam: viewers see one transcript, with this between the
		// last event of the previous worker and the first of this one.
		first = thinkstream.Event{Type: thinkstream.EventRunResumed, Attempt: r.attempt}
		if r.meta.StartedAt != nil {
			started = *r.meta.StartedAt
		}
	}
	// The run shows as running only once run.started is logged, so that
	// nothing a client does on seeing it (pause, annotate) precedes it.
	err = r.w.emitFunc(ctx, false, func() []thinkstream.Event {
		return []thinkstream.Event{first}
	}, func() {
		r.mu.Lock()
		r.meta.State, r.meta.StartedAt = thinkstream.StateRunning, &started
		r.mu.Unlock()
	})
	if err != nil {
		r.finish(thinkstream.StateFailed, err, thinkstream.Result{})
		return
	}
	_ = r.m.storeMeta(ctx, r)
	r.m.cfg.Metrics.Runs.WithLabelValues(string(thinkstream.StateRunning)).Inc()

	statsDone := make(chan struct{})
	go r.statsLoop(ctx, statsDone)
	parser := reasoning.NewParser(reasoning.DefaultOptions())
	skip := 0 // events the new generation makes again that are logged already
	if from != nil {
		if skip, err = r.continueFrom(from, parser); err != nil {
			close(statsDone)
			r.finish(thinkstream.StateFailed, err, thinkstream.Result{})
			return
		}
		// max_tokens bounds the run, not each attempt: the continuation
		// gets what the earlier ones left of it.
		if mt := r.req.Params.MaxTokens; mt > 0 {
			if left := mt - len(from.raw); left > 0 {
				r.req.Params.MaxTokens = left
			} else {
				close(statsDone)
				r.finish(thinkstream.StateCompleted, nil, thinkstream.Result{FinishReason: "length"})
				return
			}
		}
	}
	var buf []thinkstream.Event
	var pending []string // model output not yet logged with an event
	rawLost := false
	res, err := r.eng.Generate(ctx, r.req, func(tok thinkstream.Token) error {
		// Output an engine split into channels has no raw text that a
		// resumed run could feed back: such runs are not resumed.
		rawLost = rawLost || tok.Channel != thinkstream.ChannelRaw
		pending = append(pending, tok.Text)
		buf = parser.AppendAdd(buf[:0], tok)
		if skip > 0 {
			n := min(skip, len(buf))
			buf, skip = append(buf[:0], buf[n:]...), skip-n
		}
		r.countToken(buf)
		if len(buf) == 0 {
			return nil
		}
		raw := pending
		pending = nil
		if rawLost {
			raw = nil
		}
		return r.w.emitTokens(ctx, raw, buf)
	})
	close(statsDone)
	r.mu.Lock()
	left := r.left
	r.mu.Unlock()
	if left {
		// Handed on: what is logged stays as it is, the next worker
		// continues from there.
		r.w.close()
		return
	}
	if tail := parser.Finish(); len(tail) > 0 {
		r.noteResult(tail)
		if e := r.emit(context.WithoutCancel(ctx), tail...); e != nil && err == nil {
			err = e
		}
	}
	r.mu.Lock()
	stopWith := r.stopWith
	r.mu.Unlock()
	switch {
	case stopWith != "":
		r.finish(stopWith, nil, res)
	case err != nil:
		r.finish(thinkstream.StateFailed, err, res)
	default:
		r.finish(thinkstream.StateCompleted, nil, res)
	}
}

// countToken updates token counters from the events one token produced.
func (r *run) countToken(evs []thinkstream.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == r.resumedFrom {
		r.firstToken = time.Now()
	}
	r.tokens++
	for _, ev := range evs {
		if thinkstream.IsReasoning(ev.Type, ev.Channel) {
			r.thinking++
			return
		}
	}
}

func (r *run) noteResult(evs []thinkstream.Event) {
	for _, ev := range evs {
		if ev.Type == thinkstream.EventResult {
			r.mu.Lock()
			r.answer = ev.Answer
			r.mu.Unlock()
		}
	}
}

func (r *run) statsLoop(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(r.m.cfg.StatsEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = r.emit(ctx, thinkstream.Event{Type: thinkstream.EventStats, Stats: r.stats()})
		}
	}
}

func (r *run) stats() *thinkstream.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &thinkstream.Stats{Tokens: r.tokens, ThinkingTokens: r.thinking, Viewers: r.m.cfg.Hub.Viewers(r.meta.ID)}
	if !r.startedAt.IsZero() {
		s.ElapsedMS = time.Since(r.startedAt).Milliseconds()
	}
	if n := r.tokens - r.resumedFrom; n > 1 {
		if d := time.Since(r.firstToken).Seconds(); d > 0 {
			s.TokensPerSec = float64(n-1) / d
		}
	}
	return s
}

// finish logs the terminal event (after a run.error for failures) and
// stores the final metadata.
func (r *run) finish(state thinkstream.RunState, cause error, res thinkstream.Result) {
	ctx := context.Background()
	now := time.Now()
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	if r.unstored {
		// Nothing of it is logged or listed; events now would be orphans.
		r.ended = true
		r.mu.Unlock()
		r.w.close()
		return
	}
	usage := res.Usage
	if usage.CompletionTokens == 0 || r.resumedFrom > 0 {
		// A continued run's engine counts its own attempt only.
		usage.CompletionTokens = r.tokens
	}
	if usage.ReasoningTokens == 0 || r.resumedFrom > 0 {
		usage.ReasoningTokens = r.thinking
	}
	tm := res.Timings
	tm.TotalMS = now.Sub(r.created).Milliseconds()
	if !r.startedAt.IsZero() {
		tm.QueueMS = r.startedAt.Sub(r.created).Milliseconds()
		if !r.firstToken.IsZero() {
			tm.TTFTMS = r.firstToken.Sub(r.startedAt).Milliseconds()
			r.m.cfg.Metrics.TTFT.Observe(r.firstToken.Sub(r.startedAt).Seconds())
			if d, n := now.Sub(r.firstToken).Seconds(), r.tokens-r.resumedFrom; n > 1 && d > 0 {
				r.m.cfg.Metrics.TokensPerSec.Observe(float64(n-1) / d)
			}
		}
	}
	var evs []thinkstream.Event
	var runErr *thinkstream.RunError
	if state == thinkstream.StateFailed || state == thinkstream.StateInterrupted {
		runErr = publicError(state, cause)
		evs = append(evs, thinkstream.Event{Type: thinkstream.EventRunError, Error: runErr})
	}
	evs = append(evs, thinkstream.Event{
		Type: terminalType(state), State: state, Usage: &usage, Timings: &tm, Error: runErr,
		FinishReason: finishReason(state, res),
	})
	r.ended = true
	r.mu.Unlock()
	ended := now.UTC()
	var meta thinkstream.Run
	final := func() {
		r.mu.Lock()
		r.meta.State, r.meta.EndedAt, r.meta.LastSeq = state, &ended, r.w.last.Load()
		r.meta.Answer, r.meta.Usage, r.meta.Timings, r.meta.Error = r.answer, &usage, &tm, runErr
		meta = r.meta
		r.mu.Unlock()
	}
	// final runs before the terminal event is published: a client that
	// saw it and asks for the run finds it ended.
	err := r.w.emitFunc(ctx, false, func() []thinkstream.Event { return evs }, final)
	if errors.Is(err, errStopped) {
		// Another process logged the run's end first (logEnd) and
		// stored it: nothing of this one's is to be logged or stored.
		r.w.close()
		return
	}
	if err != nil {
		// No retry: a failed append may still have been stored, and a
		// second terminal event would break "exactly one".
		r.m.cfg.Logger.Error("run: log terminal event", "run", r.meta.ID, "err", err)
		final()
	}
	// Whether or not the terminal event made it, nothing more will be
	// published: a topic still open now would keep its viewers forever.
	r.w.close()
	if err := r.m.storeMeta(ctx, r); err != nil {
		r.m.cfg.Logger.Error("run: store final state", "run", meta.ID, "err", err)
	}
	r.m.cfg.Metrics.Runs.WithLabelValues(string(state)).Inc()
	level := r.m.cfg.Logger.Info
	if cause != nil {
		level = r.m.cfg.Logger.Warn
	}
	attrs := []any{"run", meta.ID, "state", state, "tokens", usage.CompletionTokens, "total_ms", tm.TotalMS}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	level("run ended", attrs...)
}

func finishReason(s thinkstream.RunState, res thinkstream.Result) string {
	if s != thinkstream.StateCompleted {
		return ""
	}
	if res.FinishReason == "length" {
		return "length"
	}
	return "stop"
}

func terminalType(s thinkstream.RunState) string {
	switch s {
	case thinkstream.StateCompleted:
		return thinkstream.EventRunCompleted
	case thinkstream.StateCancelled:
		return thinkstream.EventRunCancelled
	case thinkstream.StateInterrupted:
		return thinkstream.EventRunInterrupted
	}
	return thinkstream.EventRunFailed
}

// publicError turns an internal error into what viewers may read.
func publicError(state thinkstream.RunState, err error) *thinkstream.RunError {
	if state == thinkstream.StateInterrupted {
		return &thinkstream.RunError{Code: "interrupted", Message: "the server stopped before the run finished", Retryable: true}
	}
	var ee *thinkstream.EngineError
	if errors.As(err, &ee) {
		return &thinkstream.RunError{Code: ee.Code, Message: ee.Message, Retryable: ee.Retryable}
	}
	if errors.Is(err, thinkstream.ErrUnsupported) {
		return &thinkstream.RunError{Code: "unsupported", Message: "the engine does not support this request"}
	}
	return &thinkstream.RunError{Code: "engine_error", Message: "the model engine failed", Retryable: true}
}
