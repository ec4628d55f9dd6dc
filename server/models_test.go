package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/auth"
	"github.com/thinkstream/thinkstream/engine/local"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/httpapi"
	"github.com/thinkstream/thinkstream/modelpull"
	"github.com/thinkstream/thinkstream/modelstore"
	"github.com/thinkstream/thinkstream/modelstore/hubtest"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

const (
	pullRepo  = "acme/Tiny-Qwen2-GGUF"
	pullFile  = "Tiny-Qwen2.F16.gguf"
	modelFile = "../engine/local/testdata/tiny-qwen2-f16.gguf"
)

// pullServer is a simulator-backed server offering a download of the tiny
// real qwen2 model from a loopback hub, loading it into engine/local.
func pullServer(t *testing.T, access ...*httpapi.Access) (*servertest.Server, *hubtest.Hub, string) {
	t.Helper()
	var acc *httpapi.Access
	if len(access) > 0 {
		acc = access[0]
	}
	b, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	// A second quantization that is never downloaded: the offer lists both.
	h := hubtest.New(t, pullRepo, map[string][]byte{pullFile: b, "Tiny-Qwen2.Q8_0.gguf": []byte("GGUF-not-pulled")})
	dir := t.TempDir()
	srv := servertest.New(t, server.Config{
		Access: acc,
		Engine: sim.New(sim.Config{Rate: 2000, TTFT: time.Millisecond}),
		Models: &server.ModelsConfig{
			Puller: &modelstore.Puller{Store: &modelstore.Store{Dir: dir}, Endpoint: h.URL, Client: h.Client()},
			Repo:   pullRepo, DefaultQuant: "F16",
			Open: func(path string) (thinkstream.Engine, func(), error) {
				eng, err := local.New(local.Config{ModelPath: path, Threads: 1})
				if err != nil {
					return nil, nil, err
				}
				return eng, func() { _ = eng.Close() }, nil
			},
		},
	})
	return srv, h, dir
}

func doJSON(t *testing.T, method, url string, body any, out any) *http.Response {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, decoding: %v", method, url, resp.StatusCode, err)
		}
	}
	return resp
}

// followPull reads a pull's SSE progress until it ends (or stop says so)
// and returns every frame.
func followPull(t *testing.T, url string, stop func(modelpull.Pull) bool) []modelpull.Pull {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	var out []modelpull.Pull
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var p modelpull.Pull
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		if p.State.Ended() || (stop != nil && stop(p)) {
			return out
		}
	}
	t.Fatalf("event stream ended before the pull did: %v (frames %+v)", sc.Err(), out)
	return nil
}

func info(t *testing.T, base string) thinkstream.EngineInfo {
	t.Helper()
	var in struct {
		Engine thinkstream.EngineInfo `json:"engine"`
	}
	doJSON(t, "GET", base+"/v1/info", nil, &in)
	return in.Engine
}

