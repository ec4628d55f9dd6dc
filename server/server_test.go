package server_test

import (
	"encoding/json"
	"net/http"
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
