package local

import (
	"strings"
	"testing"
)

func FuzzStopMatcher(f *testing.F) {
	f.Add("Hello ###STOP### world", "###STOP", uint64(12345))
	f.Add("aaab", "aab", uint64(1))
	f.Add("no stop here", "zz", uint64(99))
	f.Add("数学🙂", "🙂", uint64(7))
	f.Fuzz(func(t *testing.T, text, stopStr string, cuts uint64) {
		if stopStr == "" {
			return
		}
		m := newStopMatcher([]string{stopStr})
		var out strings.Builder
		stopped := false
		rest := text
		for rest != "" && !stopped {
			n := 1 + int(cuts%5)
			cuts = cuts/5 + 1
			n = min(n, len(rest))
			var chunk string
			chunk, stopped = m.push(rest[:n])
			rest = rest[n:]
			out.WriteString(chunk)
		}
		if !stopped {
			out.WriteString(m.flush())
		}
		want, _, found := strings.Cut(text, stopStr)
		if found != stopped || out.String() != want {
			t.Fatalf("text %q stop %q: got %q (stopped %v), want %q (%v)", text, stopStr, out.String(), stopped, want, found)
		}
	})
}
