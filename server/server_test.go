package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// While the simulator answers, /v1/models says so, and a client configured
// for the real model's id is still served.
func TestModelsNameTheSimulator(t *testing.T) {
	srv := servertest.New(t, server.Config{Engine: sim.New(sim.Config{})})
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.OwnedBy != "thinkstream-simulator" {
			t.Errorf("%s owned_by %q, want thinkstream-simulator", m.ID, m.OwnedBy)
		}
	}
	want := []string{"thinkstream-simulator", "thinkstream-simulator-code", "thinkstream-simulator-math"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("/v1/models ids (-want +got):\n%s", diff)
	}
	resp2, err := http.Get(srv.URL + "/v1/models/vibethinker-1.5b")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/models/vibethinker-1.5b = %d, want 200 (accepted alias)", resp2.StatusCode)
	}
}

// Every front door checks run requests by the same rules: what /v1/runs
// refuses, /v1/chat/completions refuses too (with the OpenAI error shape),
// and nothing is stored.
func TestOpenAIRequestsShareValidation(t *testing.T) {
	srv := servertest.New(t, server.Config{Engine: sim.New(sim.Config{})})
	tests := []struct{ name, content, param string }{
		{"control characters", "2+2?\u0000\u001b[2J", "messages"},
		{"a megabyte", strings.Repeat("a", 1<<20), "messages"},
	}
	for _, tt := range tests {
		body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": tt.content}}})
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct {
				Message, Param string
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Error.Param != tt.param {
			t.Errorf("%s: %d %+v, want 400 with param %s", tt.name, resp.StatusCode, e.Error, tt.param)
		}
		if strings.Contains(e.Error.Message, "run manager") {
			t.Errorf("%s: message leaks internals: %q", tt.name, e.Error.Message)
		}
	}
	list, _, err := srv.Runs.List(t.Context(), 10, "")
	if err != nil || len(list) != 0 {
		t.Errorf("runs stored after refused requests: %d (%v)", len(list), err)
	}
}
