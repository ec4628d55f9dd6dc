package modelstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testRepo = "acme/Tiny-GGUF"

func setup(t *testing.T) (*fakeHub, *Puller, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"Tiny.Q4_K_M.gguf": testGGUF(t, 15, 300<<10),
		"Tiny.Q8_0.gguf":   testGGUF(t, 7, 200<<10),
	}
	h := newFakeHub(t, testRepo, files)
	p := &Puller{Store: &Store{Dir: t.TempDir()}, Endpoint: h.URL, Client: h.Client()}
	return h, p, files
}

func mustRef(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPullDownloadsAndVerifies(t *testing.T) {
	h, p, files := setup(t)
	var progress bytes.Buffer
	p.Progress = &progress
	path, err := p.Pull(context.Background(), mustRef(t, testRepo+":q4_k_m"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(p.Store.Dir, "acme", "Tiny-GGUF", "Tiny.Q4_K_M.gguf"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, files["Tiny.Q4_K_M.gguf"]) {
		t.Fatalf("downloaded file differs (err %v)", err)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatal("the .part file is still there")
	}
	if !strings.Contains(progress.String(), "100%") || strings.Contains(progress.String(), "\r") {
		t.Fatalf("plain progress lines expected, got %q", progress.String())
	}

	// Pulling again downloads nothing.
	_, _, before := h.seen()
	if _, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q4_K_M")); err != nil {
		t.Fatal(err)
	}
	if _, _, after := h.seen(); after != before {
		t.Fatalf("second pull downloaded again (%d downloads, was %d)", after, before)
	}

	models, err := p.Store.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Model{{Name: "acme/Tiny-GGUF/Tiny.Q4_K_M.gguf", Ref: "acme/Tiny-GGUF:Q4_K_M", Path: path,
		Size: int64(len(files["Tiny.Q4_K_M.gguf"])), Quant: "Q4_K_M", Arch: "qwen2"}}
	if diff := cmp.Diff(want, models); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	for _, name := range []string{"acme/Tiny-GGUF:Q4_K_M", "Tiny.Q4_K_M", "tiny.q4_k_m.gguf", "acme/Tiny-GGUF", path} {
		if got, err := p.Store.Resolve(name); err != nil || got != path {
			t.Errorf("Resolve(%q) = %q, %v", name, got, err)
		}
	}
	if _, err := p.Store.Resolve("nope"); err == nil {
		t.Error("Resolve(nope) succeeded")
	}
}

func TestPullResumesAfterACut(t *testing.T) {
	h, p, files := setup(t)
	h.cutNext = true
	_, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0"))
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("cut download: err = %v", err)
	}
	part := filepath.Join(p.Store.Dir, "acme", "Tiny-GGUF", "Tiny.Q8_0.gguf.part")
	st, err := os.Stat(part)
	if err != nil || st.Size() == 0 {
		t.Fatalf("no partial download kept: %v", err)
	}
	path, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0"))
	if err != nil {
		t.Fatal(err)
	}
	ranges, _, _ := h.seen()
	if want := []string{"", "bytes=" + strconv.FormatInt(st.Size(), 10) + "-"}; !cmp.Equal(ranges, want) {
		t.Fatalf("Range headers %q, want %q", ranges, want)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, files["Tiny.Q8_0.gguf"]) {
		t.Fatal("resumed file differs")
	}
}

func TestPullRestartsWhenRangeIgnored(t *testing.T) {
	h, p, files := setup(t)
	h.cutNext = true
	if _, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0")); err == nil {
		t.Fatal("cut download succeeded")
	}
	h.ignoreRange = true
	path, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, files["Tiny.Q8_0.gguf"]) {
		t.Fatal("file differs after a restarted download")
	}
}

func TestPullChecksumMismatch(t *testing.T) {
	h, p, _ := setup(t)
	h.sums["Tiny.Q8_0.gguf"] = strings.Repeat("0", 64)
	_, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0"))
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v", err)
	}
	var left []string
	filepath.WalkDir(p.Store.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, path)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("files left in the models directory: %v", left)
	}
}

func TestPullErrors(t *testing.T) {
	_, p, _ := setup(t)
	tests := []struct {
		ref, want string
		notFound  bool
	}{
		{"acme/Missing-GGUF:Q4_K_M", "repository acme/Missing-GGUF", true},
		{testRepo + ":Q2_K", "no GGUF file for quantization \"Q2_K\"", true},
		{testRepo, "several GGUF files", false},
		{testRepo + ":Q", "several GGUF files for \"Q\"", false},
	}
	for _, tt := range tests {
		_, err := p.Pull(context.Background(), mustRef(t, tt.ref))
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNotFound) != tt.notFound {
			t.Errorf("Pull(%s): err = %v, want %q (not found: %v)", tt.ref, err, tt.want, tt.notFound)
		}
	}
}

func TestPullSendsToken(t *testing.T) {
	h, p, _ := setup(t)
	p.Token = "hf_secret"
	if _, err := p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0")); err != nil {
		t.Fatal(err)
	}
	_, auth, _ := h.seen()
	if len(auth) < 3 {
		t.Fatalf("only %d requests", len(auth))
	}
	for i, a := range auth {
		if a != "Bearer hf_secret" {
			t.Errorf("request %d: Authorization %q", i, a)
		}
	}
}

func TestPullCancelledKeepsPart(t *testing.T) {
	h, p, _ := setup(t)
	h.stallNext = true
	ctx, cancel := context.WithCancel(context.Background())
	p.Progress = writerFunc(func(b []byte) (int, error) {
		cancel() // the first progress line arrives mid-download
		return len(b), nil
	})
	_, err := p.Pull(ctx, mustRef(t, testRepo+":Q4_K_M"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	st, err := os.Stat(filepath.Join(p.Store.Dir, "acme", "Tiny-GGUF", "Tiny.Q4_K_M.gguf.part"))
	if err != nil || st.Size() == 0 {
		t.Fatalf("partial download not kept: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestPullRefusesAConcurrentDownload(t *testing.T) {
	_, p, _ := setup(t)
	dir := filepath.Join(p.Store.Dir, "acme", "Tiny-GGUF")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Another process holds the partial download.
	fd, err := os.OpenFile(filepath.Join(dir, "Tiny.Q8_0.gguf.part"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = p.Pull(context.Background(), mustRef(t, testRepo+":Q8_0"))
	if err == nil || !strings.Contains(err.Error(), "another pull") {
		t.Fatalf("err = %v", err)
	}
}
