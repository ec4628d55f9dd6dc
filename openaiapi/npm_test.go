package openaiapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// TestOpenAINodeClient runs the official openai npm client against the
// handler (tests/openai-npm/test.mjs). It is skipped where node or the
// package's node_modules are missing; CI installs them with
// `npm ci --prefix tests/openai-npm`.
func TestOpenAINodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir := filepath.Join("..", "tests", "openai-npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		t.Skip("tests/openai-npm/node_modules missing: run npm ci --prefix tests/openai-npm")
	}
	runErr := &thinkstream.RunError{Code: "upstream_timeout", Message: "upstream stalled for 1m0s mid-stream"}
	tests := []struct {
		name   string
		events []thinkstream.Event
		env    []string
	}{
		{"completes", realisticEvents(), []string{
			"THINKSTREAM_EXPECT_REASONING=" + fakeReasoning,
			"THINKSTREAM_EXPECT_CONTENT=" + fakeAnswer,
		}},
		{"fails mid-stream", realisticEvents(
			thinkstream.Event{Type: thinkstream.EventRunError, Error: runErr},
			thinkstream.Event{Type: thinkstream.EventRunFailed, State: thinkstream.StateFailed, Error: runErr},
		), []string{"THINKSTREAM_EXPECT_STREAM_ERROR=upstream_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, newFake(tt.events), nil)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "test.mjs")
			cmd.Dir = dir
			cmd.Env = append(append(os.Environ(), "THINKSTREAM_URL="+srv.URL), tt.env...)
			out, err := cmd.CombinedOutput()
			t.Logf("node: %s", out)
			if err != nil {
				t.Fatalf("openai npm client failed: %v", err)
			}
		})
	}
}
