package thinkstream

import (
	"encoding/json"
	"os"
	"testing"
)

// TestIsReasoning checks the rule against testdata/reasoning.json, the table
// the web client's copy of it is tested against too (web/test), so the two
// cannot drift apart.
func TestIsReasoning(t *testing.T) {
	b, err := os.ReadFile("testdata/reasoning.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Rows []struct {
			Type, Channel string
			Reasoning     bool
		}
	}
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range table.Rows {
		seen[r.Type] = true
		if got := IsReasoning(r.Type, r.Channel); got != r.Reasoning {
			t.Errorf("IsReasoning(%q, %q) = %v, want %v", r.Type, r.Channel, got, r.Reasoning)
		}
	}
	for _, typ := range []string{EventThinking, EventStep, EventCode, EventAnswer, EventResult, EventStats,
		EventAnnotation, EventRunCompleted, EventRunError, EventRunStarted} {
		if !seen[typ] {
			t.Errorf("testdata/reasoning.json has no row for %q", typ)
		}
	}
}
