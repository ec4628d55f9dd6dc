package modelstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// testGGUF writes a small valid GGUF file (no tensors, a padding string to
// give it some size) with the given file type.
func testGGUF(t *testing.T, fileType uint32, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, []gguf.KV{
		{Key: "general.architecture", Value: gguf.StringValue("qwen2")},
		{Key: "general.name", Value: gguf.StringValue("test model")},
		{Key: "general.file_type", Value: gguf.Uint32Value(fileType)},
		{Key: "test.padding", Value: gguf.StringValue(strings.Repeat("x", size))},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeHub is an httptest server speaking the parts of the Hugging Face hub
// API that Pull uses, with faults to switch on.
type fakeHub struct {
	*httptest.Server
	repo  string
	files map[string][]byte // name -> content served
	sums  map[string]string // name -> sha256 the tree reports

	mu          sync.Mutex
	cutNext     bool // drop the connection halfway through the next download
	stallNext   bool // send half of the next download, then wait for the client to leave
	ignoreRange bool
	ranges      []string // Range header of each download request
	auth        []string // Authorization header of every request
	downloads   int
}

func newFakeHub(t *testing.T, repo string, files map[string][]byte) *fakeHub {
	h := &fakeHub{repo: repo, files: files, sums: map[string]string{}}
	for name, b := range files {
		s := sha256.Sum256(b)
		h.sums[name] = hex.EncodeToString(s[:])
	}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	p := r.URL.Path
	switch {
	case p == "/api/models/"+h.repo:
		var sib []map[string]string
		sib = append(sib, map[string]string{"rfilename": "README.md"})
		for name := range h.files {
			sib = append(sib, map[string]string{"rfilename": name})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": h.repo, "siblings": sib})
	case p == "/api/models/"+h.repo+"/tree/main":
		tree := []map[string]any{{"type": "file", "path": "README.md", "size": 10, "oid": "abc"}}
		for name, b := range h.files {
			tree = append(tree, map[string]any{"type": "file", "path": name, "size": len(b), "oid": "gitoid",
				"lfs": map[string]any{"oid": h.sums[name], "size": len(b), "pointerSize": 134}})
		}
		json.NewEncoder(w).Encode(tree)
	case strings.HasPrefix(p, "/"+h.repo+"/resolve/main/"):
		// The hub redirects downloads to its CDN.
		http.Redirect(w, r, "/cdn/"+strings.TrimPrefix(p, "/"+h.repo+"/resolve/main/"), http.StatusFound)
	case strings.HasPrefix(p, "/cdn/"):
		h.download(w, r, strings.TrimPrefix(p, "/cdn/"))
	default:
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
	}
}

func (h *fakeHub) download(w http.ResponseWriter, r *http.Request, name string) {
	b, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.downloads++
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	cut, ignore, stall := h.cutNext, h.ignoreRange, h.stallNext
	h.cutNext, h.stallNext = false, false
	h.mu.Unlock()
	if ignore {
		r.Header.Del("Range")
	}
	if cut || stall {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		if stall {
			<-r.Context().Done()
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (h *fakeHub) seen() (ranges, auth []string, downloads int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges...), append([]string(nil), h.auth...), h.downloads
}

func TestRepoURL(t *testing.T) {
	h := &hub{endpoint: "https://hf.example/"}
	tests := []struct{ got, want string }{
		{h.repoURL("api/models", "a/b", "", "", ""), "https://hf.example/api/models/a/b"},
		{h.repoURL("api/models", "a/b", "tree", "refs/pr/1", ""), "https://hf.example/api/models/a/b/tree/refs%2Fpr%2F1"},
		{h.repoURL("", "a/b", "resolve", "main", "sub dir/m.gguf"), "https://hf.example/a/b/resolve/main/sub%20dir/m.gguf"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}