// The page's download: offer with sizes, a bad quantization refused as a
// problem, progress over SSE, cancel keeping what arrived, a restart that
// resumes from there, and the switch to the embedded engine with no
// restart: a run in flight finishes on the simulator, new runs go to the
// model, and /v1/info and /v1/models say so.
func TestPullDownloadsResumesAndSwitchesEngine(t *testing.T) {
	srv, h, dir := pullServer(t)
	modelSize, _ := os.Stat(modelFile)

	var files modelpull.Files
	if resp := doJSON(t, "GET", srv.URL+"/v1/models/pulls/files", nil, &files); resp.StatusCode != 200 {
		t.Fatalf("files: %d", resp.StatusCode)
	}
	if len(files.Files) != 2 || files.DefaultQuant != "F16" {
		t.Fatalf("offer %+v", files)
	}
	for _, f := range files.Files {
		if f.Quant == "F16" && f.Size != modelSize.Size() {
			t.Fatalf("F16 size %d, want %d", f.Size, modelSize.Size())
		}
	}

	var prob struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	resp := doJSON(t, "POST", srv.URL+"/v1/models/pulls", map[string]string{"quant": "Q2_K"}, &prob)
	if resp.StatusCode != 422 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		prob.Type != "/problems/unknown-quant" || !strings.Contains(prob.Detail, "F16") {
		t.Fatalf("bad quant: %d %s %+v", resp.StatusCode, resp.Header.Get("Content-Type"), prob)
	}

	// A run that is streaming when the switch happens.
	inflight, err := srv.Runs.Create(t.Context(), thinkstream.RunRequest{Problem: "sim:long 3000"})
	if err != nil {
		t.Fatal(err)
	}

	// First attempt, on a slow link (about 3 MB/s): cancel it once the
	// progress has a rate and a time left.
	h.Throttle(32<<10, 10*time.Millisecond)
	var p modelpull.Pull
	if resp := doJSON(t, "POST", srv.URL+"/v1/models/pulls", map[string]string{"quant": "f16"}, &p); resp.StatusCode != 202 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	frames := followPull(t, srv.URL+"/v1/models/pulls/"+p.ID+"/events", func(x modelpull.Pull) bool { return x.Rate > 0 })
	last := frames[len(frames)-1]
	if last.State != modelpull.StateDownloading || last.Total != modelSize.Size() || last.Done <= 0 || last.ETASeconds <= 0 {
		t.Fatalf("progress frame %+v", last)
	}
	var cancelled modelpull.Pull
	doJSON(t, "DELETE", srv.URL+"/v1/models/pulls/"+p.ID, nil, &cancelled)
	if cancelled.State != modelpull.StateCancelled {
		t.Fatalf("after DELETE: %+v", cancelled)
	}
	part := filepath.Join(dir, filepath.FromSlash(pullRepo), pullFile+".part")
	st, err := os.Stat(part)
	if err != nil || st.Size() == 0 || st.Size() != cancelled.Done {
		t.Fatalf("partial download after cancel: %v, %v; the pull says %d bytes", st, err, cancelled.Done)
	}
	kept := st.Size()
	doJSON(t, "GET", srv.URL+"/v1/models/pulls/files", nil, &files)
	for _, f := range files.Files {
		if want := map[bool]int64{true: kept}[f.Quant == "F16"]; f.Partial != want {
			t.Errorf("offer after the cancel: %s partial %d, want %d", f.Quant, f.Partial, want)
		}
	}
	if e := info(t, srv.URL); !e.Simulated {
		t.Fatalf("engine switched by a cancelled pull: %+v", e)
	}

	// Second attempt, at full speed: resumes from the bytes kept, then
	// loads and switches.
	h.Throttle(0, 0)
	if resp := doJSON(t, "POST", srv.URL+"/v1/models/pulls", map[string]string{"quant": "F16"}, &p); resp.StatusCode != 202 {
		t.Fatalf("restart: %d", resp.StatusCode)
	}
	frames = followPull(t, srv.URL+"/v1/models/pulls/"+p.ID+"/events", nil)
	last = frames[len(frames)-1]
	if last.State != modelpull.StateReady || last.Done != modelSize.Size() || last.Resumed != kept {
		t.Fatalf("final frame %+v", last)
	}
	if got := h.Ranges(); len(got) != 2 || got[0] != "" || got[1] != "bytes="+strconv.FormatInt(kept, 10)+"-" {
		t.Fatalf("Range headers %q: the second attempt must resume", got)
	}

	e := info(t, srv.URL)
	if e.Simulated || e.Model == "" || e.Model == "sim" {
		t.Fatalf("/v1/info after the switch: %+v", e)
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	doJSON(t, "GET", srv.URL+"/v1/models", nil, &models)
	if len(models.Data) == 0 || models.Data[0].ID != e.Model {
		t.Fatalf("/v1/models after the switch: %+v, want %s first", models, e.Model)
	}

	// New runs go to the embedded engine.
	var run thinkstream.Run
	doJSON(t, "POST", srv.URL+"/v1/runs", map[string]any{"problem": "What is 2+2?", "params": map[string]any{"max_tokens": 8, "temperature": 0}}, &run)
	if run.Engine != "local" || run.Simulated {
		t.Fatalf("run after the switch: %+v", run)
	}
	done := waitEnded(t, srv.URL, run.ID)
	if done.State != thinkstream.StateCompleted || done.Usage == nil || done.Usage.CompletionTokens == 0 {
		t.Fatalf("local run ended %+v", done)
	}
	// The run in flight at the switch finished on the simulator.
	old := waitEnded(t, srv.URL, inflight.ID)
	if old.Engine != "sim" || !old.Simulated || old.State != thinkstream.StateCompleted {
		t.Fatalf("run in flight at the switch: %+v", old)
	}
}

// A download cut by the network fails with a message that says it will
// continue; the next attempt resumes from the bytes kept.
func TestPullResumesAfterInterruption(t *testing.T) {
	srv, h, _ := pullServer(t)
	h.CutNext()
	var p modelpull.Pull
	doJSON(t, "POST", srv.URL+"/v1/models/pulls", map[string]string{}, &p) // {}: the default quant
	frames := followPull(t, srv.URL+"/v1/models/pulls/"+p.ID+"/events", nil)
	last := frames[len(frames)-1]
	if last.State != modelpull.StateFailed || !strings.Contains(last.Error, "continue from there") {
		t.Fatalf("cut download ended %+v", last)
	}
	if e := info(t, srv.URL); !e.Simulated {
		t.Fatalf("engine switched by a failed pull: %+v", e)
	}
	doJSON(t, "POST", srv.URL+"/v1/models/pulls", map[string]string{"quant": "F16"}, &p)
	frames = followPull(t, srv.URL+"/v1/models/pulls/"+p.ID+"/events", nil)
	if last = frames[len(frames)-1]; last.State != modelpull.StateReady || last.Resumed == 0 {
		t.Fatalf("second attempt ended %+v", last)
	}
	if got := h.Ranges(); len(got) != 2 || !strings.HasPrefix(got[1], "bytes=") {
		t.Fatalf("Range headers %q", got)
	}
	if e := info(t, srv.URL); e.Simulated {
		t.Fatalf("not switched: %+v", e)
	}
}

func waitEnded(t *testing.T, base, id string) thinkstream.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var d struct {
			Run thinkstream.Run `json:"run"`
		}
		doJSON(t, "GET", base+"/v1/runs/"+id, nil, &d)
		if d.Run.State.Terminal() {
			return d.Run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not ended: %+v", id, d.Run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// In token mode only an admin may see or start a download: it changes
// what answers everyone.
func TestPullNeedsAdmin(t *testing.T) {
	store, err := auth.OpenStore(filepath.Join(t.TempDir(), "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := store.Create("teacher", []auth.Scope{auth.ScopeAdmin, auth.ScopeCreate, auth.ScopeWatch}, 0)
	if err != nil {
		t.Fatal(err)
	}
	student, _, err := store.Create("student", []auth.Scope{auth.ScopeCreate, auth.ScopeWatch}, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, _, _ := pullServer(t, &httpapi.Access{Tokens: store})
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/models/pulls", "", 401},
		{"GET", "/v1/models/pulls", student, 403},
		{"POST", "/v1/models/pulls", student, 403},
		{"GET", "/v1/models/pulls", admin, 200},
		{"GET", "/v1/models/pulls/files", admin, 200},
		{"POST", "/v1/models/pulls", admin, 422}, // admitted; the body names no quant the hub has
	} {
		var body *strings.Reader
		if tt.method == "POST" {
			body = strings.NewReader(`{"quant":"Q2_K"}`)
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, body)
		if tt.method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s (token %t) = %d, want %d", tt.method, tt.path, tt.token != "", resp.StatusCode, tt.want)
		}
	}
}
