package auth

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in      string
		want    []Scope
		wantErr string
	}{
		{"watch", []Scope{ScopeWatch}, ""},
		{"admin, create,watch,create", []Scope{ScopeCreate, ScopeWatch, ScopeAdmin}, ""},
		{"", nil, "no scope"},
		{"write", nil, `unknown scope "write"`},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseScopes(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseScopes(%q): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseScopes(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestStoreLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	tok, info, err := s.Create("alice", []Scope{ScopeCreate, ScopeWatch}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "tst_"+info.ID+"_") {
		t.Errorf("token %q does not carry its id %s", tok, info.ID)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := splitToken(tok)
	if strings.Contains(string(b), secret) {
		t.Error("token file holds the secret itself")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}

	p, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "alice" || !p.Can(ScopeWatch) || p.Can(ScopeAdmin) || p.Can(ScopeAnnotate) || p.Anonymous() {
		t.Errorf("principal %+v", p)
	}
	// A second store on the same file (the CLI) sees the token; a token
	// it creates is seen by the first without a restart.
	s2, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, err := s2.Create("bob", []Scope{ScopeAdmin}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Verify(tok2); err != nil || !p.Can(ScopeAnnotate) {
		t.Errorf("first store: Verify(bob) = %+v, %v", p, err)
	}

	for name, bad := range map[string]string{
		"garbage":      "nope",
		"wrong secret": tok[:len(tok)-2] + "xx",
		"no prefix":    strings.TrimPrefix(tok, "tst_"),
		"empty":        "",
	} {
		if _, err := s.Verify(bad); err != ErrUnknownToken {
			t.Errorf("%s: Verify err = %v, want ErrUnknownToken", name, err)
		}
	}
	now = now.Add(time.Hour)
	if _, err := s.Verify(tok); err != ErrUnknownToken {
		t.Errorf("expired: Verify err = %v, want ErrUnknownToken", err)
	}
	if _, err := s.Revoke("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(tok2); err != ErrUnknownToken {
		t.Errorf("revoked: Verify err = %v, want ErrUnknownToken", err)
	}
	if _, err := s.Revoke("carol"); err == nil {
		t.Error("revoking an unknown token: no error")
	}
}

func TestStoreDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte(`{"tokens": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("OpenStore(damaged) err = %v, want a damaged-file error", err)
	}
}

func TestStoreConcurrentCreate(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := s.Create("student", []Scope{ScopeWatch}, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := s.Len(); n != 20 {
		t.Errorf("%d tokens stored, want 20", n)
	}
	if _, err := s.Revoke("student"); err == nil || !strings.Contains(err.Error(), "several") {
		t.Errorf("ambiguous revoke err = %v", err)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(time.Minute/6, 3) // 6 a minute, 3 at once
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("action %d refused within the burst", i+1)
		}
	}
	ok, retry := l.Allow("a", now)
	if ok || retry <= 0 || retry > 10*time.Second {
		t.Errorf("4th action: ok=%v retry=%v, want refused with retry in (0, 10s]", ok, retry)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Error("another key is limited by the first's use")
	}
	if ok, _ := l.Allow("a", now.Add(10*time.Second)); !ok {
		t.Error("after the refill period the next action is still refused")
	}
	var off *Limiter
	if ok, _ := off.Allow("x", now); !ok {
		t.Error("nil limiter refused")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := NewLimiter(time.Second, 1)
	l.max = 100
	now := time.Now()
	for i := range 1000 {
		l.Allow(strings.Repeat("k", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	if n := len(l.buckets); n > 100 {
		t.Errorf("%d buckets remembered, want at most 100", n)
	}
}

func TestCounter(t *testing.T) {
	c := NewCounter(2)
	first, second := c.Acquire("ip"), c.Acquire("ip")
	if !first || !second {
		t.Fatal("first two refused")
	}
	if c.Acquire("ip") {
		t.Error("third allowed at limit 2")
	}
	c.Release("ip")
	if !c.Acquire("ip") {
		t.Error("refused after a release")
	}
	if !NewCounter(0).Acquire("x") {
		t.Error("unlimited counter refused")
	}
}
