package thinkstream

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	lim := RequestLimits{MaxProblemBytes: 100, MaxTokens: 1000, Profiles: []string{"math", "code"}}
	tests := []struct {
		name  string
		req   RunRequest
		field string // "" when valid
	}{
		{"ok", RunRequest{Problem: "What is 2+2?"}, ""},
		{"empty problem", RunRequest{Problem: " \n"}, "problem"},
		{"long problem", RunRequest{Problem: strings.Repeat("a", 101)}, "problem"},
		{"nul", RunRequest{Problem: "a\x00b"}, "problem"},
		{"escape in system", RunRequest{Problem: "a", System: "\x1b[2J"}, "system"},
		{"tabs and newlines", RunRequest{Problem: "a\tb\r\nc"}, ""},
		{"unknown profile", RunRequest{Problem: "a", Profile: "poetry"}, "profile"},
		{"nan temperature", RunRequest{Problem: "a", Params: Params{Temperature: f(math.NaN())}}, "params.temperature"},
		{"inf top_p", RunRequest{Problem: "a", Params: Params{TopP: f(math.Inf(1))}}, "params.top_p"},
		{"max tokens", RunRequest{Problem: "a", Params: Params{MaxTokens: 1001}}, "params.max_tokens"},
		{"escape in a message", RunRequest{Problem: "a", Messages: []Message{{Role: "user", Content: "hi\x1b"}}}, "messages[0].content"},
		{"history too long", RunRequest{Problem: "a", Messages: []Message{
			{Role: "user", Content: strings.Repeat("a", 100)}, {Role: "assistant", Content: strings.Repeat("b", 100)},
			{Role: "user", Content: strings.Repeat("c", 100)}, {Role: "assistant", Content: strings.Repeat("d", 100)},
			{Role: "user", Content: "e"}}}, "messages"},
	}
	for _, tt := range tests {
		err := lim.Validate(tt.req)
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.field != "" && !errors.As(err, &fe):
			t.Errorf("%s: err = %v, want a field error on %s", tt.name, err, tt.field)
		case tt.field != "" && fe.Field != tt.field:
			t.Errorf("%s: field %q (%s), want %q", tt.name, fe.Field, fe.Message, tt.field)
		}
	}
}
