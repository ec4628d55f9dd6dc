package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/httpapi"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCreateValidation(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"x"}}, Config{MaxTokens: 1000})
	long := strings.Repeat("a", 16<<10+1)
	tests := []struct {
		name       string
		ctype      string
		body       string
		status     int
		typ, field string
	}{
		{"invalid json", "application/json", `{"problem":`, 400, "/problems/invalid-json", ""},
		{"trailing data", "application/json", `{"problem":"a"} {}`, 400, "/problems/invalid-json", ""},
		{"empty body", "application/json", ``, 400, "/problems/invalid-json", ""},
		{"unknown field", "application/json", `{"problem":"a","prompt":"b"}`, 400, "/problems/unknown-field", "prompt"},
		{"wrong type", "application/json", `{"problem":5}`, 400, "/problems/invalid-type", "problem"},
		{"wrong param type", "application/json", `{"problem":"a","params":{"temperature":"hot"}}`, 400, "/problems/invalid-type", "params.temperature"},
		{"empty problem", "application/json", `{"problem":"  "}`, 422, "/problems/invalid-field", "problem"},
		{"missing problem", "application/json", `{}`, 422, "/problems/invalid-field", "problem"},
		{"oversized problem", "application/json", `{"problem":"` + long + `"}`, 422, "/problems/invalid-field", "problem"},
		{"invalid utf8", "application/json", "{\"problem\":\"a\xff\"}", 400, "/problems/invalid-utf8", ""},
		{"nul", "application/json", `{"problem":"a\u0000b"}`, 422, "/problems/invalid-field", "problem"},
		{"control char", "application/json", `{"problem":"a\u001bb"}`, 422, "/problems/invalid-field", "problem"},
		{"escaped surrogate", "application/json", `{"problem":"a\ud800"}`, 422, "/problems/invalid-field", "problem"},
		{"temperature", "application/json", `{"problem":"a","params":{"temperature":2.5}}`, 422, "/problems/invalid-field", "params.temperature"},
		{"top_p zero", "application/json", `{"problem":"a","params":{"top_p":0}}`, 422, "/problems/invalid-field", "params.top_p"},
		{"max_tokens cap", "application/json", `{"problem":"a","params":{"max_tokens":1001}}`, 422, "/problems/invalid-field", "params.max_tokens"},
		{"max_tokens negative", "application/json", `{"problem":"a","params":{"max_tokens":-1}}`, 422, "/problems/invalid-field", "params.max_tokens"},
		{"body too large", "application/json", `{"problem":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "/problems/body-too-large", ""},
		{"media type", "text/plain", `{"problem":"a"}`, 415, "/problems/unsupported-media-type", ""},
		{"no media type", "", `{"problem":"a"}`, 415, "/problems/unsupported-media-type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.srv.URL+"/v1/runs", strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []httpapi.FieldError
			}
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.typ || p.Status != tt.status {
				t.Errorf("problem %+v, want type %s", p, tt.typ)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors %+v, want field %s", p.Errors, tt.field)
			}
		})
	}
	resp := get(t, s.srv.URL+"/v1/runs", nil)
	defer resp.Body.Close()
	var list struct {
		Runs []json.RawMessage `json:"runs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Runs) != 0 {
		t.Errorf("rejected requests created %d runs", len(list.Runs))
	}
}

var (
	reT  = regexp.MustCompile(`"t":\d+`)
	reID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reTS = regexp.MustCompile(`"(created_at|started_at|ended_at)":"[^"]+"`)
	reMS = regexp.MustCompile(`"(queue_ms|ttft_ms|total_ms)":\d+`)
	// Viewer-count frames come when a timer fires, not at fixed places.
	reViewers = regexp.MustCompile(`event: viewers\ndata: [^\n]*\n\n`)
)

// normalize removes what legitimately differs between runs: times and ids.
func normalize(b []byte) []byte {
	b = reViewers.ReplaceAll(b, nil)
	b = reT.ReplaceAll(b, []byte(`"t":0`))
	b = reID.ReplaceAll(b, []byte(`RUN-ID`))
	b = reTS.ReplaceAll(b, []byte(`"$1":"TIME"`))
	return reMS.ReplaceAll(b, []byte(`"$1":0`))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// goldenTokens exercise the framing: CR, CRLF and LF inside text, split
// think tags, code, boxed answer.
var goldenTokens = []string{"<thi", "nk>", "Let me", " think.\r", "\nStill\r\n", "thinking.\n\n", "Step two:\n",
	"```python\n", "print(1)\n", "```\n", "</think>", "The answer is $\\boxed{", "\\frac{1}{2}", "}$."}

func TestSSEGolden(t *testing.T) {
	s := newStack(t, &scripted{tokens: goldenTokens}, Config{})
	c := s.create(t, "golden")
	s.waitEnded(t, c.ID)
	for _, tt := range []struct{ name, query string }{
		{"run.sse", ""},
		{"run-coalesced.sse", "?coalesce=1"},
		{"run-after-5.sse", "?after=5"},
	} {
		resp := get(t, s.srv.URL+"/v1/runs/"+c.ID+"/events"+tt.query, nil)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{
			"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
			"X-Accel-Buffering": "no", "Connection": "keep-alive",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: header %s = %q, want %q", tt.name, k, got, want)
			}
		}
		golden(t, tt.name, normalize(body))
	}
}

