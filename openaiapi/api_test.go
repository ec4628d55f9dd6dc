package openaiapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

func ptr[T any](v T) *T { return &v }

func TestStream(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "include_usage"}[includeUsage], func(t *testing.T) {
			srv := newServer(t, newFake(realisticEvents()), nil)
			body := `{"model":"vibethinker-1.5b","stream":true,"messages":[{"role":"user","content":"What is 2+2?"}]`
			if includeUsage {
				body += `,"stream_options":{"include_usage":true}`
			}
			resp := post(t, t.Context(), srv, body+"}")
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
				resp.Header.Get("X-Thinkstream-Run-Id") != "run-1" || resp.Header.Get("Location") != "/r/run-1" {
				t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
			}
			data := readChunks(t, resp.Body)
			if len(data) < 3 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("stream does not end in [DONE]: %q", data)
			}
			first := decodeChunk(t, data[0])
			if first.Object != "chat.completion.chunk" || first.ID != "chatcmpl-run-1" || first.Model != "vibethinker-1.5b" ||
				first.Choices[0].Delta.Role == nil || *first.Choices[0].Delta.Role != "assistant" {
				t.Errorf("first chunk %s", data[0])
			}
			var reasoning, content strings.Builder
			var finish []string
			var usageChunk *wireChunk
			for _, d := range data[1 : len(data)-1] {
				c := decodeChunk(t, d)
				if len(c.Choices) == 0 {
					usageChunk = &c
					continue
				}
				ch := c.Choices[0]
				if rc, r := ch.Delta.ReasoningContent, ch.Delta.Reasoning; rc != nil || r != nil {
					if rc == nil || r == nil || *rc != *r {
						t.Errorf("reasoning_content and reasoning differ: %s", d)
					}
					reasoning.WriteString(*rc)
				}
				if ch.Delta.Content != nil {
					content.WriteString(*ch.Delta.Content)
				}
				if ch.FinishReason != nil {
					finish = append(finish, *ch.FinishReason)
				}
			}
			if reasoning.String() != fakeReasoning || content.String() != fakeAnswer {
				t.Errorf("reasoning %q\ncontent %q", reasoning.String(), content.String())
			}
			if diff := cmp.Diff([]string{"stop"}, finish); diff != "" {
				t.Errorf("finish reasons (-want +got):\n%s", diff)
			}
			if !includeUsage && usageChunk != nil {
				t.Errorf("usage chunk without include_usage")
			}
			if includeUsage {
				want := &usage{PromptTokens: 30, CompletionTokens: 40, TotalTokens: 70, CompletionTokensDetails: &completionDetails{ReasoningTokens: 28}}
				if usageChunk == nil || data[len(data)-2] != mustJSON(t, *usageChunk, data[len(data)-2]) {
					t.Fatalf("usage chunk is not the last before [DONE]: %q", data[len(data)-2])
				}
				if diff := cmp.Diff(want, usageChunk.Usage); diff != "" {
					t.Errorf("usage (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// mustJSON returns raw when it decodes to c (used to locate a chunk).
func mustJSON(t *testing.T, c wireChunk, raw string) string {
	t.Helper()
	if got := decodeChunk(t, raw); cmp.Equal(got, c) {
		return raw
	}
	return ""
}

func TestNonStream(t *testing.T) {
	srv := newServer(t, newFake(realisticEvents()), nil)
	resp := post(t, t.Context(), srv, `{"model":"vibethinker-1.5b","messages":[{"role":"user","content":"What is 2+2?"}]}`)
	defer resp.Body.Close()
	var got completionResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	rs := fakeReasoning
	want := completionResponse{
		ID: "chatcmpl-run-1", Object: "chat.completion", Created: 1764000000, Model: "vibethinker-1.5b",
		Choices: []fullChoice{{Message: message{Role: "assistant", Content: fakeAnswer, ReasoningContent: &rs, Reasoning: &rs}, FinishReason: "stop"}},
		Usage:   &usage{PromptTokens: 30, CompletionTokens: 40, TotalTokens: 70, CompletionTokensDetails: &completionDetails{ReasoningTokens: 28}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Thinkstream-Run-Id") != "run-1" {
		t.Errorf("status %d run id %q", resp.StatusCode, resp.Header.Get("X-Thinkstream-Run-Id"))
	}
}

func TestFinishLength(t *testing.T) {
	evs := realisticEvents(thinkstream.Event{Type: thinkstream.EventRunCompleted, State: thinkstream.StateCompleted,
		Usage: &thinkstream.Usage{PromptTokens: 30, CompletionTokens: 40}})
	srv := newServer(t, newFake(evs), nil)
	resp := post(t, t.Context(), srv, `{"messages":[{"role":"user","content":"q"}],"max_tokens":40}`)
	defer resp.Body.Close()
	var got completionResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].FinishReason != "length" {
		t.Errorf("finish_reason %q, want length", got.Choices[0].FinishReason)
	}
}

func TestRunFails(t *testing.T) {
	runErr := &thinkstream.RunError{Code: "upstream_timeout", Message: "upstream stalled for 1m0s mid-stream", Retryable: true}
	evs := realisticEvents(
		thinkstream.Event{Type: thinkstream.EventRunError, Error: runErr},
		thinkstream.Event{Type: thinkstream.EventRunFailed, State: thinkstream.StateFailed, Error: runErr},
	)
	wantErr := errorObject{Message: runErr.Message, Type: "server_error", Code: ptr("upstream_timeout")}

	t.Run("stream", func(t *testing.T) {
		srv := newServer(t, newFake(evs), nil)
		resp := post(t, t.Context(), srv, `{"stream":true,"messages":[{"role":"user","content":"q"}]}`)
		defer resp.Body.Close()
		data := readChunks(t, resp.Body)
		if len(data) < 2 || data[len(data)-1] != "[DONE]" {
			t.Fatalf("no [DONE]: %q", data)
		}
		last := decodeChunk(t, data[len(data)-2])
		if last.Error == nil {
			t.Fatalf("chunk before [DONE] is not an error: %s", data[len(data)-2])
		}
		if diff := cmp.Diff(wantErr, *last.Error); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
		for _, d := range data[:len(data)-2] {
			if c := decodeChunk(t, d); len(c.Choices) > 0 && c.Choices[0].FinishReason != nil {
				t.Errorf("failed run sent a finish_reason: %s", d)
			}
		}
	})
	t.Run("non-stream", func(t *testing.T) {
		srv := newServer(t, newFake(evs), nil)
		resp := post(t, t.Context(), srv, `{"messages":[{"role":"user","content":"q"}]}`)
		defer resp.Body.Close()
		var got errorBody
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 500 {
			t.Errorf("status %d", resp.StatusCode)
		}
		if diff := cmp.Diff(wantErr, got.Error); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		createErr error
		status    int
		code      string
		param     string
	}{
		{"invalid json", `{"messages":[`, nil, 400, "invalid_json", ""},
		{"trailing data", `{"messages":[{"role":"user","content":"q"}]} {}`, nil, 400, "invalid_json", ""},
		{"wrong type", `{"messages":"hi"}`, nil, 400, "invalid_json", ""},
		{"no messages", `{"model":"vibethinker-1.5b","messages":[]}`, nil, 400, "invalid_value", "messages"},
		{"no user message", `{"messages":[{"role":"system","content":"s"}]}`, nil, 400, "invalid_value", "messages"},
		{"bad role", `{"messages":[{"role":"tool","content":"x"}]}`, nil, 400, "invalid_value", "messages[0].role"},
		{"image part", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, nil, 400, "invalid_value", "messages[0].content"},
		{"unknown model", `{"model":"gpt-4o","messages":[{"role":"user","content":"q"}]}`, nil, 404, "model_not_found", "model"},
		{"unknown profile", `{"profile":"poetry","messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "profile"},
		{"n=2", `{"n":2,"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "n"},
		{"temperature", `{"temperature":3,"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "temperature"},
		{"top_p", `{"top_p":0,"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "top_p"},
		{"max_tokens over cap", `{"max_tokens":50000,"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "max_tokens"},
		{"max_completion_tokens zero", `{"max_completion_tokens":0,"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "max_completion_tokens"},
		{"five stops", `{"stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "stop"},
		{"stream_options without stream", `{"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]}`, nil, 400, "invalid_value", "stream_options"},
		{"too large", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 5<<20) + `"}]}`, nil, 413, "request_too_large", ""},
		{"manager full", `{"messages":[{"role":"user","content":"q"}]}`, errBusy, 429, "server_busy", ""},
		{"manager fails", `{"messages":[{"role":"user","content":"q"}]}`, errors.New("eventlog: disk /var/lib/x full"), 500, "internal_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(realisticEvents())
			f.createErr = tt.createErr
			srv := newServer(t, f, nil)
			resp := post(t, t.Context(), srv, tt.body)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var got errorBody
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			code, param := "", ""
			if got.Error.Code != nil {
				code = *got.Error.Code
			}
			if got.Error.Param != nil {
				param = *got.Error.Param
			}
			if resp.StatusCode != tt.status || code != tt.code || param != tt.param || got.Error.Message == "" || got.Error.Type == "" {
				t.Errorf("status %d body %s; want %d code %q param %q", resp.StatusCode, raw, tt.status, tt.code, tt.param)
			}
			if strings.Contains(string(raw), "disk") {
				t.Errorf("internal error text leaked: %s", raw)
			}
			if tt.status == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
}

func TestRunRequestMapping(t *testing.T) {
	tests := []struct {
		name string
		body string
		want thinkstream.RunRequest
	}{
		{"defaults", `{"messages":[{"role":"user","content":"What is 2+2?"}]}`,
			thinkstream.RunRequest{Problem: "What is 2+2?", Source: "openai",
				Messages: []thinkstream.Message{{Role: "user", Content: "What is 2+2?"}}}},
		{"model suffix selects profile, params mapped", `{"model":"vibethinker-1.5b-code","temperature":0.6,"top_p":0.9,
			"top_k":-1,"min_p":0.05,"seed":7,"max_completion_tokens":2048,"max_tokens":9,"stop":"###","presence_penalty":0.1,
			"messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Sort "},{"type":"text","text":"a list."}]}]}`,
			thinkstream.RunRequest{Problem: "Sort a list.", Profile: "code", Source: "openai",
				Params: thinkstream.Params{Temperature: ptr(0.6), TopP: ptr(0.9), TopK: ptr(0), MinP: ptr(0.05), Seed: ptr(int64(7)),
					MaxTokens: 2048, Stop: []string{"###"}, PresencePenalty: ptr(0.1)},
				Messages: []thinkstream.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Sort a list."}}}},
		{"profile field wins over model suffix", `{"model":"vibethinker-1.5b-code","profile":"math","max_tokens":100,
			"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`,
			thinkstream.RunRequest{Problem: "c", Profile: "math", Source: "openai", Params: thinkstream.Params{MaxTokens: 100},
				Messages: []thinkstream.Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "user", Content: "c"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(realisticEvents())
			srv := newServer(t, f, nil)
			resp := post(t, t.Context(), srv, tt.body)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if diff := cmp.Diff(tt.want, f.lastRequest(t)); diff != "" {
				t.Errorf("run request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientDisconnectCancelsRun(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "non-stream"}[stream], func(t *testing.T) {
			f := newFake(realisticEvents()[:6]) // mid-reasoning, still running
			f.hold = true
			srv := newServer(t, f, nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			body := `{"messages":[{"role":"user","content":"q"}],"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := srv.Client().Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				bufio.NewReader(resp.Body).ReadString('\n') // first chunk: the run is live
				cancel()
				io.Copy(io.Discard, resp.Body)
			}()
			if !stream {
				// No bytes come before the end; wait for the run to exist.
				deadline := time.Now().Add(2 * time.Second)
				for len(f.snapshotRequests()) == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}
			select {
			case id := <-f.cancelled:
				if id != "run-1" {
					t.Errorf("cancelled %q", id)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("run not cancelled after the client went away")
			}
			<-done
		})
	}
}

func TestCompletedRunIsNotCancelled(t *testing.T) {
	f := newFake(realisticEvents())
	srv := newServer(t, f, nil)
	resp := post(t, t.Context(), srv, `{"stream":true,"messages":[{"role":"user","content":"q"}]}`)
	readChunks(t, resp.Body)
	resp.Body.Close()
	select {
	case id := <-f.cancelled:
		t.Errorf("finished run %s was cancelled", id)
	default:
	}
}

func TestKeepAlive(t *testing.T) {
	f := newFake(realisticEvents()[:3]) // queued and started, no output yet
	f.hold = true
	srv := newServer(t, f, func(o *Options) { o.KeepAlive = 5 * time.Millisecond })
	resp := post(t, t.Context(), srv, `{"stream":true,"messages":[{"role":"user","content":"q"}]}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before a keep-alive comment: %v", err)
		}
		if strings.HasPrefix(line, ":") {
			break
		}
	}
	close(f.release) // the run's stream ends without a terminal event
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), `"internal_error"`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("stream that lost its run should end in an error and [DONE]: %q", rest)
	}
}

func TestModels(t *testing.T) {
	srv := newServer(t, newFake(nil), nil)
	resp, err := srv.Client().Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy != "thinkstream" || m.Created != 1764000000 {
			t.Errorf("model %+v", m)
		}
	}
	if diff := cmp.Diff([]string{"vibethinker-1.5b", "vibethinker-1.5b-code", "vibethinker-1.5b-math"}, ids); diff != "" || list.Object != "list" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	for path, status := range map[string]int{"/v1/models/vibethinker-1.5b-code": 200, "/v1/models/gpt-4": 404} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, status)
		}
	}
}

func TestEchoedNamesClipped(t *testing.T) {
	srv := newServer(t, newFake(nil), nil)
	long := strings.Repeat("m", 10000)
	resp := post(t, t.Context(), srv, `{"model":"`+long+`","messages":[{"role":"user","content":"q"}]}`)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || len(raw) > 400 || !strings.Contains(string(raw), strings.Repeat("m", 64)+"…") {
		t.Errorf("status %d, %d bytes: %.200s", resp.StatusCode, len(raw), raw)
	}
}

// TestStalledClientCancelsRun: a client that stops reading is dropped once a
// write has waited WriteTimeout, and its run is cancelled.
func TestStalledClientCancelsRun(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	evs := []thinkstream.Event{{Type: thinkstream.EventRunStarted, Seq: 1}}
	for i := range 400 { // 25 MiB: more than socket buffers hold
		evs = append(evs, thinkstream.Event{Type: thinkstream.EventThinking, Text: big, Seq: int64(i + 2)})
	}
	f := newFake(evs)
	f.hold = true
	srv := newServer(t, f, func(o *Options) { o.WriteTimeout = 50 * time.Millisecond })
	resp := post(t, t.Context(), srv, `{"stream":true,"messages":[{"role":"user","content":"q"}]}`)
	defer resp.Body.Close() // read nothing: the client stalls
	select {
	case <-f.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("run of a stalled client not cancelled")
	}
}
