package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tinyModel = "../../engine/local/testdata/tiny-qwen2-f16.gguf"

func noEnv(string) string { return "" }

func TestGenerateJSONGreedyMatchesReference(t *testing.T) {
	b, err := os.ReadFile("../../engine/local/testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Models []struct {
			File   string `json:"file"`
			Greedy []struct {
				PromptText string `json:"prompt_text"`
				Tokens     []int  `json:"tokens"`
			} `json:"greedy"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	g := ref.Models[1].Greedy[1] // tiny-qwen2-f16.gguf, "Hello, world!"
	if ref.Models[1].File != "tiny-qwen2-f16.gguf" || g.PromptText != "Hello, world!" {
		t.Fatal("reference layout changed")
	}
	var stdout, stderr bytes.Buffer
	err = cmdGenerate(context.Background(), []string{"--model", tinyModel, "--raw", "--temperature", "0",
		"--max-tokens", "48", "--threads", "1", "--json", "Hello,", "world!"}, noEnv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var ids []int
	var summary map[string]any
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if line["done"] == true {
			summary = line
			continue
		}
		ids = append(ids, int(line["id"].(float64)))
		if _, ok := line["text"].(string); !ok {
			t.Fatalf("line %q has no text", sc.Text())
		}
	}
	if diff := cmp.Diff(g.Tokens, ids); diff != "" {
		t.Fatalf("tokens (-llama.cpp +ours):\n%s", diff)
	}
	if summary == nil || summary["completion_tokens"] != 48.0 || summary["prompt_tokens"] != 8.0 ||
		summary["finish_reason"] != "length" || !(summary["predicted_per_second"].(float64) > 0) {
		t.Fatalf("summary %v", summary)
	}
}

func TestGenerateText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := cmdGenerate(context.Background(), []string{"--temperature", "0.8", "--seed", "1",
		"--max-tokens", "8", "--system", "Be brief.", "Hi"},
		func(k string) string {
			if k == "THINKSTREAM_MODEL" {
				return tinyModel
			}
			return ""
		}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if stdout.Len() == 0 || !strings.Contains(stderr.String(), "generation: 8 tokens") {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestGenerateUsage(t *testing.T) {
	tests := [][]string{
		{"--model", tinyModel}, // no prompt
		{"hello"},              // no model
		{"--model", tinyModel, "--raw", "--system", "x", "hi"}, // system with raw
		{"--model", "no-such-model", "hi"},
		{"--model", tinyModel, "--temperature", "-1", "hi"},
	}
	for _, args := range tests {
		var stdout, stderr bytes.Buffer
		if err := cmdGenerate(context.Background(), args, func(k string) string {
			if k == "HOME" {
				return t.TempDir()
			}
			return ""
		}, &stdout, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// cancelAfterLines cancels a context once n lines have been written: it
// plays the SIGINT that main turns into a cancelled context.
type cancelAfterLines struct {
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfterLines) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if bytes.Count(w.buf.Bytes(), []byte("\n")) >= w.n {
		w.cancel()
	}
	return len(p), nil
}

// TestGenerateStopsWithinOneToken: once the context is cancelled (SIGINT or
// SIGTERM in main), generate emits at most one more token and still prints
// its summary, with finish_reason "cancelled".
func TestGenerateStopsWithinOneToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAfterLines{n: 3, cancel: cancel}
	var stderr bytes.Buffer
	err := cmdGenerate(ctx, []string{"--model", tinyModel, "--raw", "--temperature", "0",
		"--max-tokens", "400", "--threads", "1", "--json", "Hello"}, noEnv, out, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.buf.String()), "\n")
	var summary map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatal(err)
	}
	if tokens := len(lines) - 1; tokens > 4 {
		t.Errorf("%d tokens after a cancel at the 3rd, want at most one more", tokens)
	}
	if summary["finish_reason"] != "cancelled" {
		t.Errorf("finish_reason %v, want cancelled", summary["finish_reason"])
	}
}
