// Package sse reads and writes the Server-Sent Events wire format exactly as
// the WHATWG HTML standard defines it ("Server-sent events", section 9.2).
//
// The encoder is built for a hub that encodes a frame once and writes the
// same bytes to every viewer: the Append functions write into a caller's
// buffer and do not allocate when it has room. They split text on every line
// ending a client recognises (CRLF, LF and a lone CR), so model output can
// never end a line early or smuggle in a field of its own.
//
// The decoder follows the standard's parsing algorithm line by line,
// including its quieter rules (a BOM, a CR split from its LF across reads,
// an id with NUL, a non-numeric retry), and bounds the length of a line so a
// hostile or broken upstream cannot make it buffer without limit. It hands
// out field values as the bytes it read: where a browser would replace
// invalid UTF-8 with U+FFFD, the Reader leaves that to the caller.
package sse

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// ErrInvalidField is returned when an id or event name contains a byte that
// would end the line it is written on (CR, LF) or that clients reject (NUL
// in an id makes every browser ignore the id silently).
var ErrInvalidField = errors.New("sse: invalid field value")

// invalidFieldError names the offending field without allocating on the
// success path; errors.Is(err, ErrInvalidField) holds.
type invalidFieldError struct{ field string }

func (e invalidFieldError) Error() string {
	return "sse: " + e.field + " contains CR, LF or NUL"
}

func (e invalidFieldError) Unwrap() error { return ErrInvalidField }

// ValidField reports whether s can be written as an id or event value.
func ValidField(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', 0:
			return false
		}
	}
	return true
}

// AppendEvent appends one complete event frame to dst and returns the
// extended buffer. An empty id writes no id line, so the client keeps the
// previous one (writing "id:" with no value would reset it, which a hub never
// wants); an empty event writes no event line, which clients dispatch as
// "message". data is split on CRLF, LF and CR into one data line per line.
// Empty data still writes one (empty) data line: that is what makes a client
// dispatch the frame, with empty data, instead of dropping it.
//
// On error dst is returned unchanged.
func AppendEvent(dst []byte, id, event string, data []byte) ([]byte, error) {
	if !ValidField(id) {
		return dst, invalidFieldError{"id"}
	}
	if !ValidField(event) {
		return dst, invalidFieldError{"event"}
	}
	if id != "" {
		dst = appendField(dst, "id", id)
	}
	if event != "" {
		dst = appendField(dst, "event", event)
	}
	dst = appendLines(dst, "data", data)
	return append(dst, '\n'), nil
}

// AppendComment appends comment lines to dst: text is split on line endings
// and every line starts with ':', so no part of it can be read as a field.
// Proxies see the bytes and keep an idle connection open; clients ignore
// them. A comment may go anywhere between frames.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, "", text)
}

// AppendRetry appends a retry field that sets the client's reconnection delay
// to ms milliseconds, followed by a blank line so that it is a frame of its
// own (the blank line dispatches nothing: there is no data). Negative values
// are written as 0.
func AppendRetry(dst []byte, ms int) []byte {
	if ms < 0 {
		ms = 0
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, int64(ms), 10)
	return append(dst, '\n', '\n')
}

// appendField writes "name: value\n". The space after the colon is always
// written because the reader strips exactly one: a value starting with a
// space survives intact.
func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\n')
}

// appendLines writes one "name: line" per line of text, splitting on CRLF, LF
// and lone CR. A trailing line ending yields a final empty line so the reader
// reconstructs it (data "a\n" is "data: a" + "data:"). An empty line gets no
// space after the colon: there is nothing for the space to protect.
func appendLines[T string | []byte](dst []byte, name string, text T) []byte {
	// The next LF and CR at or after pos, found with vectorised scans and
	// each rescanned only once passed, so the work stays linear even for
	// text that is all lone CRs.
	lf, cr := indexByte(text, '\n'), indexByte(text, '\r')
	for pos := 0; ; {
		if lf >= 0 && lf < pos {
			lf = next(text, pos, '\n')
		}
		if cr >= 0 && cr < pos {
			cr = next(text, pos, '\r')
		}
		end := lf
		if end < 0 || (cr >= 0 && cr < end) {
			end = cr
		}
		line := text[pos:]
		if end >= 0 {
			line = text[pos:end]
		}
		dst = append(dst, name...)
		dst = append(dst, ':')
		if len(line) > 0 {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if end < 0 {
			return dst
		}
		pos = end + 1
		if end == cr && end+1 == lf {
			pos++ // CRLF is one line ending
		}
	}
}

// next returns the index of c in text at or after pos, or -1.
func next[T string | []byte](text T, pos int, c byte) int {
	if i := indexByte(text[pos:], c); i >= 0 {
		return pos + i
	}
	return -1
}

func indexByte[T string | []byte](s T, c byte) int {
	switch v := any(s).(type) {
	case string:
		return strings.IndexByte(v, c)
	case []byte:
		return bytes.IndexByte(v, c)
	}
	panic("unreachable")
}
