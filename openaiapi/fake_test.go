package openaiapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	fakeReasoning = "Okay, so I need to add 2 and 2.\n\nLet me check in code:\n```python\nprint(2 + 2)\n```\nIt prints 4."
	fakeAnswer    = "\n\nThe answer is $\\boxed{4}$.\n```text\n4\n```\n"
)

// realisticEvents is what the run manager logs for one run of the reasoning
// parser over fakeReasoning and fakeAnswer, cut into deltas.
func realisticEvents(terminal ...thinkstream.Event) []thinkstream.Event {
	evs := []thinkstream.Event{
		{Type: thinkstream.EventRunCreated, Run: &thinkstream.Run{ID: "run-1", State: thinkstream.StateQueued}},
		{Type: thinkstream.EventRunStarted},
		{Type: thinkstream.EventStep, Index: 1},
		{Type: thinkstream.EventThinking, Text: "Okay, so", Step: 1},
		{Type: thinkstream.EventThinking, Text: " I need to add 2 and 2.\n\n", Step: 1},
		{Type: thinkstream.EventStats, Stats: &thinkstream.Stats{Tokens: 5}},
		{Type: thinkstream.EventStep, Index: 2},
		{Type: thinkstream.EventThinking, Text: "Let me check in code:\n", Step: 2},
		{Type: thinkstream.EventCode, Text: "```python\nprint(2 + 2)\n", Lang: "python", Block: 1, Channel: "thinking", Step: 2},
		{Type: thinkstream.EventCode, Text: "```\n", Lang: "python", Block: 1, Channel: "thinking", Step: 2},
		{Type: thinkstream.EventThinking, Text: "It prints 4.", Step: 2},
		{Type: thinkstream.EventAnswer, Text: "\n\nThe answer is "},
		{Type: thinkstream.EventAnswer, Text: "$\\boxed{4}$.\n"},
		{Type: thinkstream.EventCode, Text: "```text\n4\n```\n", Lang: "text", Block: 2, Channel: "answer"},
		{Type: thinkstream.EventResult, Answer: "4"},
	}
	if len(terminal) == 0 {
		terminal = []thinkstream.Event{{Type: thinkstream.EventRunCompleted, State: thinkstream.StateCompleted,
			Usage: &thinkstream.Usage{PromptTokens: 30, CompletionTokens: 40, ReasoningTokens: 28}}}
	}
	evs = append(evs, terminal...)
	for i := range evs {
		evs[i].Seq = int64(i + 1)
	}
	return evs
}

// fakeRuns is a scripted run manager.
type fakeRuns struct {
	events    []thinkstream.Event
	createErr error
	// hold makes Follow block after the script until its ctx ends or
	// release is closed, then end the stream (like a live run).
	hold    bool
	release chan struct{}

	mu        sync.Mutex
	requests  []thinkstream.RunRequest
	cancelled chan string
}

func newFake(evs []thinkstream.Event) *fakeRuns {
	return &fakeRuns{events: evs, cancelled: make(chan string, 4), release: make(chan struct{})}
}

func (f *fakeRuns) Create(ctx context.Context, req thinkstream.RunRequest) (thinkstream.Run, error) {
	if f.createErr != nil {
		return thinkstream.Run{}, f.createErr
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	params := req.Params
	if params.MaxTokens == 0 {
		params.MaxTokens = 16384 // what a profile fills in
	}
	return thinkstream.Run{ID: "run-1", State: thinkstream.StateQueued, Params: params, Source: req.Source}, nil
}

func (f *fakeRuns) Follow(ctx context.Context, id string, after int64) iter.Seq2[thinkstream.Event, error] {
	return func(yield func(thinkstream.Event, error) bool) {
		for _, ev := range f.events {
			if ev.Seq <= after {
				continue
			}
			if !yield(ev, nil) {
				return
			}
		}
		if f.hold {
			select {
			case <-ctx.Done():
				yield(thinkstream.Event{}, ctx.Err())
			case <-f.release:
			}
		}
	}
}

func (f *fakeRuns) Cancel(ctx context.Context, id string) error {
	f.cancelled <- id
	return nil
}

func (f *fakeRuns) lastRequest(t *testing.T) thinkstream.RunRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no run created")
	}
	return f.requests[len(f.requests)-1]
}

var errBusy = errors.New("queue full")

func newServer(t *testing.T, runs Runs, mod func(*Options)) *httptest.Server {
	t.Helper()
	opts := Options{
		Models:       []string{"vibethinker-1.5b"},
		Profiles:     []string{"code", "math"},
		MaxTokensCap: 40960,
		ErrorStatus: func(err error) int {
			if errors.Is(err, errBusy) {
				return http.StatusTooManyRequests
			}
			return 0
		},
		Now: func() time.Time { return time.Unix(1764000000, 0) },
	}
	if mod != nil {
		mod(&opts)
	}
	mux := http.NewServeMux()
	New(runs, opts).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, ctx context.Context, srv *httptest.Server, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readChunks decodes a streamed response into its data payloads.
func readChunks(t *testing.T, body io.Reader) []string {
	t.Helper()
	rd := sse.NewReader(body)
	var out []string
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		out = append(out, ev.Data)
	}
}

// wireChunk is a client's view of a chunk, error chunks included.
type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role             *string `json:"role"`
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage       `json:"usage"`
	Error *errorObject `json:"error"`
}

func decodeChunk(t *testing.T, data string) wireChunk {
	t.Helper()
	var c wireChunk
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("chunk %q: %v", data, err)
	}
	return c
}

func (f *fakeRuns) snapshotRequests() []thinkstream.RunRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]thinkstream.RunRequest(nil), f.requests...)
}
