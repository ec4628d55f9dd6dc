package httpapi_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/openaiapi"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// classTokens makes a token store of a class: two students, a watcher
// and the teacher (admin).
func classTokens(t testing.TB) (*auth.Store, map[string]string) {
	t.Helper()
	store, err := auth.OpenStore(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]string{}
	for name, scopes := range map[string][]auth.Scope{
		"alice":   {auth.ScopeCreate, auth.ScopeWatch, auth.ScopeAnnotate},
		"bob":     {auth.ScopeCreate, auth.ScopeWatch, auth.ScopeAnnotate},
		"watcher": {auth.ScopeWatch},
		"teacher": {auth.ScopeAdmin},
	} {
		tok, _, err := store.Create(name, scopes, 0)
		if err != nil {
			t.Fatal(err)
		}
		toks[name] = tok
	}
	return store, toks
}

func classStack(t *testing.T, eng thinkstream.Engine, acc Access) (*stack, map[string]string) {
	t.Helper()
	store, toks := classTokens(t)
	acc.Tokens = store
	if acc.RunsPerMinute == 0 {
		acc.RunsPerMinute = -1
	}
	s := newStack(t, eng, Config{Access: &acc})
	s.tokens = store
	return s, toks
}

// createVia starts a run over HTTP as token tok and returns its id.
func createVia(t *testing.T, url, tok, body string) string {
	t.Helper()
	code, _, resp := call(t, "POST", url+"/v1/runs", tok, "application/json", body, nil)
	if code != 201 {
		t.Fatalf("create %s = %d: %s", body, code, resp)
	}
	var run thinkstream.Run
	if err := json.Unmarshal([]byte(resp), &run); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

func listIDs(t *testing.T, url, tok string) []string {
	t.Helper()
	code, _, body := call(t, "GET", url+"/v1/runs?limit=200", tok, "", "", nil)
	if code != 200 {
		t.Fatalf("list = %d: %s", code, body)
	}
	var list struct{ Runs []thinkstream.Run }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Runs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// Student A cannot see student B's private run: not listed, and every
// route answers exactly as for a run that does not exist.
func TestPrivateRuns(t *testing.T) {
	s, toks := classStack(t, &scripted{tokens: []string{"<think>a", "</think>b"}}, Access{})
	u := s.srv.URL
	priv := createVia(t, u, toks["alice"], `{"problem":"Alice secret: my SSN is 123"}`)
	unl := createVia(t, u, toks["alice"], `{"problem":"unlisted","visibility":"unlisted"}`)
	pub := createVia(t, u, toks["alice"], `{"problem":"public","visibility":"public"}`)
	mine := createVia(t, u, toks["bob"], `{"problem":"bob's own"}`)
	for _, id := range []string{priv, unl, pub, mine} {
		s.waitEnded(t, id)
	}
	if code, _, body := call(t, "POST", u+"/v1/runs", toks["alice"], "application/json", `{"problem":"x","visibility":"everyone"}`, nil); code != 422 {
		t.Errorf("bad visibility = %d: %s", code, body)
	}

	if got, want := listIDs(t, u, toks["bob"]), sorted(pub, mine); !slices.Equal(got, want) {
		t.Errorf("bob lists %v, want his own and the public one %v", got, want)
	}
	if got, want := listIDs(t, u, toks["alice"]), sorted(priv, unl, pub); !slices.Equal(got, want) {
		t.Errorf("alice lists %v, want her three %v", got, want)
	}
	if got, want := listIDs(t, u, toks["teacher"]), sorted(priv, unl, pub, mine); !slices.Equal(got, want) {
		t.Errorf("the teacher lists %v, want all %v", got, want)
	}

	// What bob gets for alice's private run is what he gets for no run.
	_, _, unknown := call(t, "GET", u+"/v1/runs/0190aaaa-0000-7000-8000-000000000000", toks["bob"], "", "", nil)
	unknownBody := func(path string) string {
		return strings.ReplaceAll(unknown, "/v1/runs/0190aaaa-0000-7000-8000-000000000000", path)
	}
	tests := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"snapshot", "GET", "/v1/runs/" + priv, toks["bob"], "", 404},
		{"events", "GET", "/v1/runs/" + priv + "/events", toks["bob"], "", 404},
		{"replay", "GET", "/v1/runs/" + priv + "/events?pace=original&speed=64", toks["bob"], "", 404},
		{"annotate", "POST", "/v1/runs/" + priv + "/annotations", toks["bob"], `{"step":1,"note":"hi"}`, 404},
		{"cancel", "POST", "/v1/runs/" + priv + "/cancel", toks["bob"], "", 404},
		{"patch", "PATCH", "/v1/runs/" + priv, toks["bob"], `{"visibility":"public"}`, 404},
		{"delete", "DELETE", "/v1/runs/" + priv, toks["bob"], "", 404},
		{"share", "POST", "/v1/runs/" + priv + "/shares", toks["bob"], "", 404},
		{"shares", "GET", "/v1/runs/" + priv + "/shares", toks["bob"], "", 404},
		{"infer resume", "GET", "/infer", toks["bob"], "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := ""
			if tt.body != "" {
				ctype = "application/json"
			}
			var hdr map[string]string
			if tt.name == "infer resume" {
				hdr = map[string]string{"Last-Event-ID": priv + ":1"}
			}
			code, h, body := call(t, tt.method, u+tt.path, tt.tok, ctype, tt.body, hdr)
			if code != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, code, tt.want, body)
			}
			if h.Get("Content-Type") != "application/problem+json" {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
			if p := strings.SplitN(tt.path, "?", 2)[0]; body != unknownBody(p) {
				t.Errorf("answer differs from an unknown run's:\n%s\nvs\n%s", body, unknownBody(p))
			}
		})
	}

	// Unlisted and public runs are readable by any token; only the owner
	// changes them.
	for _, id := range []string{unl, pub} {
		if code, _, body := call(t, "GET", u+"/v1/runs/"+id, toks["watcher"], "", "", nil); code != 200 {
			t.Errorf("watcher reads %s = %d: %s", id, code, body)
		}
		if code, _, body := call(t, "GET", u+"/v1/runs/"+id+"/events", toks["bob"], "", "", nil); code != 200 || !strings.Contains(body, "run.completed") {
			t.Errorf("bob streams %s = %d", id, code)
		}
		if code, _, body := call(t, "PATCH", u+"/v1/runs/"+id, toks["bob"], "application/json", `{"visibility":"private"}`, nil); code != 403 {
			t.Errorf("bob patches alice's %s = %d, want 403: %s", id, code, body)
		}
	}
	// The teacher reads everything.
	if code, _, body := call(t, "GET", u+"/v1/runs/"+priv, toks["teacher"], "", "", nil); code != 200 {
		t.Errorf("teacher reads the private run = %d: %s", code, body)
	}

	// Alice publishes her private run: bob now lists and reads it.
	code, _, body := call(t, "PATCH", u+"/v1/runs/"+priv, toks["alice"], "application/json", `{"visibility":"public"}`, nil)
	if code != 200 || !strings.Contains(body, `"visibility":"public"`) {
		t.Fatalf("alice publishes = %d: %s", code, body)
	}
	if got, want := listIDs(t, u, toks["bob"]), sorted(priv, pub, mine); !slices.Equal(got, want) {
		t.Errorf("after publishing bob lists %v, want %v", got, want)
	}
	if code, _, body := call(t, "PATCH", u+"/v1/runs/"+priv, toks["alice"], "application/json", `{"visibility":"hidden"}`, nil); code != 422 {
		t.Errorf("bad visibility patch = %d: %s", code, body)
	}
}

