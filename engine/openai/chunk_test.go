package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

func TestParseChunk(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want chunk
	}{
		{"reasoning_content", `{"choices":[{"index":0,"delta":{"reasoning_content":"a"}}]}`, chunk{Reasoning: "a"}},
		{"reasoning", `{"choices":[{"index":0,"delta":{"reasoning":"a","content":""}}]}`, chunk{Reasoning: "a"}},
		// Servers that send both names carry the text once, not twice.
		{"both names", `{"choices":[{"index":0,"delta":{"reasoning_content":"a","reasoning":"a"}}]}`, chunk{Reasoning: "a"}},
		{"empty reasoning_content falls back", `{"choices":[{"index":0,"delta":{"reasoning_content":"","reasoning":"b"}}]}`, chunk{Reasoning: "b"}},
		{"nulls", `{"choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":null},"finish_reason":null}],"usage":null}`, chunk{}},
		{"content and finish", `{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}`, chunk{Content: "x", FinishReason: "length"}},
		{"completion text", `{"object":"text_completion","choices":[{"index":0,"text":"t"}]}`, chunk{Content: "t"}},
		{"other choice ignored", `{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}`, chunk{Content: "yes"}},
		{"usage with reasoning tokens", `{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":6}}}`,
			chunk{Usage: &wireUsage{PromptTokens: 3, CompletionTokens: 9, CompletionTokensDetails: &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{6}}}},
		{"error object", `{"error":{"message":"boom\nline2","code":500}}`, chunk{IsError: true, ErrorMessage: "boom line2"}},
		{"error null is not an error", `{"error":null,"choices":[]}`, chunk{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChunk([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"", "null", "[]", `"s"`, "{", `{"choices":[{"delta":{"content":5}}]}`, "data"} {
		if _, err := parseChunk([]byte(bad)); err == nil {
			t.Errorf("parseChunk(%q) succeeded", bad)
		}
	}
}

func FuzzChunk(f *testing.F) {
	for _, name := range []string{"vllm_reasoning.sse", "sglang.sse", "llamacpp.sse", "completions.sse"} {
		for _, line := range strings.Split(string(readTestdata(f, name)), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				f.Add([]byte(d))
			}
		}
	}
	f.Add([]byte(`{"error":{"message":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseChunk(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid json %q", data)
		}
		if c.IsError && !utf8.ValidString(c.ErrorMessage) {
			t.Fatalf("error message not valid utf-8: %q", c.ErrorMessage)
		}
	})
}

func TestUpstreamMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"error":{"message":"bad top_p"}}`, "bad top_p"},
		{`{"error":"model not found"}`, "model not found"},
		{`{"detail":"Not Found"}`, "Not Found"},
		{`{"detail":[{"msg":"a"},{"msg":"b"}]}`, "a; b"},
		{`{"message":"m"}`, "m"},
		{`{"error":{"message":{"message":"nested"}}}`, "nested"},
		{"  plain\r\n\ttext\x00 ", "plain text"},
		{"bad utf8 \xff\xfe end", "bad utf8 \uFFFD end"},
		{`{"unrelated":1}`, `{"unrelated":1}`},
		{strings.Repeat("é", 300), strings.Repeat("é", maxMessage) + "…"},
	}
	for _, tt := range tests {
		if got := upstreamMessage([]byte(tt.in)); got != tt.want {
			t.Errorf("upstreamMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"5", 5 * time.Second, true},
		{" 0 ", 0, true},
		{"-3", 0, false},
		{"1.5", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{"Wed, 25 Nov 2026 13:00:30 GMT", 30 * time.Second, true},
		{"Wed, 25 Nov 2026 12:00:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoff(t *testing.T) {
	e, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", RetryBase: 100 * time.Millisecond, RetryMaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		if attempt > 3 {
			want = time.Second
		}
		for range 50 {
			if d := e.backoff(attempt, -1); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := e.backoff(0, 3*time.Second); d != time.Second {
		t.Errorf("Retry-After 3s capped to %v, want 1s", d)
	}
	if d := e.backoff(5, 10*time.Millisecond); d != 10*time.Millisecond {
		t.Errorf("Retry-After 10ms gave %v", d)
	}
}

// FuzzStream feeds arbitrary bytes as an upstream body. Decoding must end
// (no panic, no hang), emit no empty token, and keep the channel rule: once
// a reasoning token was emitted, content is never raw again.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"vllm_reasoning_content.sse", "raw_think.sse", "quirks.sse", "llamacpp.sse"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"r\",\"content\":\"b\"}}]}\n\n"))
	f.Add([]byte("event: error\ndata: {\"message\":\"x\"}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sawReasoning := false
		s := streamState{emit: func(tok thinkstream.Token) error {
			if tok.Text == "" {
				t.Fatal("empty token")
			}
			switch tok.Channel {
			case thinkstream.ChannelReasoning:
				sawReasoning = true
			case thinkstream.ChannelRaw:
				if sawReasoning {
					t.Fatalf("raw token %q after a reasoning token", tok.Text)
				}
			case thinkstream.ChannelAnswer:
				if !sawReasoning {
					t.Fatalf("answer token %q before any reasoning token", tok.Text)
				}
			}
			return nil
		}}
		err := s.consume(bytes.NewReader(body), func() {})
		if err != nil {
			_, isRead := errors.AsType[readError](err)
			_, isEngine := errors.AsType[*thinkstream.EngineError](err)
			if !isRead && !isEngine {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
		}
	})
}

func TestNamedErrorEvent(t *testing.T) {
	s := streamState{emit: func(thinkstream.Token) error { return nil }}
	err := s.consume(strings.NewReader(chunkR+"event: error\ndata: {\"error\":{\"message\":\"out of memory\"}}\n\n"), func() {})
	ee, ok := errors.AsType[*thinkstream.EngineError](err)
	if !ok || ee.Code != CodeServerError || ee.Message != "upstream error mid-stream: out of memory" {
		t.Fatalf("err = %v", err)
	}
}
