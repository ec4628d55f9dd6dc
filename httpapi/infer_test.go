package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/sse"
)

// cmsg is one compat message as the article's onmessage sees it, with the
// SSE id EventSource would resume from.
type cmsg struct {
	Event string `json:"event"`
	Data  string `json:"data"`
	ID    int64  `json:"id"`
	sseID string
}

// compatStream is what one GET /infer delivered.
type compatStream struct {
	status int
	msgs   []cmsg
	lastID string // Last-Event-ID EventSource would send on reconnect
}

// readInfer reads GET path with an optional Last-Event-ID until the
// server ends the response, or until stop reports true for a message.
func readInfer(t *testing.T, ctx context.Context, base, path, lastID string, stop func(cmsg) bool) compatStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := compatStream{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		return out
	}
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		out.lastID = r.LastEventID()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != "message" {
			continue // named frames are invisible to onmessage
		}
		var m cmsg
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("data %q: %v", ev.Data, err)
		}
		m.sseID = ev.ID
		out.msgs = append(out.msgs, m)
		if stop != nil && stop(m) {
			return out
		}
	}
}

type ev2 struct{ Event, Data string }

func pairs(ms []cmsg) []ev2 {
	out := make([]ev2, len(ms))
	for i, m := range ms {
		out[i] = ev2{m.Event, m.Data}
	}
	return out
}

