package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxLine is the longest line a Reader accepts unless told otherwise.
// A frame of a long reasoning trace coalesced into one data line stays far
// below it; a line above it means a broken or hostile upstream.
const DefaultMaxLine = 1 << 20

// ErrLineTooLong is returned by Reader.Next when a line exceeds the limit.
// The Reader is unusable afterwards: its position in the stream is lost.
var ErrLineTooLong = errors.New("sse: line too long")

// DoneData is the data of the sentinel event OpenAI-compatible servers send
// as their last frame ("data: [DONE]"); it is not JSON.
const DoneData = "[DONE]"

// Event is one dispatched event.
type Event struct {
	// ID is the stream's last event ID when the event was dispatched. As in
	// the standard it persists: an event without an id line carries the
	// previous one. HasID reports whether this event had an id line itself.
	ID    string
	HasID bool
	// Type is the event type; "message" when the event had no event line
	// (the standard's default, what EventSource dispatches it as).
	Type string
	Data string
	// Retry is the reconnection delay in milliseconds from a valid retry line
	// seen since the previous blank line; HasRetry reports whether there was
	// one. A retry in a frame without data is not dispatched as an event; see
	// Reader.Retry for the value in force.
	Retry    int
	HasRetry bool
}

// IsDone reports whether e is the "data: [DONE]" end marker of an
// OpenAI-compatible stream.
func (e Event) IsDone() bool { return e.Data == DoneData }

// Option configures a Reader.
type Option func(*Reader)

// WithMaxLine sets the longest accepted line in bytes, line ending excluded.
// Values below 1 select DefaultMaxLine.
func WithMaxLine(n int) Option {
	return func(r *Reader) {
		if n < 1 {
			n = DefaultMaxLine
		}
		r.maxLine = n
	}
}

// WithDispatchAtEOF makes the Reader dispatch an event left pending when the
// stream ends without its blank line, and process a final line that lacks
// its line ending. The standard discards both; some upstream servers and
// proxies close right after "data: [DONE]\n" and this keeps that last event.
func WithDispatchAtEOF() Option {
	return func(r *Reader) { r.dispatchAtEOF = true }
}

// Reader decodes an event stream. It is not safe for concurrent use.
type Reader struct {
	src io.Reader
	err error // sticky error from src or from a too-long line

	buf        []byte // buf[start:end] is read but not yet consumed
	start, end int
	maxLine    int

	bomChecked bool
	// afterCR is set when the last line ended in CR: an LF that follows,
	// possibly only in the next read, belongs to that line ending. A line is
	// ended as soon as its CR arrives, so a live stream is never held back
	// waiting for the next byte.
	afterCR bool

	dispatchAtEOF bool

	// The standard's buffers. lastID persists across events.
	data      []byte
	typ       []byte
	lastTyp   string
	lastID    string
	hasID     bool
	retry     int
	hasRetry  bool
	retryMS   int
	retrySeen bool
}

// NewReader returns a Reader that decodes the event stream read from src.
func NewReader(src io.Reader, opts ...Option) *Reader {
	r := &Reader{src: src, maxLine: DefaultMaxLine}
	for _, o := range opts {
		o(r)
	}
	return r
}

// LastEventID returns the stream's last event ID: the value of the most
// recent valid id line, whether or not its event was dispatched. It is what a
// client sends as Last-Event-ID when it reconnects.
func (r *Reader) LastEventID() string { return r.lastID }

// Retry returns the reconnection delay in milliseconds set by the most recent
// valid retry line, and whether there was one.
func (r *Reader) Retry() (ms int, ok bool) { return r.retryMS, r.retrySeen }

// Next returns the next dispatched event. At the end of the stream it returns
// io.EOF; an event not terminated by a blank line is then discarded, as the
// standard requires (unless WithDispatchAtEOF). Other errors come from the
// underlying reader or are ErrLineTooLong.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.dispatchAtEOF {
				if line != nil {
					r.processLine(line)
				}
				if ev, ok := r.dispatch(); ok {
					return ev, nil
				}
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := r.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		r.processLine(line)
	}
}

