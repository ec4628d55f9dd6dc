package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/sse"
)

// streamOptions are the per-connection choices of an event stream.
type streamOptions struct {
	after    int64
	resumed  bool
	coalesce bool
	speed    float64 // > 0: replay at the original pace divided by speed
	// encode turns a frame into the bytes to send; nil sends its SSE frame.
	encode func(dst []byte, f hub.Frame) []byte
}

// parseAfter reads the resume position: the Last-Event-ID header (sent by
// EventSource on its reconnects) wins over ?after=N (for first connects).
func parseAfter(r *http.Request) (after int64, resumed bool, err error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, errors.New("Last-Event-ID must be a non-negative integer event id")
		}
		return n, true, nil
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, errors.New("after must be a non-negative integer event id")
		}
		return n, n > 0, nil
	}
	return 0, false, nil
}

func (a *API) streamRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	after, resumed, err := parseAfter(r)
	if err != nil {
		a.problem(w, r, http.StatusBadRequest, "invalid-event-id", "Invalid event id", err.Error(), []FieldError{{"after", err.Error()}})
		return
	}
	q := r.URL.Query()
	opts := streamOptions{after: after, resumed: resumed, coalesce: q.Get("coalesce") == "1" || q.Get("coalesce") == "true"}
	if p := q.Get("pace"); p != "" {
		if p != "original" {
			a.problem(w, r, http.StatusBadRequest, "invalid-query", "Invalid query", "pace must be \"original\"", []FieldError{{"pace", "must be original"}})
			return
		}
		opts.speed = 1
		if s := q.Get("speed"); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0.1 || v > 64 {
				a.problem(w, r, http.StatusBadRequest, "invalid-query", "Invalid query", "speed must be a number from 0.1 to 64", []FieldError{{"speed", "must be 0.1 to 64"}})
				return
			}
			opts.speed = v
		}
		opts.coalesce = false // merging deltas would defeat the pacing
	}
	a.serveStream(w, r, id, opts)
}

// serveStream answers an SSE request for a run: 404 for unknown runs, 204
// when the client already has the terminal event, else the stream.
//
// The setup (open) returns before the long wait (pump) begins: a viewer
// spends its life blocked in pump, and keeping the frames below it small
// lets the runtime shrink each viewer's stack to half, which at thousands of
// viewers is tens of megabytes.
func (a *API) serveStream(w http.ResponseWriter, r *http.Request, id string, opts streamOptions) {
	release, ok := a.streamSlot(w, r)
	if !ok {
		return
	}
	defer release()
	st := a.open(w, r, id, opts)
	if st == nil {
		return
	}
	a.streams.Add(1)
	defer a.streams.Done()
	defer st.sub.Close()
	defer st.tally.flush()
	// At shutdown a returned connection would only delay the server's exit.
	st.out.close(a.pump(r.Context(), st) && !a.stopping.Load())
}

// stream is one viewer's connection state, kept off the stack.
type stream struct {
	id      string
	opts    streamOptions
	out     *writer
	sub     *hub.Subscription
	tally   *tally
	pace    pacer
	scratch []byte // re-encoded frames (compat endpoint)
}

