package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// miniHub serves one repository with the tiny model, as the Hugging Face
// hub API does.
func miniHub(t *testing.T) (*httptest.Server, *[]string) {
	t.Helper()
	model, err := os.ReadFile(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	const name = "tiny-qwen2-f16.gguf"
	var (
		mu   sync.Mutex
		auth []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/api/models/acme/tiny":
			json.NewEncoder(w).Encode(map[string]any{"siblings": []map[string]string{{"rfilename": name}}})
		case "/api/models/acme/tiny/tree/main":
			json.NewEncoder(w).Encode([]map[string]any{{"type": "file", "path": name, "size": len(model),
				"lfs": map[string]any{"oid": hex.EncodeToString(sum[:]), "size": len(model)}}})
		case "/acme/tiny/resolve/main/" + name:
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(model))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func TestPullThenModelsThenGenerate(t *testing.T) {
	srv, auth := miniHub(t)
	dir := t.TempDir()
	env := map[string]string{"HF_ENDPOINT": srv.URL, "HF_TOKEN": "hf_x", "THINKSTREAM_MODELS": dir}
	getenv := func(k string) string { return env[k] }

	var stdout, stderr bytes.Buffer
	if err := cmdPull(context.Background(), []string{"acme/tiny:F16"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	path := strings.TrimSpace(stdout.String())
	if want := filepath.Join(dir, "acme", "tiny", "tiny-qwen2-f16.gguf"); path != want {
		t.Fatalf("pull printed %q, want %q", path, want)
	}
	if !strings.Contains(stderr.String(), "100%") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
	for _, a := range *auth {
		if a != "Bearer hf_x" {
			t.Errorf("Authorization %q", a)
		}
	}

	stdout.Reset()
	if err := cmdModels(context.Background(), nil, getenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "acme/tiny:F16") || !strings.Contains(out, "9.0 MiB") {
		t.Fatalf("models:\n%s", out)
	}
	stdout.Reset()
	if err := cmdModels(context.Background(), []string{"--json"}, getenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &list); err != nil || len(list) != 1 || list[0]["quant"] != "F16" {
		t.Fatalf("models --json: %s (%v)", stdout.String(), err)
	}

	// The pulled model is usable by name.
	stdout.Reset()
	if err := cmdGenerate(context.Background(), []string{"--model", "acme/tiny:F16", "--max-tokens", "3", "--json", "Hi"},
		getenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 4 {
		t.Fatalf("want 3 tokens and a summary, got:\n%s", stdout.String())
	}
}

func TestPullErrors(t *testing.T) {
	srv, _ := miniHub(t)
	getenv := func(k string) string {
		return map[string]string{"HF_ENDPOINT": srv.URL, "THINKSTREAM_MODELS": t.TempDir()}[k]
	}
	for _, args := range [][]string{{}, {"notarepo"}, {"acme/missing"}, {"acme/tiny:Q4_K_M"}} {
		var stdout, stderr bytes.Buffer
		if err := cmdPull(context.Background(), args, getenv, &stdout, &stderr); err == nil {
			t.Errorf("pull %q: no error", args)
		}
	}
}
