package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream/auth"
)

// Access says who may use the server and how much. The zero value is the
// open mode with default limits.
type Access struct {
	// Tokens, when set, puts the server in token mode: every request but
	// health, login and the page's static files needs a token (Bearer
	// header or the login cookie) with the route's scope. Nil: open mode,
	// where anyone may do anything (a server on loopback).
	Tokens *auth.Store
	// Limits per client (its token, or its IP address without one).
	// Zero values are the defaults in token mode and off in open mode
	// (where every local client shares one address); negative disables a
	// limit.
	RunsPerMinute        int // runs created, default 20 (burst 10)
	AnnotationsPerMinute int // default 60 (burst 20)
	// StreamsPerClient bounds the event streams one client holds open at
	// once, default 32 (several tabs and a projector; a class behind one
	// NAT address has a token each, so the per-IP count is only for
	// clients without one: share-link viewers).
	StreamsPerClient int
	BodyTimeout      time.Duration // longest time to receive a request body, default 10s
}

// Mode names the access mode ("open" or "token").
func (a *Access) Mode() string {
	if a != nil && a.Tokens != nil {
		return "token"
	}
	return "open"
}

// guard is the API's access state: who a request is, what it may do, how
// much it may do.
type guard struct {
	tokens      *auth.Store
	runs        *auth.Limiter
	annotations *auth.Limiter
	streams     *auth.Counter
	maxStreams  int
	bodyTimeout time.Duration
	maxBody     int64
	origins     []string
}

func newGuard(acc *Access, maxBody int64, origins []string) *guard {
	var a Access
	if acc != nil {
		a = *acc
	}
	defaults := a.Tokens != nil
	perMinute := func(n, def int) (time.Duration, int) {
		switch {
		case n < 0, n == 0 && !defaults:
			return 0, 1
		case n == 0:
			n = def
		}
		return time.Minute / time.Duration(n), max(n/2, 1)
	}
	g := &guard{tokens: a.Tokens, maxBody: maxBody, origins: origins}
	g.runs = auth.NewLimiter(perMinute(a.RunsPerMinute, 20))
	g.annotations = auth.NewLimiter(perMinute(a.AnnotationsPerMinute, 60))
	switch n := a.StreamsPerClient; {
	case n > 0:
		g.maxStreams = n
	case n == 0 && defaults:
		g.maxStreams = 32
	}
	g.streams = auth.NewCounter(g.maxStreams)
	g.bodyTimeout = a.BodyTimeout
	if g.bodyTimeout <= 0 {
		g.bodyTimeout = 10 * time.Second
	}
	return g
}

// loginCookie carries a token for browsers: the page and EventSource (which
// cannot set headers) then work without tokens in URLs.
const loginCookie = "thinkstream_token"

// principalOf returns the principal of an authenticated request.
func principalOf(ctx context.Context) auth.Principal { return auth.FromContext(ctx) }

// clientKey is what per-client limits count by: the token, else the IP.
func clientKey(r *http.Request) string {
	if p := principalOf(r.Context()); !p.Anonymous() {
		return "token:" + p.TokenID
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// scopeFor is the scope a request needs ("" for none: health, login, the
// page's static files).
func scopeFor(r *http.Request) auth.Scope {
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/readyz" || p == "/v1/login" || p == "/v1/logout":
		return ""
	case strings.HasPrefix(p, "/v1/s/"):
		return "" // resolving a share link: the secret is the capability
	case r.Method == http.MethodGet && r.URL.Query().Has("share") && shareReadable(p):
		return "" // the handler checks that the link opens this run
	case p == "/metrics", p == "/v1/models/pulls", strings.HasPrefix(p, "/v1/models/pulls/"):
		// Downloading a model changes what answers everyone: admins only.
		return auth.ScopeAdmin
	case p == "/infer":
		if r.URL.Query().Get("problem") != "" {
			return auth.ScopeCreate
		}
		return auth.ScopeWatch
	case strings.HasPrefix(p, "/v1/"):
		if r.Method == http.MethodPatch || r.Method == http.MethodDelete {
			return auth.ScopeCreate // owners' changes; owners could create
		}
		if r.Method == http.MethodPost {
			if strings.HasSuffix(p, "/annotations") {
				return auth.ScopeAnnotate
			}
			return auth.ScopeCreate
		}
		return auth.ScopeWatch
	}
	return "" // the web UI's pages and assets: they hold no data
}

// shareReadable reports whether a share link may open path: a run's
// snapshot and its event stream, nothing else (never a list, never a change).
func shareReadable(p string) bool {
	rest, ok := strings.CutPrefix(p, "/v1/runs/")
	if !ok {
		return false
	}
	id, tail, _ := strings.Cut(rest, "/")
	return id != "" && (tail == "" && !strings.HasSuffix(rest, "/") || tail == "events")
}

// sideEffect reports whether a request changes state, and so must not be
// made on behalf of a page of another site.
func sideEffect(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.URL.Path == "/infer" && r.URL.Query().Get("problem") != ""
	}
	return true
}

