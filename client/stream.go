package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// State is where a Stream stands, for UIs that show it.
type State int

const (
	// StateConnecting: the first connection attempt is under way.
	StateConnecting State = iota
	// StateLive: the stream is open and events flow.
	StateLive
	// StateReconnecting: the connection dropped; waiting to try again.
	StateReconnecting
	// StateResumed: a new connection is open and resumed after the last
	// event delivered.
	StateResumed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateLive:
		return "live"
	case StateReconnecting:
		return "reconnecting"
	case StateResumed:
		return "resumed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// StreamOptions configure Stream. The zero value follows a run from its
// first event with default reconnection.
type StreamOptions struct {
	// After starts after this seq (0: from the first event).
	After int64
	// Coalesce asks the server to merge consecutive text deltas of the
	// catch-up into one event each (an event then carries From, the first
	// seq it covers). Live events are not merged.
	Coalesce bool
	// MaxAttempts bounds consecutive failed connection attempts before
	// Stream gives up (default 8; negative: unlimited). A connection that
	// opens resets the count.
	MaxAttempts int
	// MinBackoff is the first reconnection delay when the server suggested
	// none (default 250ms); MaxBackoff caps the doubling (default 15s).
	// The server's retry: field, when sent, replaces MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout reconnects when not a byte (heartbeats included) arrived
	// for this long: a silently dead connection (default 45s, three
	// server heartbeats; negative: never).
	IdleTimeout time.Duration
	// OnState, if set, is told about state changes; err is the cause of a
	// StateReconnecting (nil otherwise).
	OnState func(s State, err error)
	// OnViewers, if set, receives the live viewer count.
	OnViewers func(n int)
}

// ErrGaveUp wraps the last connection error when MaxAttempts ran out.
var ErrGaveUp = errors.New("gave up reconnecting")

// errDropped is a connection that ended before the terminal event.
var errDropped = errors.New("stream ended before the run did")

// Stream follows a run's events, calling fn for each one in order. On a
// network drop it reconnects with backoff and jitter and resumes after the
// last event it delivered (Last-Event-ID), so fn sees every event exactly
// once. It returns nil after the terminal event (or when the server says
// there is nothing more, 204), fn's error if fn fails, ctx's error when
// cancelled, an *Error for a definitive refusal (unknown run, bad id), and
// an error wrapping ErrGaveUp when reconnection attempts ran out.
func (c *Client) Stream(ctx context.Context, id string, opts StreamOptions, fn func(thinkstream.Event) error) error {
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 8
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 15 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 45 * time.Second
	}
	s := &streamer{c: c, id: id, opts: opts, fn: fn, last: opts.After}
	return s.run(ctx)
}

type streamer struct {
	c     *Client
	id    string
	opts  StreamOptions
	fn    func(thinkstream.Event) error
	last  int64 // seq of the last event delivered
	retry time.Duration
	// connected is set once a connection opened: later ones are resumes.
	connected bool
}

func (s *streamer) state(st State, err error) {
	if s.opts.OnState != nil {
		s.opts.OnState(st, err)
	}
}

func (s *streamer) run(ctx context.Context) error {
	s.state(StateConnecting, nil)
	failures := 0
	for {
		done, opened, err := s.connect(ctx)
		if done {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if opened {
			failures = 0
		}
		failures++
		if s.opts.MaxAttempts > 0 && failures > s.opts.MaxAttempts {
			return fmt.Errorf("stream run %s: %w after %d attempts: %w", s.id, ErrGaveUp, failures, err)
		}
		s.state(StateReconnecting, err)
		if err := sleep(ctx, s.backoff(failures)); err != nil {
			return err
		}
	}
}

// backoff is the delay before attempt n (1-based) of a reconnection: the
// server's retry (or MinBackoff) doubled per consecutive failure and capped
// at MaxBackoff (but never below the server's retry), plus up to half again
// of random jitter, so a crowd of viewers cut at once does not return at
// once and none returns sooner than the server asked.
func (s *streamer) backoff(n int) time.Duration {
	d := s.opts.MinBackoff
	if s.retry > 0 {
		d = s.retry
	}
	ceil := max(s.opts.MaxBackoff, d)
	for i := 1; i < n && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	return d + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connect makes one connection and reads it until it ends. done reports
// that Stream must return err; otherwise err is why the connection ended and
// opened whether it got as far as an open stream.
func (s *streamer) connect(ctx context.Context) (done, opened bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := s.c.base + "/v1/runs/" + url.PathEscape(s.id) + "/events"
	if s.opts.Coalesce {
		u += "?coalesce=1"
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u, nil)
	if err != nil {
		return true, false, fmt.Errorf("stream run %s: %w", s.id, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err := s.c.hc.Do(req)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return true, false, nil
	case resp.StatusCode != http.StatusOK:
		err := readError(resp)
		var e *Error
		if errors.As(err, &e) && e.Temporary() {
			return false, false, err
		}
		return true, false, fmt.Errorf("stream run %s: %w", s.id, err)
	}
	body := io.Reader(resp.Body)
	if s.opts.IdleTimeout > 0 {
		w := newWatchdog(resp.Body, s.opts.IdleTimeout, cancel)
		defer w.stop()
		body = w
	}
	r := sse.NewReader(body)
	for {
		ev, err := r.Next()
		if ms, ok := r.Retry(); ok {
			s.retry = time.Duration(ms) * time.Millisecond
		}
		if err != nil {
			if err == io.EOF {
				err = errDropped
			}
			if ctx.Err() != nil {
				return true, opened, ctx.Err()
			}
			return false, opened, err
		}
		switch ev.Type {
		case thinkstream.EventStreamOpen:
			opened = true
			if s.connected {
				s.state(StateResumed, nil)
			} else {
				s.state(StateLive, nil)
			}
			s.connected = true
			continue
		case thinkstream.EventViewers:
			if s.opts.OnViewers != nil {
				var v struct {
					Viewers int `json:"viewers"`
				}
				if json.Unmarshal([]byte(ev.Data), &v) == nil {
					s.opts.OnViewers(v.Viewers)
				}
			}
			continue
		case thinkstream.EventRunError:
			if ev.HasID {
				break // the run's own, logged error
			}
			// The server could not complete this stream. Retryable: a
			// reconnect resumes; else the run's events are gone.
			var e thinkstream.Event
			if json.Unmarshal([]byte(ev.Data), &e) == nil && e.Error != nil && !e.Error.Retryable {
				return true, opened, fmt.Errorf("stream run %s: %s", s.id, e.Error.Message)
			}
			return false, opened, errors.New("server reported a stream error")
		}
		if !ev.HasID {
			continue // a frame of a kind this client does not know
		}
		var e thinkstream.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return true, opened, fmt.Errorf("stream run %s: event %s: %w", s.id, ev.ID, err)
		}
		if e.Seq <= s.last {
			continue // already delivered before a reconnect
		}
		if err := s.fn(e); err != nil {
			return true, opened, err
		}
		s.last = e.Seq
		if thinkstream.IsTerminal(e.Type) {
			return true, opened, nil
		}
	}
}

// watchdog cancels a connection when no byte arrived for a while.
type watchdog struct {
	r     io.Reader
	d     time.Duration
	mu    sync.Mutex
	timer *time.Timer
}

func newWatchdog(r io.Reader, d time.Duration, cancel func()) *watchdog {
	return &watchdog{r: r, d: d, timer: time.AfterFunc(d, cancel)}
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.mu.Lock()
		w.timer.Reset(w.d)
		w.mu.Unlock()
	}
	return n, err
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
}
