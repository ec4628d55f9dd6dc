package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readAll decodes every event until an error and returns both.
func readAll(r *Reader) ([]Event, error) {
	var evs []Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// msg builds an expected event of the default type.
func msg(data string) Event { return Event{Type: "message", Data: data} }

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"simple", "data: hello\n\n", []Event{msg("hello")}},
		{"crlf", "data: a\r\ndata: b\r\n\r\n", []Event{msg("a\nb")}},
		{"lone cr", "data: a\rdata: b\r\r", []Event{msg("a\nb")}},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []Event{msg("a\nb\nc")}},
		{"bom stripped", "\xEF\xBB\xBFdata: x\n\n", []Event{msg("x")}},
		{"only one bom stripped", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", []Event{msg("y")}},
		{"bom not at start", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", []Event{msg("x")}},
		{"comment ignored", ": hi\ndata: x\n: mid\n\n", []Event{msg("x")}},
		{"one space stripped", "data:  two\n\n", []Event{msg(" two")}},
		{"no space", "data:x\n\n", []Event{msg("x")}},
		{"tab kept", "data:\tx\n\n", []Event{msg("\tx")}},
		{"colon in value", "data: a: b\n\n", []Event{msg("a: b")}},
		{"field without colon", "data\ndata\n\n", []Event{msg("\n")}},
		{"empty data line dispatches", "data:\n\n", []Event{msg("")}},
		{"no data not dispatched", "event: x\n\nid: 1\n\n", nil},
		{"event type", "event: thinking\ndata: d\n\n", []Event{{Type: "thinking", Data: "d"}}},
		{"event type resets", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{{Type: "a", Data: "1"}, msg("2")}},
		{"event type without data is dropped", "event: a\n\ndata: 2\n\n", []Event{msg("2")}},
		{"last event wins", "event: a\nevent: b\ndata: x\n\n", []Event{{Type: "b", Data: "x"}}},
		{"id persists", "id: 1\ndata: a\n\ndata: b\n\n", []Event{
			{ID: "1", HasID: true, Type: "message", Data: "a"},
			{ID: "1", Type: "message", Data: "b"},
		}},
		{"id without data still counts", "id: 5\n\ndata: b\n\n", []Event{{ID: "5", Type: "message", Data: "b"}}},
		{"empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n", []Event{
			{ID: "1", HasID: true, Type: "message", Data: "a"},
			{ID: "", HasID: true, Type: "message", Data: "b"},
		}},
		{"id with nul ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Event{
			{ID: "1", HasID: true, Type: "message", Data: "a"},
			{ID: "1", Type: "message", Data: "b"},
		}},
		{"retry", "retry: 1500\ndata: a\n\n", []Event{{Type: "message", Data: "a", Retry: 1500, HasRetry: true}}},
		{"retry not digits", "retry: 15s\ndata: a\n\nretry: -1\ndata: b\n\nretry:\ndata: c\n\nretry:  1\ndata: d\n\n",
			[]Event{msg("a"), msg("b"), msg("c"), msg("d")}},
		{"retry huge saturates", "retry: 99999999999999999999999\ndata: a\n\n",
			[]Event{{Type: "message", Data: "a", Retry: int(^uint(0) >> 1), HasRetry: true}}},
		{"unknown fields ignored", "foo: bar\nDATA: x\ndata : y\ndata: z\n\n", []Event{msg("z")}},
		{"eof discards pending", "data: a\n\ndata: b\n", []Event{msg("a")}},
		{"eof discards partial line", "data: a\n\ndata: b", []Event{msg("a")}},
		{"done marker", "data: {\"x\":1}\n\ndata: [DONE]\n\n", []Event{msg(`{"x":1}`), msg("[DONE]")}},
		{"empty", "", nil},
		{"nul in data kept", "data: a\x00b\n\n", []Event{msg("a\x00b")}},
	}
	for _, tt := range tests {
		// Every case must decode the same whole, byte by byte and split
		// after every possible offset: where reads end must not matter.
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return strings.NewReader(tt.in) },
			"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.in)) },
			"half": func() io.Reader {
				return &chunkReader{data: []byte(tt.in), sizes: []int{len(tt.in) / 2}}
			},
		}
		for rname, mk := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := readAll(NewReader(mk()))
				if err != io.EOF {
					t.Fatalf("final error = %v, want io.EOF", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// chunkReader returns data in reads of the given sizes, then the rest.
type chunkReader struct {
	data  []byte
	sizes []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(c.sizes[0], n)
		c.sizes = c.sizes[1:]
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestCRLFSplitAcrossReads is the case most hand-written parsers get wrong:
// a CR ends one read and its LF starts the next. That is one line ending,
// not a line ending followed by an empty line (which would dispatch early).
func TestCRLFSplitAcrossReads(t *testing.T) {
	in := "data: a\r\ndata: b\r\n\r\n"
	for split := 1; split < len(in); split++ {
		r := NewReader(&chunkReader{data: []byte(in), sizes: []int{split}})
		got, err := readAll(r)
		if err != io.EOF {
			t.Fatalf("split %d: err = %v", split, err)
		}
		if diff := cmp.Diff([]Event{msg("a\nb")}, got); diff != "" {
			t.Errorf("split %d (-want +got):\n%s", split, diff)
		}
	}
}

// TestCRDispatchesWithoutWaiting checks that a line ended by CR is handled
// before the next byte arrives: a live stream that uses CR endings must not
// be held back a frame.
func TestCRDispatchesWithoutWaiting(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		_, _ = pw.Write([]byte("data: a\r\r"))
		// No more writes until the reader is done: a reader that waits
		// for the byte after the CR blocks forever and the test times out.
	}()
	r := NewReader(pr)
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(msg("a"), ev); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	pw.Close()
}

func TestReaderLastEventIDAndRetry(t *testing.T) {
	r := NewReader(strings.NewReader("id: 1\nretry: 10\ndata: a\n\nid: 2\nretry: 20\n\n"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got := r.LastEventID(); got != "1" {
		t.Errorf("LastEventID = %q, want 1", got)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v, want EOF", err)
	}
	// The second block had no data, so nothing was dispatched, but its id
	// and retry still apply.
	if got := r.LastEventID(); got != "2" {
		t.Errorf("LastEventID = %q, want 2", got)
	}
	if ms, ok := r.Retry(); !ok || ms != 20 {
		t.Errorf("Retry = %d, %v, want 20, true", ms, ok)
	}
}

func TestReaderMaxLine(t *testing.T) {
	const limit = 16
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"at limit", "data: " + strings.Repeat("x", limit-6) + "\n\n", false},
		{"over limit", "data: " + strings.Repeat("x", limit-5) + "\n\n", true},
		{"over limit without ending", strings.Repeat("x", 10*limit), true},
		{"many short lines", strings.Repeat("data: 12345\n", 100) + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(iotest.HalfReader(strings.NewReader(tt.in)), WithMaxLine(limit))
			_, err := readAll(r)
			if gotErr := errors.Is(err, ErrLineTooLong); gotErr != tt.wantErr {
				t.Fatalf("err = %v, want ErrLineTooLong: %v", err, tt.wantErr)
			}
			if len(r.buf) > limit+2 {
				t.Errorf("buffer grew to %d bytes, limit %d", len(r.buf), limit)
			}
			if tt.wantErr {
				if _, err2 := r.Next(); !errors.Is(err2, ErrLineTooLong) {
					t.Errorf("error not sticky: %v", err2)
				}
			}
		})
	}
}

// TestReaderEndlessLine feeds a line that never ends: memory must stay
// bounded by the limit instead of growing with the input.
func TestReaderEndlessLine(t *testing.T) {
	src := io.LimitReader(repeatReader('x'), 64<<20)
	r := NewReader(src, WithMaxLine(1<<16))
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	if len(r.buf) > 1<<16+2 {
		t.Errorf("buffer %d bytes", len(r.buf))
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestReaderSourceErrors(t *testing.T) {
	boom := errors.New("boom")
	// Complete events before the error are still delivered.
	src := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	got, err := readAll(NewReader(src))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if diff := cmp.Diff([]Event{msg("a")}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A source that never makes progress must not make Next spin.
	if _, err := NewReader(stuckReader{}).Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("stuck source: err = %v, want io.ErrNoProgress", err)
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestDispatchAtEOF(t *testing.T) {
	tests := []struct {
		in   string
		want []Event
	}{
		{"data: a\n\ndata: [DONE]\n", []Event{msg("a"), msg("[DONE]")}},
		{"data: [DONE]", []Event{msg("[DONE]")}},
		{"data: a\r", []Event{msg("a")}},
		{"event: x\n", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := readAll(NewReader(strings.NewReader(tt.in), WithDispatchAtEOF()))
		if err != io.EOF {
			t.Fatalf("%q: err = %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
	if !msg(DoneData).IsDone() || msg("[DONE] ").IsDone() {
		t.Error("IsDone wrong")
	}
}

// TestDecodeGolden decodes the streams in testdata/decode/*.sse, captured
// from or modelled on real servers, and compares a dump of the events.
func TestDecodeGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "decode", "*.sse"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(iotest.OneByteReader(bytes.NewReader(in)))
			evs, err := readAll(r)
			var out bytes.Buffer
			for _, ev := range evs {
				fmt.Fprintf(&out, "id=%q has_id=%v type=%q retry=%d/%v done=%v\n  data=%q\n",
					ev.ID, ev.HasID, ev.Type, ev.Retry, ev.HasRetry, ev.IsDone(), ev.Data)
			}
			fmt.Fprintf(&out, "end: %v last_id=%q\n", err, r.LastEventID())
			checkGolden(t, "decode/"+name, out.Bytes())
		})
	}
}

// TestEncodeDecode decodes what the encoder wrote for the golden stream.
func TestEncodeDecode(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "encode", "stream.golden"))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(in))
	got, err := readAll(r)
	if err != io.EOF {
		t.Fatal(err)
	}
	want := []Event{
		{ID: "r1:1", HasID: true, Type: "run.started", Data: `{"seq":1,"type":"run.started"}`},
		{ID: "r1:2", HasID: true, Type: "thinking", Data: `{"seq":2,"type":"thinking","text":"Okay, let me"}`},
		{ID: "r1:3", HasID: true, Type: "code", Data: "print(1)\nprint(2)\nprint(3)\n"},
		{ID: "r1:3", Type: "message", Data: "no id, default type"},
		{ID: "r1:4", HasID: true, Type: "run.completed", Data: ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The retry frame has no data, so it rides on no event; it still applies.
	if ms, ok := r.Retry(); !ok || ms != 2000 {
		t.Errorf("Retry = %d, %v, want 2000, true", ms, ok)
	}
}
