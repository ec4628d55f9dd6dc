package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// ErrUnknownToken is returned for a token that is malformed, unknown,
// revoked or expired. Callers answer 401 without saying which.
var ErrUnknownToken = errors.New("unknown or expired token")

// Store keeps tokens in one JSON file (mode 0600), rewritten atomically on
// every change. A server re-reads it when it changes on disk, so tokens
// made with `thinkstream token create` work without a restart.
type Store struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	tokens  []Token
	modTime time.Time
	size    int64
}

// OpenStore reads the token file at path (a missing file is an empty store).
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, now: time.Now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadLocked (re)reads the file when it changed since the last read.
func (s *Store) loadLocked() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.tokens, s.modTime, s.size = nil, time.Time{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	if fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	var f struct {
		Tokens []Token `json:"tokens"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("auth: token file %s is damaged: %w", s.path, err)
	}
	s.tokens, s.modTime, s.size = f.Tokens, fi.ModTime(), fi.Size()
	return nil
}

func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(struct {
		Tokens []Token `json:"tokens"`
	}{s.tokens}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".tokens-*")
	if err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.modTime, s.size = fi.ModTime(), fi.Size()
	}
	return nil
}

// Create makes a token for name with scopes, valid for ttl (0: no expiry),
// and returns the token string — the only time it is ever shown.
func (s *Store) Create(name string, scopes []Scope, ttl time.Duration) (string, Token, error) {
	if name == "" {
		return "", Token{}, errors.New("auth: a token needs a name (who holds it)")
	}
	if len(scopes) == 0 {
		return "", Token{}, errors.New("auth: a token needs at least one scope")
	}
	id, tok, hash, err := newSecret()
	if err != nil {
		return "", Token{}, err
	}
	t := Token{ID: id, Name: name, Scopes: slices.Clone(scopes), Created: s.now().UTC(), Hash: hash}
	if ttl > 0 {
		t.Expires = t.Created.Add(ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return "", Token{}, err
	}
	s.tokens = append(s.tokens, t)
	if err := s.saveLocked(); err != nil {
		s.tokens = s.tokens[:len(s.tokens)-1]
		return "", Token{}, err
	}
	return tok, t, nil
}

// Revoke deletes the token with this id (or, unambiguously, this name).
func (s *Store) Revoke(idOrName string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return Token{}, err
	}
	match := -1
	for i, t := range s.tokens {
		if t.ID == idOrName {
			match = i
			break
		}
		if t.Name == idOrName {
			if match >= 0 {
				return Token{}, fmt.Errorf("auth: several tokens are named %q: revoke one by id", idOrName)
			}
			match = i
		}
	}
	if match < 0 {
		return Token{}, fmt.Errorf("auth: no token %q", idOrName)
	}
	t := s.tokens[match]
	s.tokens = slices.Delete(s.tokens, match, match+1)
	if err := s.saveLocked(); err != nil {
		return Token{}, err
	}
	return t, nil
}

// List returns the stored tokens (hashes included, secrets never).
func (s *Store) List() ([]Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	return slices.Clone(s.tokens), nil
}

// Len is how many tokens are stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.loadLocked()
	return len(s.tokens)
}

// Verify returns the principal a token string stands for.
func (s *Store) Verify(tok string) (Principal, error) {
	id, secret, ok := splitToken(tok)
	if !ok {
		return Principal{}, ErrUnknownToken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return Principal{}, err
	}
	for _, t := range s.tokens {
		if t.ID != id {
			continue
		}
		if !t.matches(secret) || (!t.Expires.IsZero() && !s.now().Before(t.Expires)) {
			return Principal{}, ErrUnknownToken
		}
		return Principal{Name: t.Name, TokenID: t.ID, Scopes: slices.Clone(t.Scopes)}, nil
	}
	return Principal{}, ErrUnknownToken
}
