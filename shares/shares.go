// Package shares keeps share links: read-only capabilities for one run.
// A link carries its own random secret (256 bits), of which only a hash is
// stored; it can expire and be revoked, and it dies with its run. It knows
// nothing of HTTP: the API asks it whether a presented secret opens a run.
package shares

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNotFound is returned for a share link that is malformed, unknown,
// revoked or expired: callers answer "not found" without saying which.
var ErrNotFound = errors.New("share link not found")

// KV is what the store needs of a key-value bucket.
type KV interface {
	Put(ctx context.Context, key string, v []byte) error
	Get(ctx context.Context, key string) (v []byte, ok bool, err error)
	Delete(ctx context.Context, key string) error
	Keys(ctx context.Context) ([]string, error)
}

// Share is a stored share link (everything but its secret).
type Share struct {
	ID      string    `json:"id"`
	RunID   string    `json:"run_id"`
	By      string    `json:"created_by,omitempty"`
	Created time.Time `json:"created_at"`
	// Expires is zero for links that do not expire.
	Expires time.Time `json:"expires_at,omitzero"`
}

// stored is Share as kept in the bucket (with its hash).
type stored struct {
	Share
	Hash string `json:"hash"`
}

// Store keeps share links in a bucket, one key per link (its id).
type Store struct {
	kv  KV
	now func() time.Time
}

// New returns a store over kv.
func New(kv KV) *Store { return &Store{kv: kv, now: time.Now} }

// idLen is the length of a link's id, the first part of its secret string.
const idLen = 16

// Create makes a share link of run for by, valid for ttl (0: no expiry),
// and returns its secret string — the only time it is ever shown.
func (s *Store) Create(ctx context.Context, runID, by string, ttl time.Duration) (string, Share, error) {
	var b [8 + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Share{}, fmt.Errorf("shares: random: %w", err)
	}
	id := hex.EncodeToString(b[:8])
	secret := base64.RawURLEncoding.EncodeToString(b[8:])
	sh := Share{ID: id, RunID: runID, By: by, Created: s.now().UTC()}
	if ttl > 0 {
		sh.Expires = sh.Created.Add(ttl)
	}
	data, err := json.Marshal(stored{Share: sh, Hash: hash(secret)})
	if err != nil {
		return "", Share{}, fmt.Errorf("shares: encode: %w", err)
	}
	if err := s.kv.Put(ctx, id, data); err != nil {
		return "", Share{}, fmt.Errorf("shares: store: %w", err)
	}
	return id + secret, sh, nil
}

func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Resolve returns the share link a secret string stands for.
func (s *Store) Resolve(ctx context.Context, secret string) (Share, error) {
	if len(secret) <= idLen || len(secret) > 128 || strings.ContainsAny(secret, "/.") {
		return Share{}, ErrNotFound
	}
	id, rest := secret[:idLen], secret[idLen:]
	st, ok, err := s.get(ctx, id)
	if err != nil || !ok {
		return Share{}, errors.Join(err, ErrNotFound)
	}
	if subtle.ConstantTimeCompare([]byte(hash(rest)), []byte(st.Hash)) != 1 {
		return Share{}, ErrNotFound
	}
	if !st.Expires.IsZero() && !s.now().Before(st.Expires) {
		return Share{}, ErrNotFound
	}
	return st.Share, nil
}

func (s *Store) get(ctx context.Context, id string) (stored, bool, error) {
	data, ok, err := s.kv.Get(ctx, id)
	if err != nil || !ok {
		return stored{}, false, err
	}
	var st stored
	if err := json.Unmarshal(data, &st); err != nil {
		return stored{}, false, fmt.Errorf("shares: decode %s: %w", id, err)
	}
	return st, true, nil
}

// List returns a run's share links (expired ones included, so that their
// owner sees them), oldest first.
func (s *Store) List(ctx context.Context, runID string) ([]Share, error) {
	keys, err := s.kv.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("shares: list: %w", err)
	}
	var out []Share
	for _, k := range keys {
		st, ok, err := s.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if ok && st.RunID == runID {
			out = append(out, st.Share)
		}
	}
	slices.SortFunc(out, func(a, b Share) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Revoke deletes a run's share link; ErrNotFound when the run has no
// link of that id.
func (s *Store) Revoke(ctx context.Context, runID, id string) error {
	st, ok, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if !ok || st.RunID != runID {
		return ErrNotFound
	}
	return s.kv.Delete(ctx, id)
}

// DeleteRun revokes every share link of a run (the run is being deleted).
func (s *Store) DeleteRun(ctx context.Context, runID string) error {
	list, err := s.List(ctx, runID)
	if err != nil {
		return err
	}
	for _, sh := range list {
		if err := s.kv.Delete(ctx, sh.ID); err != nil {
			return err
		}
	}
	return nil
}