// Annotations carry the token's name whatever the client says.
func TestAnnotationCarriesTokenName(t *testing.T) {
	s, toks := classStack(t, &scripted{tokens: []string{"<think>a", "</think>b"}}, Access{})
	u := s.srv.URL
	id := createVia(t, u, toks["alice"], `{"problem":"p","visibility":"public"}`)
	s.waitEnded(t, id)
	code, _, body := call(t, "POST", u+"/v1/runs/"+id+"/annotations", toks["bob"], "application/json", `{"step":1,"note":"nice","by":"the teacher"}`, nil)
	if code != 201 {
		t.Fatalf("annotate = %d: %s", code, body)
	}
	var ev thinkstream.Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Annotation == nil || ev.Annotation.By != "bob" {
		t.Errorf("annotation = %s, want it by bob", body)
	}
}

// Owner and visibility live in the run's stored metadata: a restarted
// server applies the same rules.
func TestVisibilitySurvivesRestart(t *testing.T) {
	store, toks := classTokens(t)
	dir := t.TempDir()
	cfg := Config{Engine: &scripted{tokens: []string{"a"}}, DataDir: dir, NoUI: true, StatsEvery: time.Hour, Access: &Access{Tokens: store}}
	ctx := context.Background()
	first, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(owner string, v thinkstream.Visibility) string {
		c, err := first.Runs.Create(ctx, thinkstream.RunRequest{Problem: "p", Owner: owner, Visibility: v})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	priv, pub, flipped := mk("alice", thinkstream.VisibilityPrivate), mk("alice", thinkstream.VisibilityPublic), mk("alice", thinkstream.VisibilityPrivate)
	if _, err := first.Runs.SetVisibility(ctx, flipped, thinkstream.VisibilityUnlisted); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := first.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	first.Close()

	cfg.Engine = &scripted{tokens: []string{"a"}}
	second := servertest.New(t, cfg)
	u := second.URL
	if got, want := listIDs(t, u, toks["bob"]), sorted(pub); !slices.Equal(got, want) {
		t.Errorf("after a restart bob lists %v, want %v", got, want)
	}
	for id, want := range map[string]int{priv: 404, pub: 200, flipped: 200} {
		if code, _, body := call(t, "GET", u+"/v1/runs/"+id, toks["bob"], "", "", nil); code != want {
			t.Errorf("after a restart bob reads %s = %d, want %d: %s", id, code, want, body)
		}
	}
	if code, _, _ := call(t, "GET", u+"/v1/runs/"+priv, toks["alice"], "", "", nil); code != 200 {
		t.Errorf("after a restart alice reads her private run = %d", code)
	}
}

// Open mode stays as it was: everybody is the same anonymous owner.
func TestOpenModeUnchanged(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"a"}}, Config{})
	id := createVia(t, s.srv.URL, "", `{"problem":"p"}`)
	s.waitEnded(t, id)
	if got := listIDs(t, s.srv.URL, ""); !slices.Equal(got, []string{id}) {
		t.Errorf("open mode lists %v, want %v", got, []string{id})
	}
	if code, _, body := call(t, "GET", s.srv.URL+"/v1/runs/"+id, "", "", "", nil); code != 200 || !strings.Contains(body, `"visibility":"private"`) {
		t.Errorf("open mode reads = %d: %s", code, body)
	}
	code, _, body := call(t, "POST", s.srv.URL+"/v1/runs/"+id+"/annotations", "", "application/json", `{"step":1,"note":"n","by":"me"}`, nil)
	if code != 201 || !strings.Contains(body, `"by":"me"`) {
		t.Errorf("open mode annotation keeps its free-text name: %d %s", code, body)
	}
}

// Runs made through the OpenAI-compatible API are their caller's, private.
func TestChatCompletionsRunsArePrivate(t *testing.T) {
	store, toks := classTokens(t)
	srv := servertest.New(t, Config{Engine: &scripted{tokens: []string{"<think>a", "</think>b"}}, StatsEvery: time.Hour,
		Access: &Access{Tokens: store}})
	body := `{"model":"` + openaiapi.DefaultModel + `","messages":[{"role":"user","content":"What is 2+2?"}]}`
	if code, _, resp := call(t, "POST", srv.URL+"/v1/chat/completions", toks["alice"], "application/json", body, nil); code != 200 {
		t.Fatalf("chat completion = %d: %s", code, resp)
	}
	mine := listIDs(t, srv.URL, toks["alice"])
	if len(mine) != 1 {
		t.Fatalf("alice lists %v, want her one run", mine)
	}
	if got := listIDs(t, srv.URL, toks["bob"]); len(got) != 0 {
		t.Errorf("bob lists %v, want none", got)
	}
	if code, _, _ := call(t, "GET", srv.URL+"/v1/runs/"+mine[0], toks["bob"], "", "", nil); code != 404 {
		t.Errorf("bob reads alice's chat run = %d, want 404", code)
	}
}