func TestStreamStatuses(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a", "b"}}, Config{})
	c := s.create(t, "x")
	run := s.waitEnded(t, c.ID)
	tests := []struct {
		name   string
		path   string
		hdr    http.Header
		status int
	}{
		{"unknown run", "/v1/runs/0190b6a3-aaaa-7aaa-8aaa-aaaaaaaaaaaa/events", nil, 404},
		{"malformed id", "/v1/runs/" + c.ID + "/events", http.Header{"Last-Event-Id": {"x1"}}, 400},
		{"negative after", "/v1/runs/" + c.ID + "/events?after=-1", nil, 400},
		{"beyond end", "/v1/runs/" + c.ID + "/events?after=999", nil, 400},
		{"after terminal", "/v1/runs/" + c.ID + "/events", http.Header{"Last-Event-Id": {jsonInt(run.LastSeq)}}, 204},
		{"bad pace", "/v1/runs/" + c.ID + "/events?pace=fast", nil, 400},
		{"bad speed", "/v1/runs/" + c.ID + "/events?pace=original&speed=1000", nil, 400},
		{"ok", "/v1/runs/" + c.ID + "/events", nil, 200},
	}
	for _, tt := range tests {
		resp := get(t, s.srv.URL+tt.path, tt.hdr)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestPacedReplay checks that ?pace=original spaces a finished run's
// events by their recorded times: a replay can never be faster than the
// original span divided by the speed (a lower bound, so machine load
// cannot make the test flaky).
func TestPacedReplay(t *testing.T) {
	eng := sim.New(sim.Config{Rate: 400, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{})
	c := s.create(t, "sim:long 160")
	run := s.waitEnded(t, c.ID)
	snap, err := s.mgr.Snapshot(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var first, last struct {
		T int64 `json:"t"`
	}
	_ = json.Unmarshal(snap.Events[1], &first) // run.started
	_ = json.Unmarshal(snap.Events[len(snap.Events)-1], &last)
	span := time.Duration(last.T-first.T) * time.Millisecond
	if span < 200*time.Millisecond {
		t.Fatalf("run spans only %v", span)
	}
	start := time.Now()
	resp := get(t, s.srv.URL+"/v1/runs/"+c.ID+"/events?pace=original&speed=4", nil)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if min := span/4 - 10*time.Millisecond; took < min {
		t.Errorf("replay at 4x took %v, less than %v (span %v / 4)", took, min, span)
	}
	if n := strings.Count(string(body), "\nid: ") + 1; int64(n) < run.LastSeq {
		t.Errorf("paced replay sent %d frames, want %d", n, run.LastSeq)
	}
}

// TestStreamConnectionReused: after a run's stream ends, its keep-alive
// connection serves the client's next request (a POST, which clients do
// not retry on a reset).
func TestStreamConnectionReused(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a", "b"}}, Config{})
	c := s.create(t, "x")
	s.waitEnded(t, c.ID)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
	for i := range 3 {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", s.srv.URL+"/v1/runs/"+c.ID+"/events", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req, _ = http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", s.srv.URL+"/v1/runs",
			strings.NewReader(`{"problem":"again"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatalf("round %d: POST after a finished stream: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("round %d: status %d", i, resp.StatusCode)
		}
	}
	if diff := cmp.Diff([]bool{false, true, true, true, true, true}, reused); diff != "" {
		t.Errorf("connection reuse (-want +got):\n%s", diff)
	}
}

func TestCORS(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a"}}, Config{CORSOrigins: []string{"https://school.example"}})
	c := s.create(t, "x")
	s.waitEnded(t, c.ID)
	for _, tt := range []struct {
		origin, method, path, want string
		status                     int
	}{
		{"https://school.example", "GET", "/v1/runs/" + c.ID, "https://school.example", 200},
		{"https://school.example", "GET", "/v1/runs/" + c.ID + "/events", "https://school.example", 200},
		{"https://other.example", "GET", "/v1/runs/" + c.ID, "", 200},
		{"https://school.example", "OPTIONS", "/v1/runs/" + c.ID + "/annotations", "https://school.example", 204},
	} {
		req, _ := http.NewRequest(tt.method, s.srv.URL+tt.path, nil)
		req.Header.Set("Origin", tt.origin)
		if tt.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.want || resp.StatusCode != tt.status {
			t.Errorf("%s %s from %s: allow-origin %q status %d, want %q %d", tt.method, tt.path, tt.origin, got, resp.StatusCode, tt.want, tt.status)
		}
	}
}