func (a *API) open(w http.ResponseWriter, r *http.Request, id string, opts streamOptions) *stream {
	run, ok := a.runFor(w, r, id, grantShare)
	if !ok {
		return nil
	}
	if opts.after > run.LastSeq {
		a.problem(w, r, http.StatusBadRequest, "invalid-event-id", "Invalid event id",
			"the event id is beyond the run's last event", []FieldError{{"after", "beyond the last event"}})
		return nil
	}
	if run.State.Terminal() && opts.after >= run.LastSeq {
		// EventSource stops reconnecting on 204.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	// gap: retention removed events the client has not seen yet; the
	// stream starts at the oldest one left.
	gap, from := false, opts.after+1
	first, err := a.runs.FirstSeq(r.Context(), id)
	if err == nil && first == 0 && run.LastSeq > 0 {
		// Every event is gone (retention): 410 rather than a stream that
		// could only fail, since EventSource reconnects after any stream
		// but stops at an error status.
		a.problem(w, r, http.StatusGone, "events-gone", "Events gone",
			"the run's events are no longer available", nil)
		return nil
	}
	if err == nil && first > from {
		gap, from = true, first
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive")
	}
	out := &writer{w: w, rc: http.NewResponseController(w), timeout: a.cfg.WriteTimeout, ln: a.cfg.Listener, h2: r.ProtoMajor == 2}
	if !(r.ProtoMajor == 1 && r.ProtoMinor == 1 && r.Method == http.MethodGet && r.TLS == nil && out.hijack(http.StatusOK)) {
		w.WriteHeader(http.StatusOK)
	}

	// Frames go straight into the response's own buffer: a per-viewer
	// buffer would grow to the size of the largest catch-up and stay, which
	// at thousands of viewers is most of the memory.
	var small [256]byte
	hello := sse.AppendRetry(small[:0], int(a.cfg.Retry.Milliseconds()))
	hello = append(hello, "event: "+thinkstream.EventStreamOpen+"\ndata: {\"type\":\""+thinkstream.EventStreamOpen+"\",\"from_seq\":"...)
	hello = strconv.AppendInt(hello, from, 10)
	hello = append(hello, ",\"resumed\":"...)
	hello = strconv.AppendBool(hello, opts.resumed)
	hello = append(hello, ",\"gap\":"...)
	hello = strconv.AppendBool(hello, gap)
	hello = append(hello, "}\n\n"...)
	if !out.write(hello) {
		out.close(false)
		return nil
	}
	st := &stream{id: id, opts: opts, out: out, tally: &tally{m: a.hub.Metrics()}}
	if opts.speed > 0 {
		st.pace = pacer{speed: opts.speed}
	}
	st.sub = a.hub.Subscribe(id, opts.after, hub.Options{Coalesce: opts.coalesce, Idle: a.cfg.Heartbeat})
	return st
}

// pump writes the run's frames as they come until the run ends (true) or
// the viewer goes or the server stops (false).
func (a *API) pump(ctx context.Context, st *stream) bool {
	// A live viewer of a taken-over connection parks between events: the
	// topic's fan-out goroutine writes to its socket directly.
	direct := st.out.raw != nil && st.opts.encode == nil && st.pace.speed == 0
	for {
		if direct {
			// The fan-out's writes never block, and the poller refuses
			// even those once a deadline has passed: no deadline while
			// parked. Bytes it could not write come back as pending, and
			// their blocking write below is armed again.
			st.out.disarm()
			pending, err := st.sub.Park(ctx, st.out)
			if err != nil {
				return false
			}
			if len(pending) > 0 && !st.out.write(pending) {
				return false
			}
		}
		frames, viewers, err := st.sub.Next(ctx)
		if errors.Is(err, hub.ErrIdle) {
			if !st.out.write(sse.AppendComment(nil, "keep-alive")) {
				return false
			}
			continue
		}
		if err != nil {
			return a.streamEnd(ctx, st, err)
		}
		if viewers != nil && !st.out.putFrame(*viewers) {
			return false
		}
		if !a.send(ctx, st, frames) {
			return false
		}
	}
}

// send writes one batch of frames and flushes it.
func (a *API) send(ctx context.Context, st *stream, frames []hub.Frame) bool {
	if st.pace.speed > 0 {
		// Paced replay sends frame by frame at the original rhythm.
		if !st.out.flush() {
			return false
		}
		for _, f := range frames {
			st.scratch = a.encode(st.scratch[:0], f, st.opts)
			if !st.pace.wait(ctx, f) || !st.out.write(st.scratch) {
				return false
			}
		}
		st.tally.add(len(frames), nil)
		return true
	}
	for _, f := range frames {
		ok := false
		if st.opts.encode != nil {
			st.scratch = st.opts.encode(st.scratch[:0], f)
			ok = st.out.put(st.scratch)
		} else {
			ok = st.out.putFrame(f)
		}
		if !ok {
			return false
		}
	}
	if !st.out.flush() {
		return false
	}
	st.tally.add(len(frames), frames)
	return true
}

// streamEnd handles what ended a stream: the run's end (true), shutdown,
// or a failure. A stream that cannot be completed ends with a run.error
// frame (no id: it is this connection's, not the run's), so that no client
// takes a cut stream for a finished run, and retryable tells it whether a
// reconnect can resume: when the run's events are gone for good, it cannot.
func (a *API) streamEnd(ctx context.Context, st *stream, err error) bool {
	switch {
	case errors.Is(err, hub.ErrEnded):
		return true
	case a.stopping.Load():
		st.out.write(sse.AppendRetry(nil, 1000))
	case ctx.Err() == nil:
		rerr := &thinkstream.RunError{Code: "stream_failed", Message: "the event stream failed; reconnect to resume", Retryable: true}
		if a.eventsGone(ctx, st.id, err) {
			rerr = &thinkstream.RunError{Code: "events_gone", Message: "the rest of this run's events are no longer available"}
		}
		a.log.Error("stream failed", "run", st.id, "err", err, "retryable", rerr.Retryable)
		data, _ := json.Marshal(thinkstream.Event{Type: thinkstream.EventRunError, Error: rerr})
		b, _ := sse.AppendEvent(nil, "", thinkstream.EventRunError, data)
		st.out.write(b)
	}
	return false
}

// eventsGone reports whether a stream failed because the run's remaining
// events will never be readable: the run or its events were removed, or the
// run is over but its log ends before the terminal event.
func (a *API) eventsGone(ctx context.Context, id string, err error) bool {
	if errors.Is(err, thinkstream.ErrRunNotFound) {
		return true
	}
	if !errors.Is(err, hub.ErrIncomplete) {
		return false
	}
	run, gerr := a.runs.Get(ctx, id)
	return errors.Is(gerr, runs.ErrNotFound) || gerr == nil && run.State.Terminal()
}

func (a *API) encode(dst []byte, f hub.Frame, opts streamOptions) []byte {
	if opts.encode != nil {
		return opts.encode(dst, f)
	}
	return append(dst, sseOf(f.Wire)...)
}

// writer sends bytes and flushes them, each write bounded by the write
// timeout so that a viewer who stopped reading is let go instead of held
// forever. The timeout bounds one write, never the stream: the deadline is
// armed before every blocking write (moved at most about once a second, since
// moving it costs a timer update and at thousands of viewers that is
// measurable) and taken off while nothing is being written by this goroutine
// (parked viewers, see Park; HTTP/2, where the deadline is a timer that resets
// the stream even between writes).
//
// On HTTP/1.1 the connection is taken over from net/http once the stream
// starts (see hijack): the writer then frames chunks itself on the
// connection's buffer, which drops a per-viewer goroutine and buffer and a
// layer of copying from every event's path.
type writer struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time // armed deadline; zero: none
	h2       bool      // HTTP/2: disarm after every flush

	conn net.Conn      // set once hijacked
	bw   *bufio.Writer // the connection's buffer, once hijacked
	br   *bufio.Reader // what the client sent beyond its request
	ln   *Listener     // takes the connection back after a clean end
	raw  syscall.RawConn
	// try is the raw write, made once so that a write allocates nothing;
	// tb, tn and terr are its argument and results.
	try  func(fd uintptr) bool
	tb   []byte
	tn   int
	terr error
}

