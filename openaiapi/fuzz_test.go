package openaiapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzChatRequest: any body is either a valid run request or an
// OpenAI-shaped client error; parsing never panics.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"q"}]}`,
		`{"model":"vibethinker-1.5b-code","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"developer","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],"stop":["x"],"max_completion_tokens":5,"top_k":-1}`,
		`{"messages":[{"role":"user","content":null}],"n":1,"stop":null,"seed":-3}`,
		`{"profile":"math","temperature":2,"top_p":1,"messages":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}]}`,
		`[]`, `null`, `{"messages":{}}`,
	} {
		f.Add([]byte(s))
	}
	h := New(newFake(nil), Options{Profiles: []string{"code", "math"}, MaxTokensCap: 40960})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
		p, err := h.parseRequest(r, strings.NewReader(string(body)))
		if err != nil {
			e, ok := err.(apiError)
			if !ok || (e.status != 400 && e.status != 404) || e.msg == "" || !utf8.ValidString(e.msg) {
				t.Fatalf("error %#v is not a client error", err)
			}
			return
		}
		run := p.run
		if len(run.Messages) == 0 || run.Source != "openai" || run.Profile != "" && !h.profiles[run.Profile] {
			t.Fatalf("accepted an unusable run request %+v", run)
		}
		if c := h.opts.MaxTokensCap; run.Params.MaxTokens < 0 || run.Params.MaxTokens > c {
			t.Fatalf("max_tokens %d outside [0, %d]", run.Params.MaxTokens, c)
		}
		for _, m := range run.Messages {
			if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
				t.Fatalf("role %q passed through", m.Role)
			}
		}
	})
}
