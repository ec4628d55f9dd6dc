// Package runs is the run manager: it admits runs (a bounded number generate
// at once, a bounded queue waits), drives each through its engine and the
// reasoning parser, numbers the resulting events, logs them durably and only
// then hands them to the hub, and ends every run with exactly one terminal
// event — also runs that a crash or shutdown cut short.
package runs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	// Tail returns the run's last event and its position, for AppendAfter.
	Tail(ctx context.Context, runID string) (thinkstream.Record, uint64, error)
	// AppendAfter appends only if the log still ends at position fence,
	// else fails with thinkstream.ErrLogConflict.
	AppendAfter(ctx context.Context, runID string, fence uint64, recs []thinkstream.Record) error
	FirstSeq(ctx context.Context, runID string) (int64, error)
	PutRun(ctx context.Context, run thinkstream.Run) error
	GetRun(ctx context.Context, id string) (thinkstream.Run, error)
	// UpdateRun changes a run's stored metadata by compare-and-set, so
	// that of processes racing to change it each sees the other's change.
	UpdateRun(ctx context.Context, id string, change func(*thinkstream.Run) error) (thinkstream.Run, error)
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
	// Queue, when set, makes this manager a gateway's: runs are admitted
	// and queued for workers, never generated here (see Queue).
	Queue Queue
	// ResumeInterrupted makes Recover continue the runs a crash cut short
	// (from their logged output, as a worker continues a dead worker's
	// run) instead of ending them with run.interrupted.
	ResumeInterrupted bool
	// MaxAttempts bounds how often a run is taken by a worker (Take)
	// before it ends failed (default 3).
	MaxAttempts int
	// Remote reaches the writers of runs that other processes generate
	// on a shared log (nil: a single server; see Remote).
	Remote Remote
	// MaxTokens caps every run's max_tokens after its profile is applied,
	// so a server started with a lower cap than its profiles' defaults
	// still ends runs there (0: the profiles' and engine's caps only).
	MaxTokens int
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
	if m.cfg.MaxAttempts <= 0 {
		m.cfg.MaxAttempts = 3
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
	if m.cfg.Queue != nil {
		return m.createQueued(ctx, req)
	}
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
	r.meta.OwnerKey = ownerKey(r.owner)
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
	// The reply describes the run as admitted: taken after the work
	// starts, a short run could be over already (and the reply say
	// "completed" for a run its client has not yet watched).
	created := Created{Run: r.snapshotMeta(), OwnerToken: r.owner}
	if r.startNow {
		go r.work()
	}
	return created, nil
}

// announce stores the run and logs run.created (and run.queued); stored
// says whether the run exists in the store, even when err is set.
func (m *Manager) announce(ctx context.Context, r *run) (stored bool, err error) {
	if err := m.storeMeta(ctx, r); err != nil {
		return false, err
	}
	m.serve(r)
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
	msgs, params, err := m.applyProfile(req)
	if c := m.cfg.MaxTokens; err == nil && c > 0 && (params.MaxTokens <= 0 || params.MaxTokens > c) {
		params.MaxTokens = c
	}
	return msgs, params, err
}

func (m *Manager) applyProfile(req thinkstream.RunRequest) ([]thinkstream.Message, thinkstream.Params, error) {
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
	r.mu.Lock()
	unserve := r.unserve
	r.unserve = nil
	r.mu.Unlock()
	if unserve != nil {
		unserve()
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
	if err == nil && !run.State.Terminal() {
		// Another process writes it (a gateway of a cluster shows runs of
		// every node): the stored metadata lags, the log does not.
		run.LastSeq, err = m.cfg.Log.LastSeq(ctx, id)
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

// Viewers returns the number of viewers of a run on this node.
func (m *Manager) Viewers(id string) int { return m.cfg.Hub.Viewers(id) }

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ownerKey is what the store keeps of an owner token.
func ownerKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