// TryWrite writes to a taken-over connection without blocking (see
// hub.Subscription.Park): as much of b as the socket accepts now. Only the
// fan-out goroutine calls it, while the viewer's own goroutine is parked.
func (w *writer) TryWrite(b []byte) (int, error) {
	w.tb = b
	err := w.raw.Write(w.try)
	w.tb = nil
	n, werr := w.tn, w.terr
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}

func (w *writer) put(b []byte) bool {
	w.arm()
	if w.bw != nil {
		var hdr [20]byte
		h := strconv.AppendInt(hdr[:0], int64(len(b)), 16)
		h = append(h, '\r', '\n')
		_, _ = w.bw.Write(h)
		_, _ = w.bw.Write(b)
		_, err := w.bw.WriteString("\r\n")
		return err == nil
	}
	_, err := w.w.Write(b)
	return err == nil
}

// putFrame buffers a frame, using its ready-made chunk when this writer
// frames chunks itself.
func (w *writer) putFrame(f hub.Frame) bool {
	if w.bw != nil {
		w.arm()
		_, err := w.bw.Write(f.Wire)
		return err == nil
	}
	return w.put(sseOf(f.Wire))
}

func (w *writer) flush() bool {
	w.arm()
	if w.bw != nil {
		return w.bw.Flush() == nil
	}
	ok := w.rc.Flush() == nil
	if w.h2 {
		w.disarm()
	}
	return ok
}

