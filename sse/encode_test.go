package sse

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// checkGolden compares got with testdata/<name>.golden, or rewrites the file
// under -update. Golden files hold the exact bytes on the wire.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{"plain", "1", "thinking", `{"t":1}`, "id: 1\nevent: thinking\ndata: {\"t\":1}\n\n"},
		{"no id no event", "", "", "x", "data: x\n\n"},
		{"empty data", "7", "", "", "id: 7\ndata:\n\n"},
		{"lf", "", "", "a\nb", "data: a\ndata: b\n\n"},
		{"crlf", "", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"lone cr", "", "", "a\rb", "data: a\ndata: b\n\n"},
		{"cr cr", "", "", "a\r\rb", "data: a\ndata:\ndata: b\n\n"},
		{"lf cr is two endings", "", "", "a\n\rb", "data: a\ndata:\ndata: b\n\n"},
		{"trailing lf", "", "", "a\n", "data: a\ndata:\n\n"},
		{"only cr", "", "", "\r", "data:\ndata:\n\n"},
		{"leading space kept", " id", " ev", " x", "id:  id\nevent:  ev\ndata:  x\n\n"},
		{"injection attempt", "", "", "x\r\nevent: error\rid: 9", "data: x\ndata: event: error\ndata: id: 9\n\n"},
		{"colon in data", "", "", "a:b", "data: a:b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEvent([]byte("prev"), tt.id, tt.event, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("prev"+tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendEventInvalid(t *testing.T) {
	tests := []struct {
		name, id, event string
	}{
		{"id lf", "a\nb", ""},
		{"id cr", "a\r", ""},
		{"id nul", "a\x00", ""},
		{"event lf", "", "x\n"},
		{"event cr", "", "\rx"},
		{"event nul", "", "x\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendEvent(dst, tt.id, tt.event, []byte("d"))
			if !errors.Is(err, ErrInvalidField) {
				t.Fatalf("err = %v, want ErrInvalidField", err)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", ":\n"},
		{"ping", ": ping\n"},
		{"a\r\nb\rc\nd", ": a\n: b\n: c\n: d\n"},
		{"x\ndata: evil", ": x\n: data: evil\n"},
	}
	for _, tt := range tests {
		if got := string(AppendComment(nil, tt.text)); got != tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		ms   int
		want string
	}{
		{3000, "retry: 3000\n\n"},
		{0, "retry: 0\n\n"},
		{-5, "retry: 0\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendRetry(nil, tt.ms)); got != tt.want {
			t.Errorf("AppendRetry(%d) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

// TestEncodeGolden pins the exact bytes of a realistic stream: the frames a
// hub writes for the start of a run, with model output that carries every
// kind of line ending.
func TestEncodeGolden(t *testing.T) {
	var b []byte
	b = AppendRetry(b, 2000)
	b = AppendComment(b, "thinkstream run r1")
	frames := []struct{ id, event, data string }{
		{"r1:1", "run.started", `{"seq":1,"type":"run.started"}`},
		{"r1:2", "thinking", `{"seq":2,"type":"thinking","text":"Okay, let me"}`},
		{"r1:3", "code", "print(1)\r\nprint(2)\rprint(3)\n"},
		{"", "", "no id, default type"},
		{"r1:4", "run.completed", ""},
	}
	for _, f := range frames {
		var err error
		if b, err = AppendEvent(b, f.id, f.event, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	b = AppendComment(b, "")
	checkGolden(t, "encode/stream", b)
}

func TestAppendEventAllocs(t *testing.T) {
	data := []byte("line one\r\nline two\rline three\nend")
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		dst, err = AppendEvent(dst[:0], "run:12345", "thinking", data)
		if err != nil {
			t.Fatal(err)
		}
		dst = AppendComment(dst, "ping\nping")
		dst = AppendRetry(dst, 1500)
	})
	if allocs != 0 {
		t.Errorf("allocs per run = %v, want 0", allocs)
	}
}

// TestManyLoneCRs guards against quadratic scanning: text of lone CRs has
// no LF, and a scan for the next LF from every line would read the whole
// remainder each time (minutes for this input instead of milliseconds).
func TestManyLoneCRs(t *testing.T) {
	start := time.Now()
	defer func() {
		// Linear work takes well under a second even on a loaded machine;
		// the quadratic version takes tens of seconds.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v: scanning is not linear", d)
		}
	}()
	data := []byte(strings.Repeat("a\r", 1<<19))
	out, err := AppendEvent(nil, "", "", data)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(out, []byte("data: a\n")); got != 1<<19 {
		t.Fatalf("%d data lines", got)
	}
	r := NewReader(bytes.NewReader(data), WithMaxLine(4<<20))
	// The stream has no blank line: only the scanning cost matters.
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
	big := append(bytes.Repeat([]byte("x"), 1<<20), bytes.Repeat([]byte("\r"), 1<<19)...)
	r = NewReader(bytes.NewReader(big), WithMaxLine(2<<20))
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
}
