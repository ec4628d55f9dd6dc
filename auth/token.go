// Package auth decides who a request is and what it may do: API tokens with
// scopes (stored hashed, shown once), and per-client rate limits. It knows
// nothing of HTTP routes; the HTTP API asks it about each request.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is one permission a token grants.
type Scope string

// The scopes. Admin implies every other.
const (
	ScopeCreate   Scope = "create"   // start runs (and control one's own)
	ScopeWatch    Scope = "watch"    // follow and list runs one may see
	ScopeAnnotate Scope = "annotate" // annotate runs one may see
	ScopeAdmin    Scope = "admin"    // everything, every run, metrics
)

// AllScopes lists the scopes in their canonical order.
var AllScopes = []Scope{ScopeCreate, ScopeWatch, ScopeAnnotate, ScopeAdmin}

// ParseScopes reads a comma-separated scope list ("create,watch").
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		sc := Scope(p)
		if !slices.Contains(AllScopes, sc) {
			return nil, fmt.Errorf("unknown scope %q: want %s", p, joinScopes(AllScopes))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scope given")
	}
	slices.SortFunc(out, func(a, b Scope) int { return slices.Index(AllScopes, a) - slices.Index(AllScopes, b) })
	return out, nil
}

func joinScopes(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// Principal is who a request acts as.
type Principal struct {
	// Name is the token's holder ("alice"); annotations carry it. Empty
	// for anonymous requests.
	Name string
	// TokenID identifies the token (not secret); empty when anonymous.
	TokenID string
	Scopes  []Scope
}

// Anonymous reports whether no token was presented.
func (p Principal) Anonymous() bool { return p.TokenID == "" }

// Can reports whether the principal holds scope s (admin holds all).
func (p Principal) Can(s Scope) bool {
	return slices.Contains(p.Scopes, s) || slices.Contains(p.Scopes, ScopeAdmin)
}

// Token is a stored token: everything but its secret, of which only a
// hash is kept.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Scopes  []Scope   `json:"scopes"`
	Created time.Time `json:"created"`
	// Expires is zero for tokens that do not expire.
	Expires time.Time `json:"expires,omitzero"`
	Hash    string    `json:"hash"` // hex sha256 of the secret part
}

// tokenPrefix marks thinkstream tokens, so that secret scanners and people
// can tell them apart from other credentials.
const tokenPrefix = "tst_"

// newSecret returns a token's id and the whole token string
// (tst_<id>_<secret>) and the hash of its secret.
func newSecret() (id, token, hash string, err error) {
	var b [8 + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", fmt.Errorf("auth: random: %w", err)
	}
	id = hex.EncodeToString(b[:8])
	secret := base64.RawURLEncoding.EncodeToString(b[8:])
	return id, tokenPrefix + id + "_" + secret, hashSecret(secret), nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// splitToken parses tst_<id>_<secret>.
func splitToken(tok string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 16 || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// matches compares a presented secret with the stored hash in constant time.
func (t Token) matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.Hash)) == 1
}

type principalKey struct{}

// NewContext returns ctx carrying p, so that what serves a request (the
// run manager's callers, the OpenAI-compatible API) knows who asked.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext put in ctx (anonymous when
// none).
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