func (w *writer) write(b []byte) bool { return w.put(b) && w.flush() }

// arm makes sure the next write has (nearly) a whole timeout to complete.
func (w *writer) arm() {
	now := time.Now()
	if !w.deadline.IsZero() && w.deadline.Sub(now) >= w.timeout-min(time.Second, w.timeout/4) {
		return
	}
	w.deadline = now.Add(w.timeout)
	w.setDeadline(w.deadline)
}

// disarm takes the deadline off while this goroutine writes nothing.
func (w *writer) disarm() {
	if w.deadline.IsZero() {
		return
	}
	w.deadline = time.Time{}
	w.setDeadline(time.Time{})
}

func (w *writer) setDeadline(t time.Time) {
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(t)
	} else {
		_ = w.rc.SetWriteDeadline(t)
	}
}

// close ends a hijacked stream. After a clean end (the run's last event
// was sent) the response is finished properly and the connection goes back
// to the HTTP server for the client's next request; otherwise it is closed.
func (w *writer) close(clean bool) {
	if w.bw == nil {
		return
	}
	if clean {
		_, _ = w.bw.WriteString("0\r\n\r\n")
		if w.bw.Flush() == nil && w.ln != nil && w.conn.SetDeadline(time.Time{}) == nil && w.ln.reuse(w.conn, w.br) {
			return
		}
	}
	_ = w.conn.Close()
}

// hijack takes an HTTP/1.1 connection over from net/http and writes the
// response head itself (the headers already set on w, chunked encoding).
// net/http would otherwise keep a goroutine reading each connection to
// notice a client leaving, and a response buffer; a viewer who leaves is
// noticed at the next write instead (a heartbeat at the latest). It reports
// false when the connection cannot be taken over; nothing was written then.
func (w *writer) hijack(status int) bool {
	conn, rw, err := w.rc.Hijack()
	if err != nil {
		return false
	}
	w.conn, w.bw, w.br = conn, rw.Writer, rw.Reader
	if sc, ok := conn.(syscall.Conn); ok {
		w.raw, _ = sc.SyscallConn()
		w.try = func(fd uintptr) bool {
			w.tn, w.terr = syscall.Write(int(fd), w.tb)
			return true // never wait for the socket: the fan-out must not block
		}
	}
	h := w.w.Header()
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_, _ = fmt.Fprintf(w.bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(w.bw)
	_, _ = w.bw.WriteString("\r\n")
	return true
}

// tally batches a viewer's metric updates: thousands of viewers updating
// shared counters on every event contend on the same cache lines.
type tally struct {
	m         *hub.Metrics
	delivered int
	batches   int
}

func (t *tally) add(n int, frames []hub.Frame) {
	t.delivered += n
	if t.delivered >= 256 {
		t.flush()
	}
	// A lag sample every 16th write per viewer is plenty for a histogram.
	if t.batches++; t.batches%16 == 1 {
		if k := len(frames); k > 0 && !frames[k-1].Created.IsZero() {
			t.m.Lag.Observe(time.Since(frames[k-1].Created).Seconds())
		}
	}
}

func (t *tally) flush() {
	if t.delivered > 0 {
		t.m.Delivered.Add(float64(t.delivered))
		t.delivered = 0
	}
}

// pacer spaces frames by their recorded times, scaled by speed.
type pacer struct {
	speed   float64
	started time.Time
	t0      int64
}

func (p *pacer) wait(ctx context.Context, f hub.Frame) bool {
	if p.started.IsZero() {
		p.started, p.t0 = time.Now(), f.T
		return true
	}
	due := p.started.Add(time.Duration(float64(f.T-p.t0) / p.speed * float64(time.Millisecond)))
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