func TestInferStepGranularity(t *testing.T) {
	tokens := []string{"<think>", "First", " step.\n\n", "Second step", " uses ", "$x$.\n", "Same step.\n\n",
		"```python\n", "print(1)\n", "```\n", "</think>", "The answer is $\\boxed{", "42", "}$."}
	s := newStack(t, &scripted{tokens: tokens}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := readInfer(t, ctx, s.srv.URL, "/infer?problem=p", "", nil)
	want := []ev2{
		{"thinking", "First step."},
		{"thinking", "Second step uses $x$.\nSame step."},
		{"thinking", "```python\nprint(1)\n```"},
		{"answer", "The answer is $\\boxed{42}$."},
		{"result", "42"},
	}
	if diff := cmp.Diff(want, pairs(got.msgs)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	list, _, _ := s.mgr.List(ctx, 10, "")
	if len(list) != 1 {
		t.Fatalf("%d runs", len(list))
	}
	// The stream's last id is the run's terminal event, so EventSource's
	// reconnect after the end gets 204 and stops.
	if want := list[0].ID + ":" + itoa(list[0].LastSeq); got.lastID != want {
		t.Errorf("last id %q, want %q", got.lastID, want)
	}
	if again := readInfer(t, ctx, s.srv.URL, "/infer?problem=p", got.lastID, nil); again.status != http.StatusNoContent {
		t.Errorf("reconnect after the end: status %d, want 204", again.status)
	}
	for _, m := range got.msgs {
		if !strings.HasPrefix(m.sseID, list[0].ID+":") || m.sseID != list[0].ID+":"+itoa(m.ID) {
			t.Errorf("message %+v: SSE id %q does not match", m, m.sseID)
		}
	}
}

func TestInferTokenGranularity(t *testing.T) {
	tokens := []string{"<think>", "First", " step.\n\n", "Second.", "</think>", "Answer: $\\boxed{", "7", "}$"}
	s := newStack(t, &scripted{tokens: tokens}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := readInfer(t, ctx, s.srv.URL, "/infer?granularity=token&problem=p", "", nil)
	text := map[string]string{}
	var prev int64
	for _, m := range got.msgs {
		switch m.Event {
		case "thinking", "answer", "result":
		default:
			t.Errorf("message %+v is not text", m)
		}
		text[m.Event] += m.Data
		if m.ID <= prev {
			t.Errorf("ids not increasing: %d after %d", m.ID, prev)
		}
		prev = m.ID
	}
	want := map[string]string{"thinking": "First step.\n\nSecond.", "answer": "Answer: $\\boxed{7}$", "result": "7"}
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("text by event (-want +got):\n%s", diff)
	}
	if len(got.msgs) < 6 {
		t.Errorf("%d messages: not one per token", len(got.msgs))
	}
}

// TestInferResumeAnywhere reconnects after every message a finished run
// sent, as EventSource does after a dropped connection: the rest arrives
// exactly once, and no reconnect starts a run.
func TestInferResumeAnywhere(t *testing.T) {
	eng := sim.New(sim.Config{Rate: 5000, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, gran := range []string{"step", "token"} {
		t.Run(gran, func(t *testing.T) {
			path := "/infer?granularity=" + gran + "&problem=" + url.QueryEscape("How many ways to choose 3 of 5?")
			full := readInfer(t, ctx, s.srv.URL, path, "", nil)
			if n := len(full.msgs); n < 5 {
				t.Fatalf("%d messages", n)
			}
			if last := full.msgs[len(full.msgs)-1]; last.Event != "result" || last.Data != "10" {
				t.Errorf("last message %+v, want the result 10", last)
			}
			// A token stream has hundreds of messages; every 7th is plenty.
			step := 1
			if gran == "token" {
				step = 7
			}
			for i := 0; i < len(full.msgs); i += step {
				rest := readInfer(t, ctx, s.srv.URL, path, full.msgs[i].sseID, nil)
				if i == len(full.msgs)-1 && rest.status == http.StatusNoContent {
					continue
				}
				if diff := cmp.Diff(pairs(full.msgs[i+1:]), pairs(rest.msgs)); diff != "" {
					t.Fatalf("resumed after message %d (%s): (-want +got):\n%s", i, full.msgs[i].sseID, diff)
				}
			}
		})
	}
	if list, _, _ := s.mgr.List(ctx, 10, ""); len(list) != 2 {
		t.Errorf("%d runs, want 2: a reconnect started a run", len(list))
	}
}

// TestInferBare: the article's page opens a bare /infer. Everyone who
// opens it while a run is live watches that run; with none live the demo
// problem starts, once however many open it at the same moment.
func TestInferBare(t *testing.T) {
	gate := make(chan struct{})
	eng := &scripted{tokens: []string{"<think>", "One.\n\n", "Two.\n\n", "</think>", "$\\boxed{3}$"}, gate: gate}
	s := newStack(t, eng, Config{DemoProblem: "the demo"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const viewers = 4
	results := make([]compatStream, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Go(func() { results[i] = readInfer(t, ctx, s.srv.URL, "/infer", "", nil) })
	}
	var id string
	for {
		list, _, err := s.mgr.List(ctx, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 1 {
			t.Fatalf("%d runs: the viewers did not join one", len(list))
		}
		if len(list) == 1 && s.hub.Viewers(list[0].ID) == viewers {
			if list[0].Problem != "the demo" {
				t.Fatalf("problem %q, want the demo", list[0].Problem)
			}
			id = list[0].ID
			break
		}
		if ctx.Err() != nil {
			t.Fatal("viewers did not attach")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// One more opens mid-run (after the first step), then drops and
	// reconnects the way EventSource does.
	gate <- struct{}{}
	gate <- struct{}{}
	gate <- struct{}{}
	late := readInfer(t, ctx, s.srv.URL, "/infer", "", func(cmsg) bool { return true })
	if len(late.msgs) != 1 || late.msgs[0].Data != "One." || !strings.HasPrefix(late.lastID, id+":") {
		t.Fatalf("late viewer got %+v (last id %q), want the live run's first step", late.msgs, late.lastID)
	}
	close(gate)
	rest := readInfer(t, ctx, s.srv.URL, "/infer", late.lastID, nil)
	wg.Wait()
	want := []ev2{{"thinking", "One."}, {"thinking", "Two."}, {"answer", "$\\boxed{3}$"}, {"result", "3"}}
	for i, r := range results {
		if diff := cmp.Diff(want, pairs(r.msgs)); diff != "" {
			t.Errorf("viewer %d (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(want[1:], pairs(rest.msgs)); diff != "" {
		t.Errorf("reconnected viewer (-want +got):\n%s", diff)
	}
	if list, _, _ := s.mgr.List(ctx, 10, ""); len(list) != 1 {
		t.Fatalf("%d runs after the reconnect, want 1", len(list))
	}
	// With nothing live any more, the next visitor starts the demo anew.
	if again := readInfer(t, ctx, s.srv.URL, "/infer", "", nil); len(again.msgs) == 0 || strings.HasPrefix(again.lastID, id+":") {
		t.Errorf("after the run ended: %d messages from %q", len(again.msgs), again.lastID)
	}
}

// failing is an engine at the external edge that breaks mid-reasoning.
type failing struct{}

func (failing) Name() string { return "failing" }
func (failing) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	for _, t := range []string{"<think>", "Half a step"} {
		if err := emit(thinkstream.Token{Text: t, ID: -1}); err != nil {
			return thinkstream.Result{}, err
		}
	}
	return thinkstream.Result{}, &thinkstream.EngineError{Code: "model_crashed", Message: "the model stopped responding"}
}

func TestInferFailure(t *testing.T) {
	s := newStack(t, failing{}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := readInfer(t, ctx, s.srv.URL, "/infer?problem=p", "", nil)
	want := []ev2{{"thinking", "Half a step"}, {"error", "the model stopped responding"}}
	if diff := cmp.Diff(want, pairs(got.msgs)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestInferBadRequests(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"x"}}, Config{})
	tests := []struct {
		name, path, lastID string
		status             int
	}{
		{"granularity", "/infer?granularity=word", "", 400},
		{"empty problem", "/infer?problem=", "", 422},
		{"event id", "/infer", "17", 400},
		{"unknown run", "/infer", "nope:3", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.lastID != "" {
				h.Set("Last-Event-ID", tt.lastID)
			}
			resp := get(t, s.srv.URL+tt.path, h)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
