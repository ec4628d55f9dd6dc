// Package modelpull downloads the offered model from the server itself —
// the home page's "Download VibeThinker" — with modelstore's resumable,
// verified pull underneath, and hands the file to a callback that
// switches the server to it. One pull runs at a time; its progress can be
// read or followed (SSE) and it can be cancelled, keeping what arrived
// for the next attempt to resume.
package modelpull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/thinkstream/thinkstream/modelstore"
)

// DefaultRepo is the model offered: VibeThinker-1.5B's GGUF conversions.
const DefaultRepo = "mradermacher/VibeThinker-1.5B-GGUF"

// DefaultQuant is the quantization preselected on the page: the smallest
// that keeps the model's quality (docs/engines.md).
const DefaultQuant = "Q4_K_M"

// Config configures a Manager.
type Config struct {
	// Puller downloads (its Store, Endpoint, Token, Client, UserAgent are
	// used; its Progress and OnProgress are the Manager's). Required.
	Puller *modelstore.Puller
	// Repo is the repository offered (default DefaultRepo) and
	// DefaultQuant the quantization preselected (default DefaultQuant).
	Repo, DefaultQuant string
	// Ready is called with the downloaded file; it loads the model and
	// switches the server to it. An error fails the pull (the file stays).
	Ready  func(ctx context.Context, path string) error
	Logger *slog.Logger
}

// State is a pull's state.
type State string

// A pull downloads, then loads the model, then is ready; or it ends
// failed or cancelled, keeping the bytes that arrived.
const (
	StateDownloading State = "downloading"
	StateLoading     State = "loading"
	StateReady       State = "ready"
	StateFailed      State = "failed"
	StateCancelled   State = "cancelled"
)

// Ended reports whether a pull in state s is over.
func (s State) Ended() bool { return s == StateReady || s == StateFailed || s == StateCancelled }

