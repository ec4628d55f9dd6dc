package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveWithModels runs `serve` in-process with THINKSTREAM_MODELS=dir and
// returns its URL and the lines it printed after "listening on".
func serveWithModels(t *testing.T, dir string) (string, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	getenv := func(k string) string {
		if k == "THINKSTREAM_MODELS" {
			return dir
		}
		return ""
	}
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--shutdown-grace", "0s"}, getenv, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		go func() { _, _ = io.Copy(io.Discard, pr) }()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	rd := bufio.NewReader(pr)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("serve said %q", line)
	}
	return url, rd
}

func engineOf(t *testing.T, url string) (model string, simulated bool) {
	t.Helper()
	resp, err := http.Get(url + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in struct {
		Engine struct {
			Model     string `json:"model"`
			Simulated bool   `json:"simulated"`
		} `json:"engine"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in.Engine.Model, in.Engine.Simulated
}

// With nothing configured and no model pulled, serve says the simulator
// answers and how to get the real model, and the page's download is offered.
func TestServeOffersTheDownload(t *testing.T) {
	url, rd := serveWithModels(t, t.TempDir())
	line, err := rd.ReadString('\n')
	if err != nil || !strings.Contains(line, "the built-in simulator answers") || !strings.Contains(line, "Download VibeThinker-1.5B from the home page") ||
		!strings.Contains(line, "thinkstream pull mradermacher/VibeThinker-1.5B-GGUF:Q4_K_M") {
		t.Fatalf("second line %q (%v)", line, err)
	}
	if _, sim := engineOf(t, url); !sim {
		t.Fatal("not the simulator")
	}
	resp, err := http.Get(url + "/v1/models/pulls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models/pulls: %d", resp.StatusCode)
	}
}

// A VibeThinker GGUF pulled earlier answers by default, no flag typed.
func TestServeUsesThePulledModel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a model")
	}
	dir := t.TempDir()
	b, err := os.ReadFile("../../engine/local/testdata/tiny-qwen2-f16.gguf")
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "mradermacher", "VibeThinker-1.5B-GGUF")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "VibeThinker-1.5B.F16.gguf"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := serveWithModels(t, dir)
	if model, sim := engineOf(t, url); sim || model == "" {
		t.Fatalf("engine %q simulated=%v: want the pulled model", model, sim)
	}
	resp, err := http.Get(url + "/v1/models/pulls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /v1/models/pulls with a model loaded: %d, want 404 (nothing offered)", resp.StatusCode)
	}
}
