package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/server/servertest"
	"github.com/thinkstream/thinkstream/sse"
)

type shareResp struct {
	ID, Path, URL, Secret string
	RunID                 string    `json:"run_id"`
	Expires               time.Time `json:"expires_at"`
}

func createShare(t *testing.T, url, tok, id, body string) shareResp {
	t.Helper()
	ctype := ""
	if body != "" {
		ctype = "application/json"
	}
	code, _, resp := call(t, "POST", url+"/v1/runs/"+id+"/shares", tok, ctype, body, nil)
	if code != 201 {
		t.Fatalf("create share = %d: %s", code, resp)
	}
	var sh shareResp
	if err := json.Unmarshal([]byte(resp), &sh); err != nil {
		t.Fatal(err)
	}
	return sh
}

// A share link reads one run, without a token, in a real SSE client from
// another origin, and nothing else: no list, no other run, no change.
func TestShareLinks(t *testing.T) {
	gate := make(chan struct{})
	s, toks := classStack(t, &scripted{tokens: []string{"<think>a", "b", "</think>c"}, gate: gate}, Access{})
	u := s.srv.URL
	id := createVia(t, u, toks["alice"], `{"problem":"private"}`)
	other := createVia(t, u, toks["alice"], `{"problem":"another private one"}`)
	sh := createShare(t, u, toks["alice"], id, "")
	if !strings.HasPrefix(sh.Path, "/s/") || sh.Secret == "" || sh.URL != u+sh.Path || sh.RunID != id {
		t.Fatalf("share = %+v", sh)
	}
	if len(sh.Secret) < 16+43 {
		t.Errorf("secret %q is shorter than an id and 256 bits", sh.Secret)
	}

	// Resolving the link needs no token.
	code, _, body := call(t, "GET", u+"/v1/s/"+sh.Secret, "", "", "", nil)
	if code != 200 || !strings.Contains(body, `"run_id":"`+id+`"`) {
		t.Fatalf("resolve = %d: %s", code, body)
	}

	// The live run, through EventSource's request (query parameter, no
	// headers) from a page of another origin.
	origin := map[string]string{"Origin": "https://course.example", "Accept": "text/event-stream"}
	req, _ := http.NewRequest("GET", u+"/v1/runs/"+id+"/events?share="+sh.Secret, nil)
	for k, v := range origin {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream by share link = %d", resp.StatusCode)
	}
	rd := sse.NewReader(bufio.NewReader(resp.Body))
	go func() {
		for range 3 {
			gate <- struct{}{}
		}
		gate <- struct{}{} // the second run
		gate <- struct{}{}
		gate <- struct{}{}
	}()
	var types []string
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("stream ended before the terminal event: %v (got %v)", err, types)
		}
		types = append(types, ev.Type)
		if thinkstream.IsTerminal(ev.Type) {
			break
		}
	}
	if types[len(types)-1] != thinkstream.EventRunCompleted {
		t.Errorf("share viewer saw %v", types)
	}
	s.waitEnded(t, other)

	tests := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"snapshot", "GET", "/v1/runs/" + id + "?share=" + sh.Secret, "", "", 200},
		{"replay", "GET", "/v1/runs/" + id + "/events?pace=original&speed=64&share=" + sh.Secret, "", "", 200},
		{"another run", "GET", "/v1/runs/" + other + "?share=" + sh.Secret, "", "", 404},
		{"another run's stream", "GET", "/v1/runs/" + other + "/events?share=" + sh.Secret, "", "", 404},
		{"bad secret", "GET", "/v1/runs/" + id + "?share=" + sh.ID + "AAAA", "", "", 404},
		{"list", "GET", "/v1/runs?share=" + sh.Secret, "", "", 401},
		{"shares of the run", "GET", "/v1/runs/" + id + "/shares?share=" + sh.Secret, "", "", 401},
		{"annotate", "POST", "/v1/runs/" + id + "/annotations?share=" + sh.Secret, "", `{"step":1,"note":"x"}`, 401},
		{"delete", "DELETE", "/v1/runs/" + id + "?share=" + sh.Secret, "", "", 401},
		{"new share", "POST", "/v1/runs/" + id + "/shares?share=" + sh.Secret, "", "", 401},
		{"bob reads with it", "GET", "/v1/runs/" + id + "?share=" + sh.Secret, toks["bob"], "", 200},
		{"bob annotates with it", "POST", "/v1/runs/" + id + "/annotations?share=" + sh.Secret, toks["bob"], `{"step":1,"note":"x"}`, 404},
		{"bob deletes with it", "DELETE", "/v1/runs/" + id + "?share=" + sh.Secret, toks["bob"], "", 404},
		{"bob shares with it", "POST", "/v1/runs/" + id + "/shares?share=" + sh.Secret, toks["bob"], "", 404},
		{"bob patches with it", "PATCH", "/v1/runs/" + id + "?share=" + sh.Secret, toks["bob"], `{"visibility":"public"}`, 404},
		{"bad expiry", "POST", "/v1/runs/" + id + "/shares", toks["alice"], `{"expires_in":0}`, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := ""
			if tt.body != "" {
				ctype = "application/json"
			}
			var hdr map[string]string
			if tt.method == "GET" {
				hdr = origin // reads from the course page; changes from a CLI
			}
			code, h, body := call(t, tt.method, u+tt.path, tt.tok, ctype, tt.body, hdr)
			if code != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, code, tt.want, body)
			}
			if code >= 400 && h.Get("Content-Type") != "application/problem+json" {
				t.Errorf("refusal is %q", h.Get("Content-Type"))
			}
		})
	}

	// An expiring link says when; the owner lists and revokes links.
	exp := createShare(t, u, toks["alice"], id, `{"expires_in":3600}`)
	if d := time.Until(exp.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expires_at %v is not an hour from now", exp.Expires)
	}
	code, _, body = call(t, "GET", u+"/v1/runs/"+id+"/shares", toks["alice"], "", "", nil)
	if code != 200 || strings.Count(body, `"id"`) != 2 || strings.Contains(body, sh.Secret) {
		t.Errorf("list shares = %d: %s (want two links, no secrets)", code, body)
	}
	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+id+"/shares/"+sh.ID, toks["bob"], "", "", nil); code != 404 {
		t.Errorf("bob revokes = %d: %s", code, body)
	}
	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+id+"/shares/"+sh.ID, toks["alice"], "", "", nil); code != 204 {
		t.Fatalf("revoke = %d: %s", code, body)
	}
	for _, p := range []string{"/v1/s/" + sh.Secret, "/v1/runs/" + id + "?share=" + sh.Secret, "/v1/runs/" + id + "/events?share=" + sh.Secret} {
		if code, _, body := call(t, "GET", u+p, "", "", "", nil); code != 404 {
			t.Errorf("revoked link: GET %s = %d: %s", p, code, body)
		}
	}
	if code, _, _ := call(t, "GET", u+"/v1/runs/"+id+"?share="+exp.Secret, "", "", "", nil); code != 200 {
		t.Errorf("the other link stopped working after one was revoked: %d", code)
	}
}

