package shares

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/eventlog"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b, err := l.Bucket(ctx, "shares_test")
	if err != nil {
		t.Fatal(err)
	}
	return New(b)
}

func TestShareLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	secret, sh, err := s.Create(ctx, "run-a", "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < idLen+43 || !strings.HasPrefix(secret, sh.ID) {
		t.Fatalf("secret %q (id %s): want the id and 256 random bits", secret, sh.ID)
	}
	got, err := s.Resolve(ctx, secret)
	if err != nil || got.RunID != "run-a" || got.By != "alice" {
		t.Fatalf("resolve = %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"wrong secret": sh.ID + strings.Repeat("A", 43),
		"id only":      sh.ID,
		"empty":        "",
		"slash":        sh.ID + "/x",
		"unknown id":   "0000000000000000" + secret[idLen:],
	} {
		if _, err := s.Resolve(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: resolve = %v, want ErrNotFound", name, err)
		}
	}
	// The bucket holds a hash, never the secret.
	raw, _, err := s.kv.Get(ctx, sh.ID)
	if err != nil || strings.Contains(string(raw), secret[idLen:]) {
		t.Errorf("stored %s (%v): the secret must not be stored", raw, err)
	}

	now = now.Add(time.Hour)
	if _, err := s.Resolve(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired link resolves: %v", err)
	}
	forever, sh2, err := s.Create(ctx, "run-a", "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Create(ctx, "run-b", "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "run-a")
	if err != nil || len(list) != 2 {
		t.Fatalf("list run-a = %v, %v: want both of its links", list, err)
	}
	if err := s.Revoke(ctx, "run-b", sh2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking another run's link = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "run-a", sh2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, forever); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked link resolves: %v", err)
	}
	if err := s.DeleteRun(ctx, "run-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Errorf("link of a deleted run resolves: %v", err)
	}
}