// Pull is what a client sees of a pull.
type Pull struct {
	ID    string `json:"id"`
	Repo  string `json:"repo"`
	Quant string `json:"quant"`
	File  string `json:"file"`
	State State  `json:"state"`
	// Done and Total are bytes (Total -1 when unknown); Resumed is what an
	// earlier attempt had already downloaded; Rate is bytes per second and
	// ETASeconds the time left at that rate (0 when unknown).
	Done       int64   `json:"done"`
	Total      int64   `json:"total"`
	Resumed    int64   `json:"resumed"`
	Rate       float64 `json:"rate"`
	ETASeconds float64 `json:"eta_s"`
	// Error says why a failed pull failed (safe to show).
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// Errors the HTTP API maps to problems.
var (
	ErrBusy     = errors.New("a download is already running")
	ErrNotFound = errors.New("no such download")
	// ErrHub: the hub could not list the repository.
	ErrHub = errors.New("the model hub could not be reached")
)

// UnknownQuantError is a quantization the repository does not offer.
type UnknownQuantError struct {
	Quant     string
	Available []string
}

func (e *UnknownQuantError) Error() string {
	return fmt.Sprintf("no quantization %q; available: %s", e.Quant, strings.Join(e.Available, ", "))
}

type pull struct {
	p      Pull
	cancel context.CancelFunc
	done   chan struct{}
}

// Manager runs pulls.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pulls   map[string]*pull
	cur     *pull
	changed chan struct{} // closed and replaced on every change
	offer   []modelstore.RemoteFile

	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New returns a Manager. Close stops its pulls.
func New(cfg Config) *Manager {
	if cfg.Repo == "" {
		cfg.Repo = DefaultRepo
	}
	if cfg.DefaultQuant == "" {
		cfg.DefaultQuant = DefaultQuant
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, log: log, pulls: map[string]*pull{}, changed: make(chan struct{}), base: base, stop: stop}
}

// Repo is the repository offered; DefaultQuant the preselected quantization.
func (m *Manager) Repo() string         { return m.cfg.Repo }
func (m *Manager) DefaultQuant() string { return m.cfg.DefaultQuant }

// Files lists the GGUF files the repository offers (asked of the hub once).
func (m *Manager) Files(ctx context.Context) ([]modelstore.RemoteFile, error) {
	m.mu.Lock()
	offer := m.offer
	m.mu.Unlock()
	if offer != nil {
		return offer, nil
	}
	files, err := m.cfg.Puller.Files(ctx, m.cfg.Repo, "")
	if err != nil {
		m.log.Warn("model pull: listing the repository failed", "repo", m.cfg.Repo, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrHub, err)
	}
	var out []modelstore.RemoteFile
	for _, f := range files {
		if f.Quant != "" {
			out = append(out, f)
		}
	}
	m.mu.Lock()
	m.offer = out
	m.mu.Unlock()
	return out, nil
}

// Start begins downloading the file of quantization quant.
func (m *Manager) Start(ctx context.Context, quant string) (Pull, error) {
	files, err := m.Files(ctx)
	if err != nil {
		return Pull{}, err
	}
	var f *modelstore.RemoteFile
	var names []string
	for i := range files {
		names = append(names, files[i].Quant)
		if strings.EqualFold(files[i].Quant, quant) {
			f = &files[i]
		}
	}
	if f == nil {
		return Pull{}, &UnknownQuantError{Quant: quant, Available: names}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Pull{}, fmt.Errorf("modelpull: new id: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != nil && !m.cur.p.State.Ended() {
		return Pull{}, ErrBusy
	}
	pctx, cancel := context.WithCancel(m.base)
	pl := &pull{cancel: cancel, done: make(chan struct{}), p: Pull{
		ID: id.String(), Repo: m.cfg.Repo, Quant: f.Quant, File: f.Path, State: StateDownloading,
		Total: f.Size, StartedAt: time.Now().UTC(),
	}}
	m.pulls[pl.p.ID], m.cur = pl, pl
	m.notify()
	m.wg.Add(1)
	go m.run(pctx, pl)
	m.log.Info("model pull started", "repo", m.cfg.Repo, "file", f.Path, "size", f.Size)
	return pl.p, nil
}

func (m *Manager) run(ctx context.Context, pl *pull) {
	defer m.wg.Done()
	defer close(pl.done)
	p := *m.cfg.Puller
	p.Progress, p.Terminal = nil, false
	p.OnProgress = func(pg modelstore.Progress) {
		m.update(pl, func(x *Pull) {
			x.Done, x.Resumed, x.Rate, x.ETASeconds = pg.Done, pg.From, pg.Rate, pg.ETA.Seconds()
			if pg.Total >= 0 {
				x.Total = pg.Total
			}
		})
	}
	path, err := p.Pull(ctx, modelstore.Ref{Repo: pl.p.Repo, Quant: pl.p.Quant})
	if err == nil {
		m.update(pl, func(x *Pull) { x.State, x.Rate, x.ETASeconds = StateLoading, 0, 0 })
		if m.cfg.Ready != nil {
			if err = m.cfg.Ready(ctx, path); err != nil {
				m.log.Error("model pull: loading the model failed", "path", path, "err", err)
				m.end(pl, StateFailed, "The model was downloaded but could not be loaded; see the server log.")
				return
			}
		}
		m.log.Info("model pull finished", "path", path)
		m.end(pl, StateReady, "")
		return
	}
	if ctx.Err() != nil {
		m.log.Info("model pull cancelled", "file", pl.p.File)
		m.end(pl, StateCancelled, "")
		return
	}
	m.log.Warn("model pull failed", "file", pl.p.File, "err", err)
	x := m.snapshot(pl)
	m.end(pl, StateFailed, fmt.Sprintf("The download stopped at %s of %s. Download again to continue from there.", human(x.Done), human(x.Total)))
}

func (m *Manager) update(pl *pull, f func(*Pull)) {
	m.mu.Lock()
	f(&pl.p)
	m.notify()
	m.mu.Unlock()
}

func (m *Manager) end(pl *pull, s State, msg string) {
	now := time.Now().UTC()
	m.update(pl, func(x *Pull) { x.State, x.Error, x.EndedAt, x.Rate, x.ETASeconds = s, msg, &now, 0, 0 })
}

// notify wakes the watchers; m.mu held.
func (m *Manager) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// snapshot returns pl's state.
func (m *Manager) snapshot(pl *pull) Pull {
	m.mu.Lock()
	defer m.mu.Unlock()
	return pl.p
}

// Get returns pull id, and a channel closed at its next change.
func (m *Manager) Get(id string) (Pull, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pl, ok := m.pulls[id]
	if !ok {
		return Pull{}, nil, ErrNotFound
	}
	return pl.p, m.changed, nil
}

// Current returns the latest pull, if any.
func (m *Manager) Current() (Pull, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return Pull{}, false
	}
	return m.cur.p, true
}

// Cancel stops pull id and waits (within ctx) until it has stopped.
func (m *Manager) Cancel(ctx context.Context, id string) (Pull, error) {
	m.mu.Lock()
	pl, ok := m.pulls[id]
	m.mu.Unlock()
	if !ok {
		return Pull{}, ErrNotFound
	}
	pl.cancel()
	select {
	case <-pl.done:
	case <-ctx.Done():
		return Pull{}, ctx.Err()
	}
	return m.snapshot(pl), nil
}

// Close cancels the pulls and waits for them; a cancelled download keeps
// its bytes for the next attempt.
func (m *Manager) Close() {
	m.stop()
	m.wg.Wait()
}

// partial is the size of f's interrupted download, where Pull keeps it.
func (m *Manager) partial(f modelstore.RemoteFile) int64 {
	st, err := os.Stat(filepath.Join(m.cfg.Puller.Store.Dir, filepath.FromSlash(m.cfg.Repo), filepath.Base(f.Path)+".part"))
	if err != nil {
		return 0
	}
	return st.Size()
}

func human(n int64) string {
	if n < 0 {
		return "an unknown size"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[exp-1])
}