// The element on another site reads a shared run through CORS.
func TestShareLinkCORS(t *testing.T) {
	store, toks := classTokens(t)
	s := newStack(t, &scripted{tokens: []string{"a"}}, Config{Access: &Access{Tokens: store}, CORSOrigins: []string{"https://course.example"}})
	id := createVia(t, s.srv.URL, toks["alice"], `{"problem":"p"}`)
	s.waitEnded(t, id)
	sh := createShare(t, s.srv.URL, toks["alice"], id, "")
	for _, p := range []string{"/v1/s/" + sh.Secret, "/v1/runs/" + id + "?share=" + sh.Secret, "/v1/runs/" + id + "/events?share=" + sh.Secret} {
		code, h, _ := call(t, "GET", s.srv.URL+p, "", "", "", map[string]string{"Origin": "https://course.example"})
		if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://course.example" {
			t.Errorf("GET %s from the course page = %d, Allow-Origin %q", p, code, h.Get("Access-Control-Allow-Origin"))
		}
		_, h, _ = call(t, "GET", s.srv.URL+p, "", "", "", map[string]string{"Origin": "https://evil.example"})
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s from another origin is allowed: %q", p, h.Get("Access-Control-Allow-Origin"))
		}
	}
}

// GET /s/{secret} is the run page (the page resolves the link itself).
func TestSharePage(t *testing.T) {
	store, toks := classTokens(t)
	srv := servertest.New(t, Config{Engine: &scripted{tokens: []string{"a"}}, Access: &Access{Tokens: store}})
	id := createVia(t, srv.URL, toks["alice"], `{"problem":"p"}`)
	sh := createShare(t, srv.URL, toks["alice"], id, "")
	code, h, body := call(t, "GET", srv.URL+sh.Path, "", "", "", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `id="app"`) {
		t.Errorf("GET %s = %d %s", sh.Path, code, h.Get("Content-Type"))
	}
}