// dispatch implements "dispatch the event": it resets the per-event buffers
// and reports whether there is an event to hand out.
func (r *Reader) dispatch() (Event, bool) {
	hasID, retry, hasRetry := r.hasID, r.retry, r.hasRetry
	r.hasID, r.retry, r.hasRetry = false, 0, false
	if len(r.data) == 0 {
		r.typ = r.typ[:0]
		return Event{}, false
	}
	data := r.data
	if data[len(data)-1] == '\n' {
		data = data[:len(data)-1]
	}
	typ := "message"
	if len(r.typ) > 0 {
		// Streams reuse a handful of types: keep the last string instead
		// of allocating one per event.
		if string(r.typ) != r.lastTyp {
			r.lastTyp = string(r.typ)
		}
		typ = r.lastTyp
	}
	ev := Event{
		ID:       r.lastID,
		HasID:    hasID,
		Type:     typ,
		Data:     string(data),
		Retry:    retry,
		HasRetry: hasRetry,
	}
	r.data = r.data[:0]
	r.typ = r.typ[:0]
	return ev, true
}

func (r *Reader) processLine(line []byte) {
	if line[0] == ':' {
		return // comment
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		r.typ = append(r.typ[:0], value...)
	case "data":
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) >= 0 {
			return
		}
		r.hasID = true
		if string(value) != r.lastID { // compare without allocating
			r.lastID = string(value)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			r.retry, r.hasRetry = ms, true
			r.retryMS, r.retrySeen = ms, true
		}
	}
}

// parseRetry accepts only ASCII digits, as the standard does (no sign, no
// spaces, not empty). Values past the int range saturate instead of failing:
// the standard has no upper bound and the client clamps anyway.
func parseRetry(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			n = math.MaxInt
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// maxEmptyReads bounds how often src may return no bytes and no error before
// the Reader gives up, so a misbehaving reader cannot make Next spin.
const maxEmptyReads = 100

// readLine returns the next line without its ending. The slice is valid
// until the next call. At the end of the stream it returns io.EOF and, if the
// stream ended inside a line, that partial line (nil otherwise).
func (r *Reader) readLine() ([]byte, error) {
	if !r.bomChecked {
		if err := r.stripBOM(); err != nil && err != io.EOF {
			return nil, err
		}
	}
	scanned := 0 // bytes of buf[start:end] already known to hold no line ending
	for {
		if r.afterCR && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.afterCR = false
		}
		pending := r.buf[r.start:r.end]
		if i := indexLineEnd(pending[scanned:]); i >= 0 {
			i += scanned
			if i > r.maxLine {
				return nil, r.fail(fmt.Errorf("%w: over %d bytes", ErrLineTooLong, r.maxLine))
			}
			line := pending[:i]
			r.afterCR = pending[i] == '\r'
			r.start += i + 1
			return line, nil
		}
		scanned = len(pending)
		if scanned > r.maxLine {
			return nil, r.fail(fmt.Errorf("%w: over %d bytes", ErrLineTooLong, r.maxLine))
		}
		if r.err != nil {
			var partial []byte
			if r.err == io.EOF && len(pending) > 0 {
				partial = pending
				r.start = r.end
			}
			return partial, r.err
		}
		r.fill()
	}
}

func (r *Reader) fail(err error) error {
	r.err = err
	r.start, r.end = 0, 0
	return err
}

// indexLineEnd returns the index of the first CR or LF in b, or -1. It
// scans in windows with the vectorised IndexByte: two whole-buffer scans
// would make a stream of lone CRs (no LF to find) quadratic.
func indexLineEnd(b []byte) int {
	const window = 256
	for off := 0; off < len(b); off += window {
		w := b[off:min(off+window, len(b))]
		i := bytes.IndexByte(w, '\n')
		if j := bytes.IndexByte(w, '\r'); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i >= 0 {
			return off + i
		}
	}
	return -1
}

// fill reads more bytes into buf, first moving unconsumed bytes to the front
// and growing the buffer (never past what one line of maxLine bytes and its
// ending need) when it is full.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		size := 2 * len(r.buf)
		if size == 0 {
			size = 4096
		}
		if limit := r.maxLine + 2; size > limit {
			size = limit
		}
		if size <= len(r.buf) {
			// A full buffer of maxLine+2 bytes holds a line ending or the
			// caller has already failed with ErrLineTooLong.
			size = len(r.buf) + 1
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = errors.New("sse: source returned an invalid count")
			return
		}
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

// stripBOM removes one leading UTF-8 byte order mark. It reads until it has
// three bytes or the bytes read so far cannot start a BOM.
func (r *Reader) stripBOM() error {
	const bom = "\xEF\xBB\xBF"
	for {
		pending := r.buf[r.start:r.end]
		n := min(len(pending), len(bom))
		if string(pending[:n]) != bom[:n] {
			r.bomChecked = true
			return nil
		}
		if n == len(bom) {
			r.start += n
			r.bomChecked = true
			return nil
		}
		if r.err != nil {
			r.bomChecked = true
			return r.err
		}
		r.fill()
	}
}
