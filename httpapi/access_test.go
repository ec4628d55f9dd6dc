package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/httpapi"
)

// tokenStack is a server in token mode with one token per scope set.
func tokenStack(t *testing.T, acc Access) (*stack, map[string]string) {
	t.Helper()
	store, err := auth.OpenStore(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]string{}
	for name, scopes := range map[string][]auth.Scope{
		"watcher": {auth.ScopeWatch},
		"student": {auth.ScopeCreate, auth.ScopeWatch, auth.ScopeAnnotate},
		"teacher": {auth.ScopeAdmin},
	} {
		tok, _, err := store.Create(name, scopes, 0)
		if err != nil {
			t.Fatal(err)
		}
		toks[name] = tok
	}
	acc.Tokens = store
	s := newStack(t, &scripted{tokens: []string{"a", "b"}}, Config{Access: &acc})
	s.tokens = store
	return s, toks
}

// call makes a request and returns the status and the body.
func call(t *testing.T, method, url, token, ctype, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestTokenMode(t *testing.T) {
	s, toks := tokenStack(t, Access{})
	run := s.createAs(t, "x", "student", thinkstream.VisibilityPublic)
	s.waitEnded(t, run.ID)
	u := s.srv.URL
	create := `{"problem":"What is 2+2?"}`
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"health is open", "GET", "/healthz", "", "", 200},
		{"anonymous list", "GET", "/v1/runs", "", "", 401},
		{"anonymous create", "POST", "/v1/runs", "", create, 401},
		{"anonymous stream", "GET", "/v1/runs/" + run.ID + "/events", "", "", 401},
		{"anonymous metrics", "GET", "/metrics", "", "", 401},
		{"anonymous infer", "GET", "/infer?problem=hi", "", "", 401},
		{"anonymous chat", "POST", "/v1/chat/completions", "", `{"messages":[]}`, 401},
		{"bad token", "GET", "/v1/runs", "tst_0000000000000000_nope", "", 401},
		{"watcher lists", "GET", "/v1/runs", toks["watcher"], "", 200},
		{"watcher reads", "GET", "/v1/runs/" + run.ID, toks["watcher"], "", 200},
		{"watcher cannot create", "POST", "/v1/runs", toks["watcher"], create, 403},
		{"watcher cannot annotate", "POST", "/v1/runs/" + run.ID + "/annotations", toks["watcher"], `{"seq":1,"kind":"highlight"}`, 403},
		{"student creates", "POST", "/v1/runs", toks["student"], create, 201},
		{"student no metrics", "GET", "/metrics", toks["student"], "", 403},
		{"anonymous model pulls", "GET", "/v1/models/pulls", "", "", 401},
		{"student cannot pull a model", "POST", "/v1/models/pulls", toks["student"], `{"quant":"Q4_K_M"}`, 403},
		{"student cannot cancel a pull", "DELETE", "/v1/models/pulls/x", toks["student"], "", 403},
		{"teacher creates", "POST", "/v1/runs", toks["teacher"], create, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := ""
			if tt.body != "" {
				ctype = "application/json"
			}
			got, hdr, body := call(t, tt.method, u+tt.path, tt.token, ctype, tt.body, nil)
			if got != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, got, tt.want, body)
			}
			if got == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", hdr.Get("WWW-Authenticate"))
			}
			if got >= 400 && hdr.Get("Content-Type") != "application/problem+json" {
				t.Errorf("refusal is %q, want problem+json", hdr.Get("Content-Type"))
			}
		})
	}
	if _, _, body := call(t, "GET", u+"/healthz", "", "", "", nil); !strings.Contains(body, "access: token") {
		t.Errorf("/healthz = %q, want it to name the access mode", body)
	}
}

