package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/thinkstream/thinkstream"
)

// TestLocalEngineServe runs the embedded engine on a tiny real GGUF model
// through the whole server: engine → parser → log → SSE.
func TestLocalEngineServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process")
	}
	s := start(t, t.TempDir(), "127.0.0.1:0", "--model", "../engine/local/testdata/tiny-qwen2-f16.gguf")
	body := map[string]any{"problem": "What is 2+2?", "params": map[string]any{"max_tokens": 24, "temperature": 0}}
	run := s.createJSON(t, body)
	if run.Engine != "local" || run.Simulated {
		t.Fatalf("run %+v: want the local engine", run)
	}
	fr := frames(t, s.url+"/v1/runs/"+run.ID+"/events")
	var last thinkstream.Event
	if err := json.Unmarshal([]byte(dataOf(fr[len(fr)-1])), &last); err != nil {
		t.Fatal(err)
	}
	if last.Type != thinkstream.EventRunCompleted || last.Usage == nil || last.Usage.CompletionTokens == 0 {
		t.Fatalf("last event %+v\n%s", last, s.logs)
	}
	if last.Usage.PromptTokens == 0 || last.Timings.PredictedPerSecond <= 0 {
		t.Errorf("usage %+v timings %+v", last.Usage, last.Timings)
	}

	// The terminal client against the same server: a new run, streamed to
	// the end, plain output because stdout is not a terminal.
	ask := exec.Command(binary, "ask", "--server", s.url, "--max-tokens", "16", "--temperature", "0", "What is 2+2?")
	out, err := ask.CombinedOutput()
	if err != nil {
		t.Fatalf("ask: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "completed") {
		t.Errorf("ask output does not say the run completed:\n%s", out)
	}
}
