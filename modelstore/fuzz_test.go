package modelstore

import (
	"strings"
	"testing"
)

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"a/b", "a/b:Q4_K_M", "a/b:Q8_0@main", "a/../b", "/b", "a/b/c", ":", "@", "a/b@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		owner, name, ok := strings.Cut(r.Repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") || strings.Contains(r.Repo, "..") || r.Revision == "" {
			t.Fatalf("ParseRef(%q) = %+v", s, r)
		}
	})
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/*", "bytes */10", "bytes -1-2/3", "", "bytes 1-/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, size, ok := contentRange(s)
		if ok && (start < 0 || (size != -1 && size < start)) {
			t.Fatalf("contentRange(%q) = %d, %d", s, start, size)
		}
	})
}