// A browser logs in once; the HttpOnly cookie then carries the token, so
// the page's fetches and EventSource work without tokens in URLs.
func TestLoginCookie(t *testing.T) {
	s, toks := tokenStack(t, Access{})
	run := s.createAs(t, "x", "student", thinkstream.VisibilityUnlisted)
	s.waitEnded(t, run.ID)
	if got, _, _ := call(t, "POST", s.srv.URL+"/v1/login", "", "application/json", `{"token":"tst_0000000000000000_x"}`, nil); got != 401 {
		t.Errorf("login with a bad token = %d, want 401", got)
	}
	got, hdr, body := call(t, "POST", s.srv.URL+"/v1/login", "", "application/json", `{"token":"`+toks["watcher"]+`"}`, nil)
	if got != 200 {
		t.Fatalf("login = %d: %s", got, body)
	}
	var who struct{ Mode, Name string }
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Name != "watcher" || who.Mode != "token" {
		t.Errorf("login answered %s (%v)", body, err)
	}
	cookie := hdr.Get("Set-Cookie")
	for _, attr := range []string{httpapi.LoginCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, attr)
		}
	}
	value := strings.SplitN(strings.TrimPrefix(cookie, httpapi.LoginCookie+"="), ";", 2)[0]
	hdrs := map[string]string{"Cookie": httpapi.LoginCookie + "=" + value}
	if got, _, body := call(t, "GET", s.srv.URL+"/v1/runs/"+run.ID+"/events", "", "", "", hdrs); got != 200 || !strings.Contains(body, "run.completed") {
		t.Errorf("stream with the login cookie = %d, %d bytes", got, len(body))
	}
	if got, _, body := call(t, "GET", s.srv.URL+"/v1/whoami", "", "", "", hdrs); got != 200 || !strings.Contains(body, `"watcher"`) {
		t.Errorf("whoami with the cookie = %d %s", got, body)
	}
	if _, err := s.tokens.Revoke("watcher"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := call(t, "GET", s.srv.URL+"/v1/runs", "", "", "", hdrs); got != 401 {
		t.Errorf("cookie of a revoked token = %d, want 401", got)
	}
}

// Pages of other sites cannot make a user's browser start runs or post:
// neither with a simple (preflight-free) request nor with a GET that has
// side effects.
func TestCrossSiteRefused(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a"}}, Config{CORSOrigins: []string{"https://course.example", "*"}})
	create := `{"problem":"What is 2+2?"}`
	tests := []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		want                            int
	}{
		{"text/plain chat", "POST", "/v1/chat/completions", "text/plain", `{"messages":[{"role":"user","content":"hi"}]}`, nil, 415},
		{"form post", "POST", "/v1/runs", "application/x-www-form-urlencoded", "problem=hi", nil, 415},
		{"foreign origin", "POST", "/v1/runs", "application/json", create, map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", "POST", "/v1/runs", "application/json", create, map[string]string{"Origin": "null"}, 403},
		{"cross-site infer", "GET", "/infer?problem=hi", "", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site infer", "GET", "/infer?problem=hi", "", "", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"allowed origin", "POST", "/v1/runs", "application/json", create, map[string]string{"Origin": "https://course.example"}, 201},
		{"own origin", "POST", "/v1/runs", "application/json", create, map[string]string{"Origin": s.srv.URL, "Sec-Fetch-Site": "same-origin"}, 201},
		{"non-browser client", "POST", "/v1/runs", "application/json", create, nil, 201},
		{"cross-site read is fine", "GET", "/v1/runs", "", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _, body := call(t, tt.method, s.srv.URL+tt.path, "", tt.ctype, tt.body, tt.hdr); got != tt.want {
				t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, got, tt.want, body)
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	s, toks := tokenStack(t, Access{RunsPerMinute: 2, AnnotationsPerMinute: 2})
	create := `{"problem":"What is 2+2?"}`
	var last int
	var hdr http.Header
	for i := range 3 {
		last, hdr, _ = call(t, "POST", s.srv.URL+"/v1/runs", toks["student"], "application/json", create, nil)
		if i < 1 && last != 201 {
			t.Fatalf("create %d = %d, want 201", i+1, last)
		}
	}
	if last != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("third create within a minute = %d (Retry-After %q), want 429 with Retry-After", last, hdr.Get("Retry-After"))
	}
	// Another client (token) has its own budget.
	if got, _, _ := call(t, "POST", s.srv.URL+"/v1/runs", toks["teacher"], "application/json", create, nil); got != 201 {
		t.Errorf("another token's create = %d, want 201", got)
	}
}

// A client that trickles its request body holds the connection for the
// body timeout at most.
func TestSlowBody(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a"}}, Config{Access: &Access{BodyTimeout: 300 * time.Millisecond}})
	c, err := net.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("trickled body = %d, want 408", resp.StatusCode)
	}
}
