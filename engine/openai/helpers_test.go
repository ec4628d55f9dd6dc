package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/thinkstream/thinkstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The text every testdata stream carries, whatever its shape.
const (
	wantReasoning = "Okay, so I need to add 2 and 2.\n\n2 + 2 = 4."
	wantAnswer    = "\n\nThe answer is $\\boxed{4}$."
)

// upstream is a scripted OpenAI-compatible server on 127.0.0.1.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	paths    []string
	attempts int
}

// newUpstream starts a server whose handler for attempt n (0-based) is h.
func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, attempt int)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		n := u.attempts
		u.attempts++
		u.bodies = append(u.bodies, body)
		u.headers = append(u.headers, r.Header.Clone())
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) url() string { return u.URL + "/v1" }

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.attempts
}

func (u *upstream) lastBody(t *testing.T) map[string]any {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(u.bodies[len(u.bodies)-1], &m); err != nil {
		t.Fatalf("upstream got invalid json: %v", err)
	}
	return m
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sseHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// replay writes stream in small flushed pieces so that line endings, CRLF
// pairs and JSON objects are split across the client's reads.
func replay(stream []byte, piece int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		sseHeader(w)
		for len(stream) > 0 {
			n := min(piece, len(stream))
			if _, err := w.Write(stream[:n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			stream = stream[n:]
		}
	}
}

// newEngine builds an engine for u with short timeouts so faults resolve in
// milliseconds; mod adjusts the config.
func newEngine(t *testing.T, baseURL string, mod func(*Config)) *Engine {
	t.Helper()
	cfg := Config{
		BaseURL:      baseURL,
		Model:        "WeiboAI/VibeThinker-1.5B",
		TTFTTimeout:  2 * time.Second,
		IdleTimeout:  2 * time.Second,
		RetryBase:    time.Millisecond,
		RetryMaxWait: 5 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var testReq = thinkstream.Request{
	RunID:    "run-1",
	Messages: []thinkstream.Message{{Role: "user", Content: "What is 2+2?"}},
}

// collect runs Generate and gathers what it emitted.
func collect(ctx context.Context, e *Engine, req thinkstream.Request) ([]thinkstream.Token, thinkstream.Result, error) {
	var toks []thinkstream.Token
	res, err := e.Generate(ctx, req, func(tok thinkstream.Token) error {
		toks = append(toks, tok)
		return nil
	})
	return toks, res, err
}

// split joins tokens into reasoning and answer text the way the reasoning
// parser would: typed channels as they are, raw text split on the tags.
func split(t *testing.T, toks []thinkstream.Token) (reasoning, answer string) {
	t.Helper()
	var r, a, raw strings.Builder
	for _, tok := range toks {
		switch tok.Channel {
		case thinkstream.ChannelReasoning:
			r.WriteString(tok.Text)
		case thinkstream.ChannelAnswer:
			a.WriteString(tok.Text)
		case thinkstream.ChannelRaw:
			raw.WriteString(tok.Text)
		}
		if tok.ID != -1 {
			t.Errorf("token %q has id %d, want -1", tok.Text, tok.ID)
		}
	}
	if s := raw.String(); s != "" {
		if r.Len() > 0 || a.Len() > 0 {
			t.Errorf("raw and typed tokens mixed in one stream")
		}
		before, after, ok := strings.Cut(strings.TrimPrefix(s, "<think>"), "</think>")
		if !ok {
			t.Fatalf("raw stream has no </think>: %q", s)
		}
		return before, after
	}
	return r.String(), a.String()
}

func wantCode(t *testing.T, err error, code string, retryable bool) *thinkstream.EngineError {
	t.Helper()
	var ee *thinkstream.EngineError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v (%T), want *EngineError %s", err, err, code)
	}
	if ee.Code != code || ee.Retryable != retryable {
		t.Fatalf("err = %s (retryable %v), want %s (retryable %v)", ee.Error(), ee.Retryable, code, retryable)
	}
	return ee
}

// waitClosed fails the test unless ch is closed within d.
func waitClosed(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %v", what, d)
	}
}
