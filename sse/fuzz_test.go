package sse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// normalizeNewlines turns every CRLF and lone CR into LF: the event stream
// format has no way to carry a CR, so that is what a round trip yields.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// FuzzRoundTrip encodes arbitrary fields and decodes them again: whatever
// the text, the frame must come back as exactly one event with the same
// fields. An extra event or field would mean model output could inject
// frames into a viewer's stream.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "thinking", "hello")
	f.Add("", "", "")
	f.Add(" x", " y", " z")
	f.Add("a:b", "run.completed", "line\r\nline\rline\n")
	f.Add("9", "e", "\n\nevent: error\r\rid: 7\n\ndata: x\n\n")
	f.Add("", "", ":comment\n:\r\n")
	f.Add("\xEF\xBB\xBF", "\xEF\xBB\xBF", "\xEF\xBB\xBFdata: x")
	f.Add("id", "", "retry: 5\n")
	f.Fuzz(func(t *testing.T, id, event, data string) {
		frame, err := AppendEvent(nil, id, event, []byte(data))
		if !ValidField(id) || !ValidField(event) {
			if err == nil {
				t.Fatalf("AppendEvent(%q, %q) accepted an invalid field", id, event)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		// A frame is preceded by others on a real stream: prepend one so the
		// test also covers the state carried between frames.
		stream := append([]byte("id: prev\ndata: p\n\n"), frame...)
		got, err := readAll(NewReader(bytes.NewReader(stream)))
		if err != io.EOF {
			t.Fatalf("decode error: %v", err)
		}
		wantType := event
		if wantType == "" {
			wantType = "message"
		}
		wantID := id
		if id == "" {
			wantID = "prev"
		}
		want := []Event{
			{ID: "prev", HasID: true, Type: "message", Data: "p"},
			{ID: wantID, HasID: id != "", Type: wantType, Data: normalizeNewlines(data)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("frame %q (-want +got):\n%s", frame, diff)
		}
	})
}

// FuzzReader feeds arbitrary bytes in arbitrary read sizes. The Reader must
// not panic, must stop, must not depend on where reads end, and must agree
// with refDecode, a direct transcription of the standard's algorithm that
// works on the whole input at once.
func FuzzReader(f *testing.F) {
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n"), uint8(1), uint16(64))
	f.Add([]byte("\xEF\xBB\xBFid: 1\nretry: 10\ndata\n\n"), uint8(2), uint16(8))
	f.Add([]byte("data: x\r"), uint8(7), uint16(4))
	f.Add([]byte("id: a\x00\nevent: e\ndata:  y\n\n: c\n\r\r"), uint8(3), uint16(1000))
	f.Add([]byte(strings.Repeat("data: long line\n", 10)+"\n"), uint8(5), uint16(20))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, maxLine uint16) {
		limit := int(maxLine) + 1
		size := int(chunk)%16 + 1
		whole := NewReader(bytes.NewReader(in), WithMaxLine(limit))
		split := NewReader(&chunkReader{data: in, sizes: repeatN(size, len(in))}, WithMaxLine(limit))

		a, errA := readBounded(t, whole, len(in))
		b, errB := readBounded(t, split, len(in))
		if (errA == io.EOF) != (errB == io.EOF) {
			t.Fatalf("errors differ: whole %v, chunked %v", errA, errB)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("chunked reads changed the events (-whole +chunked):\n%s", diff)
		}
		if errA != io.EOF {
			return // line too long: the reference has no limit
		}
		want, wantID := refDecode(string(in))
		if diff := cmp.Diff(want, a); diff != "" {
			t.Fatalf("disagrees with reference (-ref +got):\n%s", diff)
		}
		if whole.LastEventID() != wantID {
			t.Fatalf("LastEventID %q, reference %q", whole.LastEventID(), wantID)
		}
	})
}

func repeatN(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// readBounded reads until an error; an input of n bytes holds at most n/2+1
// events, so more calls than that means the Reader loops.
func readBounded(t *testing.T, r *Reader, n int) ([]Event, error) {
	var evs []Event
	for range n + 2 {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	t.Fatalf("more than %d events from %d bytes", n+2, n)
	return nil, nil
}

// refDecode decodes a complete stream the slow, obvious way: strip the BOM,
// split into lines, interpret each line as the standard says.
func refDecode(s string) ([]Event, string) {
	s = strings.TrimPrefix(s, "\uFEFF")
	s = normalizeNewlines(s)
	lines := strings.Split(s, "\n")
	lines = lines[:len(lines)-1] // the text after the last ending is not a line
	var (
		evs                   []Event
		data, typ, lastID     string
		hasData, hasID, hasRt bool
		retry                 int
	)
	for _, line := range lines {
		if line == "" {
			if hasData {
				if typ == "" {
					typ = "message"
				}
				evs = append(evs, Event{ID: lastID, HasID: hasID, Type: typ,
					Data: strings.TrimSuffix(data, "\n"), Retry: retry, HasRetry: hasRt})
			}
			data, typ, hasData, hasID, hasRt, retry = "", "", false, false, false, 0
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			typ = value
		case "data":
			data += value + "\n"
			hasData = true
		case "id":
			if !strings.Contains(value, "\x00") {
				lastID, hasID = value, true
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				if n, err := strconv.Atoi(value); err == nil {
					retry, hasRt = n, true
				} else {
					retry, hasRt = int(^uint(0)>>1), true
				}
			}
		}
	}
	return evs, lastID
}

// TestRefDecodeOneByte pins the reference against the Reader on inputs
// read one byte at a time, which the fuzz target does not always choose.
func TestRefDecodeOneByte(t *testing.T) {
	in := "\xEF\xBB\xBFid: 1\r\nevent: x\rdata: a\r\n\r\nid: 2\x00\ndata\n\nretry: 7\ndata: b\n\n"
	got, err := readAll(NewReader(iotest.OneByteReader(strings.NewReader(in))))
	if err != io.EOF {
		t.Fatal(err)
	}
	want, _ := refDecode(in)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-ref +got):\n%s", diff)
	}
}
