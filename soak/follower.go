package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/thinkstream/thinkstream"
)

// closeAfterTerminal is how long the server may take to end a stream after
// its terminal event.
const closeAfterTerminal = 5 * time.Second

// follower is one viewer that follows a run to its terminal event, the way
// EventSource does: on a lost connection it reconnects with Last-Event-ID.
// It checks that the events it gets are exactly 1..N in order, and records
// every connection that ended before the terminal event and why.
type follower struct {
	// Set before run.
	hc      *http.Client
	base    func() string // the server's URL now (it changes when a server restarts)
	runID   string
	query   string    // extra query, e.g. "pace=original&speed=64"
	created time.Time // the run's created_at, for delivery lag; zero: none
	lag     *hist     // nil: not measured
	// dropEvery, when set, gives the time until the viewer itself drops
	// its connection; no drops start after dropUntil.
	dropEvery func() time.Duration
	dropUntil time.Time
	retry     time.Duration // pause before reconnecting (default 100ms)
	once      bool          // no reconnect: one connection, whatever its end
	gate      chan struct{} // held while connecting; nil: no limit
	keep      bool          // keep a hash of every event by seq
	onEvent   func(seq int64, typ string, data []byte)

	// Results.
	next        int64 // the seq expected next: every seq below it was received once
	received    int64
	lost        int64 // seqs skipped over
	repeated    int64 // seqs at or below one already received
	problems    []string
	conns       int    // connections answered 200
	drops       int    // connections the viewer itself dropped
	cuts        []cut  // connections that ended before the terminal event, not by the viewer
	refused     int    // connection attempts that failed (server down)
	heartbeats  int    // keep-alive comments
	gapOpen     bool   // a stream.open said events were gone
	streamErrs  int    // stream.error frames
	resumed     int    // run.resumed frames received (a repeat counts again)
	terminal    string // type of the terminal event; "" when none arrived
	lastSeq     int64  // seq of the terminal event
	closedClean bool   // the server ended the stream after the terminal event
	hashes      []uint64
	err         error // why the viewer gave up before the terminal event
}

// cut is a connection that ended before the terminal event.
type cut struct {
	after time.Duration // how long the connection had lasted
	seq   int64         // last seq received before it
	why   string
}

func (f *follower) problem(format string, a ...any) {
	if len(f.problems) < 5 {
		f.problems = append(f.problems, fmt.Sprintf(format, a...))
	}
}

// exact reports whether the viewer got exactly 1..N and the terminal event.
func (f *follower) exact() bool {
	return f.err == nil && f.terminal != "" && f.lost == 0 && f.repeated == 0 && f.next == f.lastSeq+1
}

// run follows the stream until the terminal event or ctx ends.
func (f *follower) run(ctx context.Context) {
	if f.next == 0 {
		f.next = 1
	}
	if f.retry == 0 {
		f.retry = 100 * time.Millisecond
	}
	for f.terminal == "" {
		if err := ctx.Err(); err != nil {
			f.err = fmt.Errorf("no terminal event before the deadline (last seq %d)", f.next-1)
			return
		}
		done, err := f.connect(ctx)
		if err != nil {
			f.err = err
			return
		}
		if done || f.once {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(f.retry):
		}
	}
}

