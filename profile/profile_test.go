package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

const mathSuffix = "Let's think step by step and output the final answer within \\boxed{}."

func ptr[T any](v T) *T { return &v }

func TestDefaults(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"code", "math"}, s.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if s.Default() != "math" || s.MaxTokensCap() != 40960 {
		t.Errorf("default %q cap %d", s.Default(), s.MaxTokensCap())
	}
	if _, err := s.Get("poetry"); err == nil || !strings.Contains(err.Error(), "code, math") {
		t.Errorf("Get(poetry) error %v should list known names", err)
	}
}

func TestApply(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		profile  string
		req      thinkstream.RunRequest
		wantMsgs []thinkstream.Message
		want     thinkstream.Params
	}{
		{
			name: "math default from problem",
			req:  thinkstream.RunRequest{Problem: "What is 2+2?"},
			wantMsgs: []thinkstream.Message{
				{Role: "user", Content: "What is 2+2?\n" + mathSuffix},
			},
			want: thinkstream.Params{Temperature: ptr(1.0), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 16384},
		},
		{
			name:    "code with system prompt, request overrides kept",
			profile: "code",
			req: thinkstream.RunRequest{Problem: "Reverse a list.", Params: thinkstream.Params{
				Temperature: ptr(0.0), MaxTokens: 100, Seed: ptr(int64(3)), Stop: []string{"END"}}},
			wantMsgs: []thinkstream.Message{
				{Role: "system", Content: "You are a competitive programming assistant."},
				{Role: "user", Content: "Reverse a list."},
			},
			want: thinkstream.Params{Temperature: ptr(0.0), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 100,
				Seed: ptr(int64(3)), Stop: []string{"END"}},
		},
		{
			name:    "request system wins over profile system",
			profile: "code",
			req:     thinkstream.RunRequest{Problem: "p", System: "Be terse."},
			wantMsgs: []thinkstream.Message{
				{Role: "system", Content: "Be terse."},
				{Role: "user", Content: "p"},
			},
			want: thinkstream.Params{Temperature: ptr(0.6), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 16384},
		},
		{
			name:    "max tokens clamped to cap",
			profile: "math",
			req:     thinkstream.RunRequest{Problem: "p", Params: thinkstream.Params{MaxTokens: 100000, TopK: ptr(20)}},
			wantMsgs: []thinkstream.Message{
				{Role: "user", Content: "p\n" + mathSuffix},
			},
			want: thinkstream.Params{Temperature: ptr(1.0), TopP: ptr(0.95), TopK: ptr(20), MaxTokens: 40960},
		},
		{
			name:    "messages: suffix added to last user turn, system added",
			profile: "code",
			req: thinkstream.RunRequest{Messages: []thinkstream.Message{
				{Role: "user", Content: "first"}, {Role: "assistant", Content: "a"}, {Role: "user", Content: "second"},
			}},
			wantMsgs: []thinkstream.Message{
				{Role: "system", Content: "You are a competitive programming assistant."},
				{Role: "user", Content: "first"}, {Role: "assistant", Content: "a"}, {Role: "user", Content: "second"},
			},
			want: thinkstream.Params{Temperature: ptr(0.6), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 16384},
		},
		{
			name:    "messages: present system and suffix are not duplicated",
			profile: "math",
			req: thinkstream.RunRequest{Messages: []thinkstream.Message{
				{Role: "system", Content: "mine"}, {Role: "user", Content: "x\n\n" + mathSuffix},
			}},
			wantMsgs: []thinkstream.Message{
				{Role: "system", Content: "mine"}, {Role: "user", Content: "x\n\n" + mathSuffix},
			},
			want: thinkstream.Params{Temperature: ptr(1.0), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 16384},
		},
		{
			name:    "messages: suffix appended when absent",
			profile: "math",
			req:     thinkstream.RunRequest{Messages: []thinkstream.Message{{Role: "user", Content: "1+1?"}}},
			wantMsgs: []thinkstream.Message{
				{Role: "user", Content: "1+1?\n" + mathSuffix},
			},
			want: thinkstream.Params{Temperature: ptr(1.0), TopP: ptr(0.95), TopK: ptr(0), MaxTokens: 16384},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Get(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			orig := cloneReq(tt.req)
			msgs, params := p.Apply(tt.req)
			if diff := cmp.Diff(tt.wantMsgs, msgs); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(orig, tt.req); diff != "" {
				t.Errorf("Apply modified the request (-before +after):\n%s", diff)
			}
			// The profile's values are copies: changing them must not leak.
			if params.Temperature != nil && tt.req.Params.Temperature == nil {
				*params.Temperature = 42
				if q, _ := s.Get(tt.profile); *q.Temperature == 42 {
					t.Error("params share memory with the profile")
				}
			}
		})
	}
}

func cloneReq(r thinkstream.RunRequest) thinkstream.RunRequest {
	r.Messages = append([]thinkstream.Message(nil), r.Messages...)
	return r
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"default":"fast","profiles":{"fast":{"temperature":0.2,"max_tokens":512}}}`)
	s, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Get("")
	if err != nil || p.Name != "fast" || p.MaxTokens != 512 {
		t.Errorf("Get(\"\") = %+v, %v", p, err)
	}
	bad := []struct{ name, body, wantErr string }{
		{"typo.json", `{"default":"a","profiles":{"a":{"temprature":1}}}`, "unknown field"},
		{"nodefault.json", `{"default":"b","profiles":{"a":{}}}`, "not defined"},
		{"empty.json", `{"default":"a","profiles":{}}`, "no profiles"},
		{"temp.json", `{"default":"a","profiles":{"a":{"temperature":5}}}`, "temperature"},
		{"topp.json", `{"default":"a","profiles":{"a":{"top_p":0}}}`, "top_p"},
		{"cap.json", `{"default":"a","max_tokens_cap":100,"profiles":{"a":{"max_tokens":200}}}`, "max_tokens_cap"},
		{"name.json", `{"default":"a b","profiles":{"a b":{}}}`, "one word"},
		{"syntax.json", `{"default":`, "decode"},
	}
	for _, b := range bad {
		if _, err := Load(write(b.name, b.body)); err == nil || !strings.Contains(err.Error(), b.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", b.name, err, b.wantErr)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestSetApply(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	msgs, params, err := s.Apply(thinkstream.RunRequest{Problem: "p", Profile: "code"})
	if err != nil || len(msgs) != 2 || *params.Temperature != 0.6 {
		t.Errorf("Apply(code) = %v, %+v, %v", msgs, params, err)
	}
	msgs, _, err = s.Apply(thinkstream.RunRequest{Problem: "p"})
	if err != nil || msgs[0].Content != "p\n"+mathSuffix {
		t.Errorf("Apply(default) = %v, %v", msgs, err)
	}
	if _, _, err := s.Apply(thinkstream.RunRequest{Problem: "p", Profile: "nope"}); err == nil {
		t.Error("unknown profile applied")
	}
}
