package modelstore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		bad  bool
	}{
		{in: "mradermacher/VibeThinker-1.5B-GGUF:Q4_K_M", want: Ref{"mradermacher/VibeThinker-1.5B-GGUF", "Q4_K_M", "main"}},
		{in: "owner/repo", want: Ref{"owner/repo", "", "main"}},
		{in: "owner/repo:Q8_0@v1.0", want: Ref{"owner/repo", "Q8_0", "v1.0"}},
		{in: "repo", bad: true},
		{in: "/repo", bad: true},
		{in: "a/b/c", bad: true},
		{in: "a/..", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("ParseRef(%q) err = %v", tt.in, err)
			continue
		}
		if !tt.bad && got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestQuantFromName(t *testing.T) {
	tests := map[string]string{
		"VibeThinker-1.5B.Q4_K_M.gguf":  "Q4_K_M",
		"vibethinker-1.5b-q8_0.gguf":    "Q8_0",
		"Qwen2.5-Math-1.5B-F16.gguf":    "F16",
		"model.IQ4_XS.gguf":             "IQ4_XS",
		"model.gguf":                    "",
		"Q4_K_Monster.gguf":             "",
		"tiny-qwen2-q4_k_m.gguf":        "Q4_K_M",
		"VibeThinker-1.5B.i1-Q6_K.gguf": "Q6_K",
	}
	for in, want := range tests {
		if got := QuantFromName(in); got != want {
			t.Errorf("QuantFromName(%q) = %q, want %q", in, got, want)
		}
	}
	if FileTypeName(15) != "Q4_K_M" || FileTypeName(15|1024) != "Q4_K_M" || FileTypeName(999) != "" {
		t.Error("FileTypeName")
	}
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"THINKSTREAM_MODELS": "/m", "XDG_DATA_HOME": "/x", "HOME": "/h"}, "/m"},
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/thinkstream/models"},
		{map[string]string{"HOME": "/h"}, "/h/.local/share/thinkstream/models"},
	}
	for _, tt := range tests {
		got, err := DefaultDir(func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("DefaultDir(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := DefaultDir(func(string) string { return "" }); err == nil {
		t.Error("no HOME: no error")
	}
}

func TestListAndResolve(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "models")}
	if models, err := s.List(); err != nil || len(models) != 0 {
		t.Fatalf("missing directory: %v, %v", models, err)
	}
	write := func(rel string, b []byte) string {
		p := filepath.Join(s.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a/X-GGUF/X.Q8_0.gguf", testGGUF(t, 7, 10))
	b := write("b/X-GGUF/X.Q8_0.gguf", testGGUF(t, 7, 10))
	c := write("c/Y/not-a-gguf-inside.Q4_K_M.gguf", []byte("junk"))
	write("a/X-GGUF/X.F16.gguf.part", []byte("partial"))
	models, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range models {
		names = append(names, m.Name+" "+m.Quant+" "+m.Ref)
	}
	want := []string{
		"a/X-GGUF/X.Q8_0.gguf Q8_0 a/X-GGUF:Q8_0",
		"b/X-GGUF/X.Q8_0.gguf Q8_0 b/X-GGUF:Q8_0",
		"c/Y/not-a-gguf-inside.Q4_K_M.gguf Q4_K_M c/Y:Q4_K_M",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	tests := []struct{ in, want, err string }{
		{"a/X-GGUF:Q8_0", a, ""},
		{"b/X-GGUF/X.Q8_0.gguf", b, ""},
		{"c/Y", c, ""},
		{"X.Q8_0", "", "matches 2 models"},
		{"zzz", "", "no model"},
	}
	for _, tt := range tests {
		got, err := ResolveModel(s.Dir, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestProgressDisplay(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	var tty bytes.Buffer
	pr := &progress{w: &tty, tty: true, name: "m.gguf", total: 100 << 20, now: now}
	pr.begin()
	for range 10 {
		clock = clock.Add(time.Second)
		pr.add(5 << 20)
	}
	pr.end(true)
	out := tty.String()
	for _, want := range []string{"\r", "m.gguf: [", "50% 50.0 MiB of 100.0 MiB", "5.0 MiB/s", "ETA 10s"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal progress lacks %q:\n%q", want, out)
		}
	}

	var plain bytes.Buffer
	clock = time.Unix(0, 0)
	pr = &progress{w: &plain, name: "m.gguf", total: 1000, done: 500, from: 500, now: now}
	pr.begin()
	for range 50 {
		clock = clock.Add(time.Second)
		pr.add(10)
	}
	pr.end(true)
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 5 || strings.Contains(plain.String(), "\r") {
		t.Fatalf("want one plain line per 10%% from 50%%, got %q", lines)
	}
	if !strings.HasPrefix(lines[0], "m.gguf:  60% 600 B of 1000 B, 10 B/s, ETA 40s") {
		t.Errorf("line %q", lines[0])
	}
}