// connect runs one connection. done reports that the stream is over (the
// terminal event arrived, or the server said there is nothing more); err
// that the viewer cannot go on.
func (f *follower) connect(ctx context.Context) (done bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	url := f.base() + "/v1/runs/" + f.runID + "/events"
	if f.query != "" {
		url += "?" + f.query
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if f.next > 1 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(f.next-1, 10))
	}
	start := time.Now()
	resp, err := f.do(req)
	if err != nil {
		f.refused++
		return false, nil
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		// The server says the position is at the terminal event, which
		// this viewer never received.
		return false, fmt.Errorf("204 No Content at seq %d before any terminal event", f.next-1)
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		f.refused++
		return false, nil
	default:
		return false, fmt.Errorf("GET events after %d: status %d", f.next-1, resp.StatusCode)
	}
	f.conns++
	var dropped atomic.Bool
	stopDrop := func() bool { return false }
	if f.dropEvery != nil && time.Now().Before(f.dropUntil) {
		t := time.AfterFunc(f.dropEvery(), func() { dropped.Store(true); cancel() })
		stopDrop = t.Stop
		defer t.Stop()
	}
	fr := newFrameReader(resp.Body)
	for {
		fm, err := fr.next()
		if err != nil {
			if dropped.Load() {
				f.drops++
				return false, nil
			}
			why := err.Error()
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return false, nil // the deadline; run reports it
			}
			f.cuts = append(f.cuts, cut{after: time.Since(start), seq: f.next - 1, why: why})
			return false, nil
		}
		if fm.comment {
			f.heartbeats++
			continue
		}
		if !fm.hasID {
			f.perConnection(fm)
			continue
		}
		now := time.Now()
		f.record(fm, now, start)
		if fm.event == thinkstream.EventRunResumed {
			f.resumed++
		}
		if thinkstream.IsTerminal(fm.event) {
			stopDrop()
			f.terminal, f.lastSeq = fm.event, fm.id
			f.closedClean = f.expectEnd(fr, cancel)
			return true, nil
		}
	}
}

// perConnection checks the frames without an id.
func (f *follower) perConnection(fm frame) {
	switch fm.event {
	case "stream.open":
		if from, ok := fieldInt(fm.data, "from_seq"); ok && from != f.next {
			f.problem("stream.open from_seq %d, want %d", from, f.next)
		}
		if gap, _ := fieldBool(fm.data, "gap"); gap {
			f.gapOpen = true
			f.problem("stream.open with gap:true after seq %d", f.next-1)
		}
	case "stream.error":
		f.streamErrs++
		f.problem("stream.error after seq %d: %s", f.next-1, fm.data)
	}
}

// record accounts one logged event.
func (f *follower) record(fm frame, now, connStart time.Time) {
	f.received++
	switch {
	case fm.id == f.next:
		f.next++
	case fm.id > f.next:
		f.problem("got seq %d, want %d (%d lost)", fm.id, f.next, fm.id-f.next)
		f.lost += fm.id - f.next
		f.next = fm.id + 1
	default:
		f.problem("got seq %d again or out of order (want %d)", fm.id, f.next)
		f.repeated++
		return
	}
	if f.lag != nil && !f.created.IsZero() {
		if t, ok := fieldInt(fm.data, "t"); ok {
			c := f.created.Add(time.Duration(t) * time.Millisecond)
			// Only live events: those created while this connection was
			// open. A catch-up burst measures the log, not delivery.
			if !c.Before(connStart) {
				f.lag.add(now.Sub(c))
			}
		}
	}
	if f.keep {
		for int64(len(f.hashes)) <= fm.id {
			f.hashes = append(f.hashes, 0)
		}
		f.hashes[fm.id] = eventHash(fm.event, fm.data)
	}
	if f.onEvent != nil {
		f.onEvent(fm.id, fm.event, fm.data)
	}
}

// expectEnd reads on after the terminal event: the server must end the
// stream, with nothing more than per-connection frames.
func (f *follower) expectEnd(fr *frameReader, cancel context.CancelFunc) bool {
	t := time.AfterFunc(closeAfterTerminal, cancel)
	defer t.Stop()
	for {
		fm, err := fr.next()
		if err != nil {
			if t.Stop() {
				return true // ended before the deadline cancelled it
			}
			f.problem("stream still open %v after the terminal event", closeAfterTerminal)
			return false
		}
		if fm.hasID {
			f.problem("event %d (%s) after the terminal event", fm.id, fm.event)
		}
	}
}

// eventHash identifies an event's content for comparing what viewers saw
// with a replay.
func eventHash(typ string, data []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum64()
}

func fieldBool(data []byte, name string) (value, ok bool) {
	for _, v := range []string{"true", "false"} {
		key := `"` + name + `":` + v
		if bytes.Contains(data, []byte(key)) {
			return v == "true", true
		}
	}
	return false, false
}

// do sends the request, holding the gate until the server answers.
func (f *follower) do(req *http.Request) (*http.Response, error) {
	if f.gate != nil {
		f.gate <- struct{}{}
		defer func() { <-f.gate }()
	}
	return f.hc.Do(req)
}