// admit authenticates r, checks its scope and the browser-safety rules,
// and reads its body under a deadline. It answers refused requests itself
// and returns the request to serve, or nil.
func (a *API) admit(w http.ResponseWriter, r *http.Request) *http.Request {
	g := a.guard
	if sideEffect(r) && !a.sameSiteOrAllowed(r) {
		a.problem(w, r, http.StatusForbidden, "cross-site", "Cross-site request refused",
			"requests that change state must come from this server's own pages or an allowed origin", nil)
		return nil
	}
	hasBody := r.Method == http.MethodPost || r.Method == http.MethodPatch
	if hasBody && r.ContentLength != 0 && !isJSON(r.Header.Get("Content-Type")) {
		a.problem(w, r, http.StatusUnsupportedMediaType, "unsupported-media-type", "JSON required",
			"send the request body as application/json", nil)
		return nil
	}
	var p auth.Principal
	if g.tokens != nil {
		tok := bearer(r)
		if tok != "" {
			var err error
			if p, err = g.tokens.Verify(tok); err != nil {
				if !errors.Is(err, auth.ErrUnknownToken) {
					a.internal(w, r, err)
					return nil
				}
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				a.problem(w, r, http.StatusUnauthorized, "invalid-token", "Invalid token", "the token is unknown, revoked or expired", nil)
				return nil
			}
		}
		if need := scopeFor(r); need != "" {
			if p.Anonymous() {
				w.Header().Set("WWW-Authenticate", `Bearer realm="thinkstream"`)
				a.problem(w, r, http.StatusUnauthorized, "unauthenticated", "Token required",
					"this server needs a token: send Authorization: Bearer <token>, or log in on the page", nil)
				return nil
			}
			if !p.Can(need) {
				a.problem(w, r, http.StatusForbidden, "insufficient-scope", "Not allowed",
					"the token lacks the scope \""+string(need)+"\"", nil)
				return nil
			}
		}
	}
	r = r.WithContext(auth.NewContext(r.Context(), p))
	if hasBody && r.Body != nil && r.Body != http.NoBody {
		if !a.readBody(w, r) {
			return nil
		}
	}
	return r
}

// readBody reads the whole (bounded) body under the body deadline, so a
// client trickling bytes holds a connection for BodyTimeout at most, and
// then clears the deadline: a streaming response (chat completions) may
// last an hour.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) bool {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(a.guard.bodyTimeout))
	b, err := io.ReadAll(io.LimitReader(r.Body, a.guard.maxBody+1))
	if err != nil {
		// The deadline stays: net/http drains an unread body before
		// replying, which must fail at once, not wait for the client.
		w.Header().Set("Connection", "close")
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			a.problem(w, r, http.StatusRequestTimeout, "body-timeout", "Request body too slow",
				"the request body did not arrive within "+a.guard.bodyTimeout.String(), nil)
			return false
		}
		a.problem(w, r, http.StatusBadRequest, "bad-body", "Unreadable body", "the request body could not be read", nil)
		return false
	}
	if int64(len(b)) > a.guard.maxBody {
		w.Header().Set("Connection", "close")
		a.problem(w, r, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			"the request body is over "+strconv.FormatInt(a.guard.maxBody, 10)+" bytes", nil)
		return false
	}
	_ = rc.SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(b))
	return true
}

// limited answers 429 with Retry-After when l refuses r's client.
func (a *API) limited(w http.ResponseWriter, r *http.Request, l *auth.Limiter, what string) bool {
	ok, retry := l.Allow(clientKey(r), time.Now())
	if ok {
		return false
	}
	secs := int(retry.Seconds() + 0.999)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	a.problem(w, r, http.StatusTooManyRequests, "rate-limited", "Too many requests",
		"too many "+what+" from this client; retry in "+strconv.Itoa(max(secs, 1))+"s", nil)
	return true
}

// streamSlot takes one of the client's concurrent stream slots, or answers
// 429 and reports false. release gives it back when the stream ends.
func (a *API) streamSlot(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	key := clientKey(r)
	if !a.guard.streams.Acquire(key) {
		w.Header().Set("Retry-After", "5")
		a.problem(w, r, http.StatusTooManyRequests, "too-many-streams", "Too many streams",
			"this client has "+strconv.Itoa(a.guard.maxStreams)+" event streams open already; close one and retry", nil)
		return nil, false
	}
	return func() { a.guard.streams.Release(key) }, true
}

// bearer returns the request's token: the Authorization header, else the
// login cookie.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return h // malformed: Verify rejects it
	}
	if c, err := r.Cookie(loginCookie); err == nil {
		return c.Value
	}
	return ""
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// sameSiteOrAllowed reports whether a state-changing request comes from
// this server's own pages, an explicitly allowed origin, or a non-browser
// client. Browsers send Origin on cross-origin POSTs and Sec-Fetch-Site on
// every request; clients that send neither are not browsers and cannot be
// made to act on a user's behalf by another site.
func (a *API) sameSiteOrAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && origin != "null" {
		if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
			return true
		}
		for _, o := range a.guard.origins {
			if o == origin { // "*" allows reading only, never side effects
				return true
			}
		}
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return origin != "null"
	}
	return false
}

// login turns a token into the HttpOnly login cookie, so that the page and
// EventSource work without tokens in URLs or scripts.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	if a.guard.tokens == nil {
		writeJSON(w, http.StatusOK, whoami{Mode: "open"})
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if !a.decodeJSON(w, r, &body) {
		return
	}
	p, err := a.guard.tokens.Verify(strings.TrimSpace(body.Token))
	if err != nil {
		a.problem(w, r, http.StatusUnauthorized, "invalid-token", "Invalid token", "the token is unknown, revoked or expired", nil)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: strings.TrimSpace(body.Token), Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		MaxAge: int((30 * 24 * time.Hour).Seconds()),
	})
	writeJSON(w, http.StatusOK, whoamiOf("token", p))
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// whoami is the access mode and the caller's identity.
type whoami struct {
	Mode   string       `json:"mode"`
	Name   string       `json:"name,omitempty"`
	Scopes []auth.Scope `json:"scopes,omitempty"`
}

func whoamiOf(mode string, p auth.Principal) whoami {
	return whoami{Mode: mode, Name: p.Name, Scopes: p.Scopes}
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, whoamiOf(a.cfg.Access.Mode(), principalOf(r.Context())))
}
