package httpapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/profile"
)

func TestInfo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "profiles.json")
	if err := os.WriteFile(file, []byte(`{"default": "code", "profiles": {
		"code": {"description": "Code.", "temperature": 0.3, "top_p": 0.9, "max_tokens": 2048},
		"math": {"temperature": 1.0}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := profile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, sim.New(sim.Config{}), Config{Profiles: ps, MaxTokens: 4096})
	resp := get(t, s.srv.URL+"/v1/info", nil)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"engine":          map[string]any{"model": "sim", "simulated": true, "max_parallel": float64(64)},
		"default_profile": "code",
		"max_tokens":      float64(4096),
		"profiles": []any{
			map[string]any{"name": "code", "description": "Code.", "temperature": 0.3, "top_p": 0.9, "max_tokens": float64(2048)},
			map[string]any{"name": "math", "temperature": 1.0},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/v1/info (-want +got):\n%s", diff)
	}
}
