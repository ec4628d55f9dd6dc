package soak

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []frame
		wantErr error // after the frames; nil: io.EOF
	}{
		{
			name: "the server's frames",
			in: "retry: 2000\n\nevent: stream.open\ndata: {\"from_seq\":1}\n\n" +
				"id: 1\nevent: run.created\ndata: {\"seq\":1,\"t\":0}\n\n: keep-alive\n\n",
			want: []frame{
				{event: "stream.open", data: []byte(`{"from_seq":1}`)},
				{id: 1, hasID: true, event: "run.created", data: []byte(`{"seq":1,"t":0}`)},
				{comment: true},
			},
		},
		{
			name: "CRLF and fields without a space",
			in:   "id:7\r\nevent:thinking\r\ndata:a\r\ndata: b\r\n\r\n",
			want: []frame{{id: 7, hasID: true, event: "thinking", data: []byte("a\nb")}},
		},
		{
			name:    "cut inside a frame",
			in:      "id: 3\nevent: thinking\ndata: {\"seq\":3",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "cut after a field line",
			in:      "id: 3\nevent: thinking\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "an id that is not a seq",
			in:      "id: run:3\ndata: x\n\n",
			wantErr: errAny,
		},
		{
			name:    "an unknown field",
			in:      "foo: bar\n\n",
			wantErr: errAny,
		},
		{
			name: "a line longer than the buffer",
			in:   "id: 2\ndata: " + strings.Repeat("x", 40<<10) + "\n\n",
			want: []frame{{id: 2, hasID: true, data: []byte(strings.Repeat("x", 40<<10))}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFrameReader(strings.NewReader(tt.in))
			var got []frame
			var err error
			for {
				var f frame
				if f, err = fr.next(); err != nil {
					break
				}
				got = append(got, f)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(frame{})); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == nil && !errors.Is(err, io.EOF):
				t.Errorf("end: %v, want io.EOF", err)
			case tt.wantErr == errAny && (err == nil || errors.Is(err, io.EOF)):
				t.Errorf("end: %v, want a parse error", err)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("end: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error but EOF")

func FuzzFrameReader(f *testing.F) {
	f.Add("id: 1\nevent: run.created\ndata: {\"seq\":1,\"t\":0}\n\n: keep-alive\n")
	f.Add("id:7\r\ndata:a\r\ndata: b\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		fr := newFrameReader(strings.NewReader(in))
		for range len(in) + 1 {
			fm, err := fr.next()
			if err != nil {
				return
			}
			if fm.hasID && fm.id < 1 {
				t.Fatalf("frame with id %d", fm.id)
			}
		}
		t.Fatalf("more frames than bytes in %q", in)
	})
}

func TestFieldInt(t *testing.T) {
	tests := []struct {
		data, name string
		want       int64
		ok         bool
	}{
		{`{"seq":12,"t":345,"type":"thinking"}`, "t", 345, true},
		{`{"seq":12,"t":345}`, "seq", 12, true},
		{`{"type":"stream.open","from_seq":6}`, "from_seq", 6, true},
		{`{"seq":12}`, "t", 0, false},
		{`{"t":"x"}`, "t", 0, false},
	}
	for _, tt := range tests {
		got, ok := fieldInt([]byte(tt.data), tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("fieldInt(%s, %q) = %d, %v; want %d, %v", tt.data, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFollowerRecord(t *testing.T) {
	tests := []struct {
		name               string
		seqs               []int64
		wantNext           int64
		wantLost, wantRept int64
	}{
		{"in order", []int64{1, 2, 3}, 4, 0, 0},
		{"a gap", []int64{1, 2, 5}, 6, 2, 0},
		{"a repeat", []int64{1, 2, 2, 3}, 4, 0, 1},
		{"reordered", []int64{1, 3, 2}, 4, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &follower{next: 1}
			for _, s := range tt.seqs {
				f.record(frame{id: s, hasID: true, event: "thinking"}, time.Now(), time.Now())
			}
			if f.next != tt.wantNext || f.lost != tt.wantLost || f.repeated != tt.wantRept {
				t.Errorf("next %d lost %d repeated %d; want %d %d %d", f.next, f.lost, f.repeated, tt.wantNext, tt.wantLost, tt.wantRept)
			}
			f.terminal, f.lastSeq = "run.completed", tt.seqs[len(tt.seqs)-1]
			if exact := tt.wantLost == 0 && tt.wantRept == 0; f.exact() != exact {
				t.Errorf("exact() = %v, want %v", f.exact(), exact)
			}
		})
	}
}

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.quantile(c.q)
		// Never under, at most one bucket (5%) over.
		if got < c.want || got > c.want*106/100 {
			t.Errorf("quantile(%v) = %v, want %v to +5%%", c.q, got, c.want)
		}
	}
	var m hist
	m.merge(&h)
	m.merge(&hist{})
	if m.n != 1000 || m.quantile(0.5) != h.quantile(0.5) || m.max != time.Second {
		t.Errorf("merged: n %d p50 %v max %v", m.n, m.quantile(0.5), m.max)
	}
}

func TestSpans(t *testing.T) {
	tests := []struct {
		in   []int64
		want string
	}{
		{[]int64{1, 2, 3, 5, 7, 8}, "1-3 5 7-8"},
		{[]int64{0, 0, 0}, "0×3"},
		{[]int64{1, 2, 2, 3}, "1 2×2 3"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := spans(tt.in); got != tt.want {
			t.Errorf("spans(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
