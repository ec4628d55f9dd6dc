package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// openStream opens an event stream as tok and waits for its first frame,
// so that the server holds it.
func openStream(t *testing.T, ctx context.Context, url, tok string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	// Each stream on its own connection, as separate tabs would be.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == 200 {
		ev, err := sse.NewReader(bufio.NewReader(resp.Body)).Next()
		if err != nil || ev.Type != thinkstream.EventStreamOpen {
			resp.Body.Close()
			t.Fatalf("first frame %q, %v", ev.Type, err)
		}
	}
	return resp, nil
}

// The N+1-th concurrent stream of a client is refused with 429 and
// Retry-After; closing one frees its slot; other clients are not affected.
func TestStreamLimit(t *testing.T) {
	const n = 3
	gate := make(chan struct{})
	store, toks := classTokens(t)
	s := newStack(t, &scripted{tokens: []string{"a"}, gate: gate}, Config{
		Heartbeat: 20 * time.Millisecond, // a closed stream is noticed at its next write
		Access:    &Access{Tokens: store, StreamsPerClient: n},
	})
	t.Cleanup(func() { close(gate) })
	id := createVia(t, s.srv.URL, toks["alice"], `{"problem":"p","visibility":"public"}`)
	url := s.srv.URL + "/v1/runs/" + id + "/events"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var open []*http.Response
	for i := range n {
		resp, err := openStream(t, ctx, url, toks["bob"])
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i+1, resp, err)
		}
		open = append(open, resp)
	}
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	resp, err := openStream(t, ctx, url, toks["bob"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("stream %d = %d (Retry-After %q, %s), want a problem+json 429 with Retry-After",
			n+1, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	// Another token has slots of its own.
	other, err := openStream(t, ctx, url, toks["alice"])
	if err != nil || other.StatusCode != 200 {
		t.Fatalf("another client's stream: %v %v", other, err)
	}
	other.Body.Close()

	// Closing one frees a slot: the server notices at the stream's next
	// heartbeat; wait for that, with a deadline.
	open[0].Body.Close()
	open = open[1:]
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := openStream(t, ctx, url, toks["bob"])
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			open = append(open, resp)
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed stream was not freed (last answer %d)", resp.StatusCode)
		}
		<-tick.C
	}
	if resp, _ := openStream(t, ctx, url, toks["bob"]); resp.StatusCode != 429 {
		t.Errorf("with %d open again, one more = %d, want 429", n, resp.StatusCode)
	} else {
		resp.Body.Close()
	}
}

// Without a token (share-link viewers) the limit counts per IP address.
func TestStreamLimitPerIP(t *testing.T) {
	gate := make(chan struct{})
	store, toks := classTokens(t)
	s := newStack(t, &scripted{tokens: []string{"a"}, gate: gate}, Config{Access: &Access{Tokens: store, StreamsPerClient: 1}})
	t.Cleanup(func() { close(gate) })
	id := createVia(t, s.srv.URL, toks["alice"], `{"problem":"p"}`)
	sh := createShare(t, s.srv.URL, toks["alice"], id, "")
	url := s.srv.URL + "/v1/runs/" + id + "/events?share=" + sh.Secret
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := openStream(t, ctx, url, "")
	if err != nil || first.StatusCode != 200 {
		t.Fatalf("first share viewer: %v %v", first, err)
	}
	defer first.Body.Close()
	second, err := openStream(t, ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != 429 {
		t.Errorf("second anonymous stream from one IP = %d, want 429", second.StatusCode)
	}
	if !strings.HasPrefix(second.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("refusal is %q", second.Header.Get("Content-Type"))
	}
}
