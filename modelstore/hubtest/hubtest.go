// Package hubtest is a loopback stand-in for the Hugging Face hub: the
// three endpoints a pull uses (model info, file tree with sha256, file
// download with Range and a CDN redirect), with faults to switch on. It
// serves the packages and servers under test over real HTTP.
package hubtest

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
)

// Hub is a running fake hub serving one repository.
type Hub struct {
	*httptest.Server
	Repo  string
	files map[string][]byte
	sums  map[string]string

	mu      sync.Mutex
	cutNext bool
	chunk   int // > 0: downloads send chunk bytes every `every`
	every   time.Duration
	ranges  []string
}

// Throttle makes downloads send chunk bytes every `every` (0: full speed).
func (h *Hub) Throttle(chunk int, every time.Duration) {
	h.mu.Lock()
	h.chunk, h.every = chunk, every
	h.mu.Unlock()
}

// New serves files (name → content) as repository repo until the test ends.
func New(t testing.TB, repo string, files map[string][]byte) *Hub {
	h := &Hub{Repo: repo, files: files, sums: map[string]string{}}
	for name, b := range files {
		s := sha256.Sum256(b)
		h.sums[name] = hex.EncodeToString(s[:])
	}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

// CutNext makes the next download drop its connection halfway.
func (h *Hub) CutNext() {
	h.mu.Lock()
	h.cutNext = true
	h.mu.Unlock()
}

// Ranges returns the Range header of every download request so far.
func (h *Hub) Ranges() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges...)
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/api/models/"+h.Repo:
		sib := []map[string]string{{"rfilename": "README.md"}}
		for name := range h.files {
			sib = append(sib, map[string]string{"rfilename": name})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": h.Repo, "siblings": sib})
	case p == "/api/models/"+h.Repo+"/tree/main":
		tree := []map[string]any{{"type": "file", "path": "README.md", "size": 10, "oid": "abc"}}
		for name, b := range h.files {
			tree = append(tree, map[string]any{"type": "file", "path": name, "size": len(b), "oid": "gitoid",
				"lfs": map[string]any{"oid": h.sums[name], "size": len(b), "pointerSize": 134}})
		}
		_ = json.NewEncoder(w).Encode(tree)
	case strings.HasPrefix(p, "/"+h.Repo+"/resolve/main/"):
		// The hub redirects downloads to its CDN.
		http.Redirect(w, r, "/cdn/"+strings.TrimPrefix(p, "/"+h.Repo+"/resolve/main/"), http.StatusFound)
	case strings.HasPrefix(p, "/cdn/"):
		h.download(w, r, strings.TrimPrefix(p, "/cdn/"))
	default:
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
	}
}

func (h *Hub) download(w http.ResponseWriter, r *http.Request, name string) {
	b, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	cut := h.cutNext
	h.cutNext = false
	h.mu.Unlock()
	if cut {
		start := 0
		if rng := r.Header.Get("Range"); rng != "" {
			_, _ = fmt.Sscanf(rng, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(b)-1, len(b)))
			w.Header().Set("Content-Length", fmt.Sprint(len(b)-start))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
		}
		half := start + (len(b)-start)/2
		_, _ = w.Write(b[start:half])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	h.mu.Lock()
	chunk, every := h.chunk, h.every
	h.mu.Unlock()
	if chunk > 0 {
		http.ServeContent(w, r, name, time.Time{}, &slowReader{r: bytes.NewReader(b), chunk: chunk, every: every})
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// slowReader reads at most chunk bytes per `every`.
type slowReader struct {
	r     *bytes.Reader
	chunk int
	every time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.every) // the link's pace, not a wait for a condition
	return s.r.Read(p[:min(len(p), s.chunk)])
}

func (s *slowReader) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }
