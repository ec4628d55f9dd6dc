// Package runs is the run manager: it admits runs (a bounded number generate
// at once, a bounded queue waits), drives each through its engine and the
// reasoning parser, numbers the resulting events, logs them durably and only
// then hands them to the hub, and ends every run with exactly one terminal
// event — also runs that a crash or shutdown cut short.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
)

// Errors callers map to HTTP statuses.
var (
	ErrNotFound     = errors.New("run not found")
	ErrQueueFull    = errors.New("run queue is full")
	ErrShuttingDown = errors.New("server is shutting down")
	ErrNotActive    = errors.New("run is not active")
	ErrForbidden    = errors.New("not the owner of this run")
)

// Log is what the manager needs of the durable log.
type Log interface {
	Append(ctx context.Context, runID string, recs []thinkstream.Record) error
	Read(ctx context.Context, runID string, after, until int64, fn func(thinkstream.Record) error) error
	LastSeq(ctx context.Context, runID string) (int64, error)
	FirstSeq(ctx context.Context, runID string) (int64, error)
	PutRun(ctx context.Context, run thinkstream.Run) error
	GetRun(ctx context.Context, id string) (thinkstream.Run, error)
	RunIDs(ctx context.Context) ([]string, error)
	// DeleteRun removes a run's events and metadata for good.
	DeleteRun(ctx context.Context, runID string) error
}

// Profiles turns a request into the messages and parameters sent to the
// engine (system prompt, prompt suffix, sampling defaults).
type Profiles interface {
	Apply(req thinkstream.RunRequest) ([]thinkstream.Message, thinkstream.Params, error)
}

// Config configures a Manager. Zero values are documented defaults.
type Config struct {
	Engine   thinkstream.Engine
	Log      Log
	Hub      *hub.Hub
	Profiles Profiles // nil: system + problem as given
	// MaxConcurrent generations (default: the engine's MaxParallel, else 1).
	MaxConcurrent int
	// MaxQueue runs may wait (default 64); beyond that Create fails with
	// ErrQueueFull.
	MaxQueue int
	// StatsEvery is the period of stats events (default 1s).
	StatsEvery time.Duration
	// ShutdownGrace is how long Shutdown lets running generations finish
	// before interrupting them (default 0: interrupt at once).
	ShutdownGrace time.Duration
	Metrics       *Metrics
	Logger        *slog.Logger
}

// Manager owns the lifecycle of runs.
type Manager struct {
	cfg Config

	// emu guards the engine new runs go to and its info (SetEngine).
	emu  sync.RWMutex
	eng  thinkstream.Engine
	info thinkstream.EngineInfo
	// autoConcurrent: MaxConcurrent follows the engine's MaxParallel.
	autoConcurrent bool

	mu      sync.Mutex
	active  map[string]*run // queued and running
	queue   []*run
	running int
	closed  bool
	wg      sync.WaitGroup

	snapMu sync.Mutex
	snaps  map[string]*Snapshot // finished runs' snapshots
	order  []string
	// snapGen counts dropped snapshots, so a fold of the log that raced
	// an annotation is not cached.
	snapGen atomic.Uint64

	wmu     sync.Mutex
	writers map[string]*writer // every run someone is writing to

	// putMu orders the stores of run metadata: each store reads the
	// newest metadata under it, so the last store always carries every
	// change (a visibility change racing a run's end loses neither).
	putMu sync.Mutex

	access accessIndex // who may list each run, to skip reading others'
}

// New returns a manager. Call Recover once before serving.
func New(cfg Config) *Manager {
	m := &Manager{cfg: cfg, active: make(map[string]*run), snaps: make(map[string]*Snapshot),
		writers: make(map[string]*writer), access: accessIndex{m: make(map[string]access)}}
	m.eng, m.info = cfg.Engine, describe(cfg.Engine)
	if m.cfg.MaxConcurrent <= 0 {
		m.autoConcurrent = true
		m.cfg.MaxConcurrent = max(m.info.MaxParallel, 1)
	}
	if m.cfg.MaxQueue <= 0 {
		m.cfg.MaxQueue = 64
	}
	if m.cfg.StatsEvery <= 0 {
		m.cfg.StatsEvery = time.Second
	}
	if m.cfg.Metrics == nil {
		m.cfg.Metrics = NewMetrics(nil)
	}
	if m.cfg.Logger == nil {
		m.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return m
}

// Created is what Create returns: the run and the secret that lets its
// creator cancel or pause it.
type Created struct {
	thinkstream.Run
	OwnerToken string `json:"owner_token"`
}

// Create admits a new run. A rejected request creates nothing.
func (m *Manager) Create(ctx context.Context, req thinkstream.RunRequest) (Created, error) {
	msgs, params, err := m.apply(req)
	if err != nil {
		return Created{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Created{}, fmt.Errorf("runs: new id: %w", err)
	}
	now := time.Now()
	m.emu.RLock()
	eng, info := m.eng, m.info
	m.emu.RUnlock()
	r := &run{
		m:       m,
		eng:     eng,
		created: now,
		owner:   newToken(),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		req:     thinkstream.Request{RunID: id.String(), Messages: msgs, Params: params},
		meta: thinkstream.Run{
			ID: id.String(), State: thinkstream.StateQueued, Problem: req.Problem, System: req.System,
			Profile: req.Profile, Params: params, Engine: eng.Name(), Model: info.Model,
			Simulated: info.Simulated, Source: req.Source, CreatedAt: now.UTC(),
			Owner: req.Owner, Visibility: req.Visibility.Effective(),
		},
	}
	r.w = m.acquireWriter(id.String(), now, 0, true)
	r.w.fold = &fold{}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return Created{}, ErrShuttingDown
	case m.running < m.cfg.MaxConcurrent:
		m.running++
		r.startNow = true
	case len(m.queue) < m.cfg.MaxQueue:
		m.queue = append(m.queue, r)
		r.position = len(m.queue)
	default:
		m.mu.Unlock()
		m.releaseWriter(r.w)
		m.cfg.Metrics.Rejected.Inc()
		return Created{}, ErrQueueFull
	}
	m.active[r.meta.ID] = r
	m.wg.Add(1)
	m.mu.Unlock()
	m.access.set(r.meta.ID, r.meta.Owner, r.meta.Visibility)

	if stored, err := m.announce(ctx, r); err != nil {
		m.abandon(r, stored, err)
		return Created{}, err
	}
	m.cfg.Metrics.Runs.WithLabelValues(string(thinkstream.StateQueued)).Inc()
	if r.startNow {
		go r.work()
	}
	return Created{Run: r.snapshotMeta(), OwnerToken: r.owner}, nil
}

// announce stores the run and logs run.created (and run.queued); stored
// says whether the run exists in the store, even when err is set.
func (m *Manager) announce(ctx context.Context, r *run) (stored bool, err error) {
	if err := m.storeMeta(ctx, r); err != nil {
		return false, err
	}
	r.w.open()
	meta := r.meta
	if err := r.emit(ctx, thinkstream.Event{Type: thinkstream.EventRunCreated, Run: &meta}); err != nil {
		return true, err
	}
	if err := r.emitPosition(ctx); err != nil {
		return true, err
	}
	close(r.ready)
	return true, nil
}

// abandon ends a run whose announcement failed: the client is told it was
// not created, but when it is stored already it gets a terminal event
// where the log allows one; its topic is closed either way.
func (m *Manager) abandon(r *run, stored bool, cause error) {
	m.mu.Lock()
	queued := m.removeQueued(r)
	// Neither starting now nor queued: release already handed it a slot
	// and its work is waiting for ready; it ends the run itself.
	started := !r.startNow && !queued
	m.mu.Unlock()
	r.mu.Lock()
	r.stopWith, r.failure, r.unstored = thinkstream.StateFailed, cause, !stored
	r.mu.Unlock()
	close(r.ready)
	if started {
		return // its work ends it
	}
	r.finish(thinkstream.StateFailed, cause, thinkstream.Result{})
	if r.startNow {
		m.release(r)
		return
	}
	m.retire(r)
	m.renumber()
	m.wg.Done()
}

func (m *Manager) apply(req thinkstream.RunRequest) ([]thinkstream.Message, thinkstream.Params, error) {
	if m.cfg.Profiles != nil {
		return m.cfg.Profiles.Apply(req)
	}
	if len(req.Messages) > 0 {
		return req.Messages, req.Params, nil
	}
	var msgs []thinkstream.Message
	if req.System != "" {
		msgs = append(msgs, thinkstream.Message{Role: "system", Content: req.System})
	}
	msgs = append(msgs, thinkstream.Message{Role: "user", Content: req.Problem})
	return msgs, req.Params, nil
}

// removeQueued drops r from the queue; m.mu must be held.
func (m *Manager) removeQueued(r *run) bool {
	for i, q := range m.queue {
		if q == r {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			r.position = 0
			m.reindex()
			return true
		}
	}
	return false
}

// reindex gives queued runs their positions; m.mu must be held. renumber
// then tells their viewers.
func (m *Manager) reindex() {
	for i, q := range m.queue {
		q.position = i + 1
	}
}

// renumber logs the queue positions that changed. It is the only sender of
// run.queued after a run's announcement; see emitPosition for why the order
// holds however many goroutines call it.
func (m *Manager) renumber() {
	m.mu.Lock()
	queued := append([]*run(nil), m.queue...)
	m.mu.Unlock()
	for _, q := range queued {
		if err := q.emitPosition(context.Background()); err != nil && !errors.Is(err, errStopped) {
			m.cfg.Logger.Warn("run: log queue position", "run", q.meta.ID, "err", err)
		}
	}
}

// retire removes a finished run from the active set, leaving its snapshot
// in the cache so the next read need not fold the log.
func (m *Manager) retire(r *run) {
	r.mu.Lock()
	unstored := r.unstored
	r.mu.Unlock()
	if !unstored {
		m.keepSnapshot(r.meta.ID, r.w.fold.snapshot())
	}
	m.mu.Lock()
	delete(m.active, r.meta.ID)
	m.mu.Unlock()
	m.releaseWriter(r.w)
	r.doneOnce.Do(func() { close(r.done) })
}

// release frees a generation slot and starts the next queued run.
func (m *Manager) release(r *run) {
	m.retire(r)
	m.mu.Lock()
	m.running--
	var next *run
	if len(m.queue) > 0 && !m.closed {
		next, m.queue = m.queue[0], m.queue[1:]
		next.position = 0
		m.reindex()
		m.running++
	}
	m.mu.Unlock()
	if next != nil {
		go next.work()
	}
	m.renumber()
	m.wg.Done()
}

// Get returns a run's metadata.
func (m *Manager) Get(ctx context.Context, id string) (thinkstream.Run, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r != nil {
		return r.snapshotMeta(), nil
	}
	run, err := m.cfg.Log.GetRun(ctx, id)
	if errors.Is(err, thinkstream.ErrRunNotFound) {
		return run, ErrNotFound
	}
	return run, err
}

// List returns up to limit runs created before the run `before` (all when
// empty), newest first, and the id to pass as `before` for the next page.
func (m *Manager) List(ctx context.Context, limit int, before string) ([]thinkstream.Run, string, error) {
	return m.ListFunc(ctx, limit, before, nil)
}

// ListFunc is List of the runs keep accepts (nil: all). keep must decide
// by a run's Owner and Visibility alone: runs it refuses by what this node
// knows of them are skipped without reading their metadata, so that a
// caller who may list few of many runs does not read them all.
func (m *Manager) ListFunc(ctx context.Context, limit int, before string, keep func(thinkstream.Run) bool) ([]thinkstream.Run, string, error) {
	ids, err := m.cfg.Log.RunIDs(ctx)
	if err != nil {
		return nil, "", err
	}
	out := make([]thinkstream.Run, 0, limit)
	for _, id := range ids {
		if before != "" && id >= before {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		if keep != nil {
			// Known and refused: skip. What another node changed may be
			// stale here, but only towards listing less: a run this node
			// thinks listable is checked below against what is stored.
			if a, ok := m.access.get(id); ok && !keep(thinkstream.Run{ID: id, Owner: a.owner, Visibility: a.vis}) {
				continue
			}
		}
		run, err := m.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		m.access.set(id, run.Owner, run.Visibility)
		if keep != nil && !keep(run) {
			continue
		}
		out = append(out, run)
	}
	return out, "", nil
}

// Cancel stops a queued or running run. token must be its owner token
// unless empty tokens are allowed by the caller (pass the run's own token).
func (m *Manager) Cancel(ctx context.Context, id, token string) error {
	r, err := m.activeRun(ctx, id, token)
	if err != nil {
		return err
	}
	m.mu.Lock()
	queued := m.removeQueued(r)
	m.mu.Unlock()
	if queued {
		go r.endQueued(thinkstream.StateCancelled)
		return nil
	}
	r.stop(thinkstream.StateCancelled)
	return nil
}

// CancelAny cancels a run without an owner check (the server's own front
// doors, e.g. an OpenAI client that disconnected).
func (m *Manager) CancelAny(ctx context.Context, id string) error {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r == nil {
		return m.notActive(ctx, id)
	}
	return m.Cancel(ctx, id, r.owner)
}

func (m *Manager) activeRun(ctx context.Context, id, token string) (*run, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	if r == nil {
		return nil, m.notActive(ctx, id)
	}
	if !r.ownedBy(token) {
		return nil, ErrForbidden
	}
	return r, nil
}

func (m *Manager) notActive(ctx context.Context, id string) error {
	if _, err := m.Get(ctx, id); err != nil {
		return err
	}
	return ErrNotActive
}

// Pause pauses a running generation when the engine supports it.
func (m *Manager) Pause(ctx context.Context, id, token string) error {
	return m.pauseResume(ctx, id, token, true)
}

// Resume resumes a paused generation.
func (m *Manager) Resume(ctx context.Context, id, token string) error {
	return m.pauseResume(ctx, id, token, false)
}

func (m *Manager) pauseResume(ctx context.Context, id, token string, pause bool) error {
	r, err := m.activeRun(ctx, id, token)
	eng := m.Engine()
	if r != nil {
		eng = r.eng // after a SetEngine, the run's own engine
	}
	p, ok := eng.(thinkstream.Pauser)
	if !ok {
		return thinkstream.ErrUnsupported
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	ended := r.ended
	r.mu.Unlock()
	if ended { // finishing: still active for a moment, but not generating
		return ErrNotActive
	}
	typ := thinkstream.EventRunResumed
	if pause {
		err, typ = p.Pause(id), thinkstream.EventRunPaused
	} else {
		err = p.Resume(id)
	}
	if err != nil {
		return err
	}
	err = r.emit(ctx, thinkstream.Event{Type: typ})
	if errors.Is(err, errStopped) {
		return ErrNotActive
	}
	return err
}

// Annotate logs an annotation of a run's step that every viewer sees. On
// a finished run it follows the terminal event and reaches viewers through
// snapshots.
func (m *Manager) Annotate(ctx context.Context, id string, a thinkstream.Annotation) (thinkstream.Event, error) {
	m.mu.Lock()
	r := m.active[id]
	m.mu.Unlock()
	var created time.Time
	var finished *thinkstream.Run
	if r != nil {
		created = r.created
	} else {
		run, err := m.Get(ctx, id)
		if err != nil {
			return thinkstream.Event{}, err
		}
		created, finished = run.CreatedAt, &run
	}
	// A live run's writer when it still has one; else a new one whose seq
	// is read from the log at the first write, under its lock, once for
	// all concurrent annotators (the live writer is done by then: runs
	// drop it only after their terminal event).
	w := m.acquireWriter(id, created, 0, false)
	defer m.releaseWriter(w)
	evs := []thinkstream.Event{{Type: thinkstream.EventAnnotation, Annotation: &a}}
	var then func()
	if finished != nil {
		// A finished run's stored last_seq follows its annotations; under
		// the writer's lock, so concurrent annotators store it in order.
		then = func() {
			if err := m.updateStored(context.WithoutCancel(ctx), id, func(run *thinkstream.Run) {
				run.LastSeq = max(run.LastSeq, w.last.Load())
			}); err != nil {
				m.cfg.Logger.Error("run: store last_seq after an annotation", "run", id, "err", err)
			}
		}
	}
	if err := w.emitFunc(ctx, true, func() []thinkstream.Event { return evs }, then); err != nil {
		return thinkstream.Event{}, err
	}
	m.dropSnapshot(id)
	return evs[0], nil
}

// Viewers returns the number of viewers of a run on this node.
func (m *Manager) Viewers(id string) int { return m.cfg.Hub.Viewers(id) }

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
