package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
	"github.com/thinkstream/thinkstream/sse"
)

// Deleting a live run cancels it first: its viewer gets the terminal event
// and the stream ends; then the log forgets it, for good.
func TestDeleteRun(t *testing.T) {
	store, toks := classTokens(t)
	dir := t.TempDir()
	gate := make(chan struct{})
	cfg := Config{Engine: &scripted{tokens: []string{"<think>a", "b", "c"}, gate: gate}, DataDir: dir, NoUI: true,
		StatsEvery: time.Hour, MaxConcurrent: 1, Access: &Access{Tokens: store, RunsPerMinute: -1}}
	ctx := context.Background()
	first, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Listener = first.Listen(hs.Listener)
	hs.Config = first.HTTPServer()
	hs.Start()
	u := hs.URL

	live := createVia(t, u, toks["alice"], `{"problem":"live","visibility":"public"}`)
	queued := createVia(t, u, toks["alice"], `{"problem":"queued"}`)
	bobs := createVia(t, u, toks["bob"], `{"problem":"bob's"}`)
	sh := createShare(t, u, toks["alice"], live, "")
	if got := listIDs(t, u, toks["teacher"]); len(got) != 3 {
		t.Fatalf("the teacher lists %v, want 3 runs", got)
	}

	// A viewer of the live run, past the first token.
	req, _ := http.NewRequest("GET", u+"/v1/runs/"+live+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+toks["bob"])
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(sctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(bufio.NewReader(resp.Body))
	gate <- struct{}{}
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == thinkstream.EventThinking || ev.Type == thinkstream.EventStep {
			break
		}
		if thinkstream.IsTerminal(ev.Type) {
			t.Fatalf("ended early: %s", ev.Type)
		}
	}

	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+live, toks["bob"], "", "", nil); code != 403 {
		t.Errorf("bob deletes alice's public run = %d: %s", code, body)
	}
	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+live, toks["alice"], "", "", nil); code != 204 {
		t.Fatalf("alice deletes her live run = %d: %s", code, body)
	}
	var last string
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Type != "" {
			last = ev.Type
		}
	}
	if last != thinkstream.EventRunCancelled {
		t.Errorf("the viewer's last event = %q, want %s", last, thinkstream.EventRunCancelled)
	}
	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+queued, toks["alice"], "", "", nil); code != 204 {
		t.Fatalf("delete a queued run = %d: %s", code, body)
	}
	if code, _, body := call(t, "DELETE", u+"/v1/runs/"+bobs, toks["teacher"], "", "", nil); code != 204 {
		t.Fatalf("the teacher deletes bob's run = %d: %s", code, body)
	}
	for _, id := range []string{live, queued, bobs} {
		if code, _, _ := call(t, "GET", u+"/v1/runs/"+id, toks["teacher"], "", "", nil); code != 404 {
			t.Errorf("deleted run %s reads %d", id, code)
		}
		if _, err := first.Log.GetRun(ctx, id); !errors.Is(err, thinkstream.ErrRunNotFound) {
			t.Errorf("deleted run %s: metadata %v", id, err)
		}
		if n, err := first.Log.LastSeq(ctx, id); err != nil || n != 0 {
			t.Errorf("deleted run %s: %d events left (%v)", id, n, err)
		}
	}
	if got := listIDs(t, u, toks["teacher"]); len(got) != 0 {
		t.Errorf("the teacher still lists %v after every run was deleted", got)
	}
	if code, _, _ := call(t, "GET", u+"/v1/s/"+sh.Secret, "", "", "", nil); code != 404 {
		t.Errorf("share link of a deleted run resolves: %d", code)
	}
	kept := createVia(t, u, toks["alice"], `{"problem":"kept"}`)
	go func() {
		for range 3 {
			gate <- struct{}{}
		}
	}()
	hs.Close()
	sctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	_ = first.Shutdown(sctx2)
	first.Close()

	cfg.Engine = &scripted{tokens: []string{"a"}}
	second := servertest.New(t, cfg)
	if got := listIDs(t, second.URL, toks["teacher"]); !slices.Equal(got, []string{kept}) {
		t.Errorf("after a restart the teacher lists %v, want only %v", got, kept)
	}
	ids, err := second.Log.RunIDs(ctx)
	if err != nil || !slices.Equal(ids, []string{kept}) {
		t.Errorf("after a restart the log holds %v (%v), want only %v", ids, err, kept)
	}
}
