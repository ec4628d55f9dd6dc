package modelstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Ref is what to pull: a repository, optionally a quantization, and a
// revision.
type Ref struct {
	Repo     string // "owner/name"
	Quant    string // "Q4_K_M"; "" when the repository has one GGUF file
	Revision string // "main" when empty
}

// ParseRef parses "owner/repo[:QUANT][@revision]".
func ParseRef(s string) (Ref, error) {
	var r Ref
	s, r.Revision, _ = strings.Cut(s, "@")
	r.Repo, r.Quant, _ = strings.Cut(s, ":")
	owner, name, ok := strings.Cut(r.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") || strings.Contains(r.Repo, "..") {
		return r, fmt.Errorf("modelstore: %q is not owner/repo[:QUANT]", s)
	}
	if r.Revision == "" {
		r.Revision = "main"
	}
	return r, nil
}

// Puller downloads models into a store.
type Puller struct {
	Store *Store
	// Endpoint is the hub's base URL; DefaultEndpoint when empty.
	Endpoint string
	// Token is sent as a bearer token (HF_TOKEN) when set.
	Token string
	// Client makes the requests; http.DefaultClient when nil. Redirects
	// (the hub sends downloads to a CDN) are followed; Go drops the token
	// when a redirect leaves the hub's host.
	Client *http.Client
	// Progress receives the progress display; nil shows none.
	Progress io.Writer
	// Terminal makes Progress a redrawn bar rather than plain lines.
	Terminal bool
	// OnProgress, when set, is called as bytes arrive (from the
	// downloading goroutine, at most every 100ms and once at the end).
	OnProgress func(Progress)
	// UserAgent is sent with every request.
	UserAgent string
	// now is the clock for progress (tests); time.Now when nil.
	now func() time.Time
}

// Pull downloads the GGUF file ref names into the store and returns its
// path. A file already there with the right size and checksum is not
// downloaded again; a partial download ("<file>.part") is resumed.
func (p *Puller) Pull(ctx context.Context, ref Ref) (string, error) {
	if ref.Revision == "" {
		ref.Revision = "main"
	}
	h := p.hub()
	files, err := h.files(ctx, ref.Repo, ref.Revision)
	if err != nil {
		return "", fmt.Errorf("modelstore: %w", err)
	}
	f, err := pickFile(files, ref)
	if err != nil {
		return "", fmt.Errorf("modelstore: %w", err)
	}
	dir := filepath.Join(p.Store.Dir, filepath.FromSlash(ref.Repo))
	final := filepath.Join(dir, filepath.Base(f.Path))
	if ok, err := present(final, f); err != nil || ok {
		if ok {
			p.say("%s is already downloaded\n", final)
		}
		return final, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("modelstore: %w", err)
	}
	if f.SHA256 == "" {
		p.say("warning: the hub gives no sha256 for %s; the download cannot be verified\n", f.Path)
	}
	part := final + ".part"
	sum, err := p.download(ctx, h, ref, f, part)
	if err != nil {
		return "", err
	}
	if f.SHA256 != "" && sum != f.SHA256 {
		os.Remove(part)
		return "", fmt.Errorf("modelstore: checksum mismatch for %s: got sha256 %s, the hub says %s; the download was deleted, try again", f.Path, sum, f.SHA256)
	}
	if err := os.Rename(part, final); err != nil {
		return "", fmt.Errorf("modelstore: %w", err)
	}
	return final, nil
}

func (p *Puller) hub() *hub {
	h := &hub{endpoint: p.Endpoint, token: p.Token, client: p.Client, agent: p.UserAgent}
	if h.endpoint == "" {
		h.endpoint = DefaultEndpoint
	}
	if h.client == nil {
		h.client = http.DefaultClient
	}
	return h
}

func (p *Puller) say(format string, args ...any) {
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, format, args...)
	}
}

// pickFile chooses the GGUF file of ref's quantization: one whose name
// has the quant as a separate part ("x.Q4_K_M.gguf") if any, else one whose
// name contains it; more than one is an error that lists them.
func pickFile(files []fileEntry, ref Ref) (fileEntry, error) {
	var ggufs []fileEntry
	for _, f := range files {
		if strings.EqualFold(filepath.Ext(f.Path), ".gguf") && !strings.Contains(strings.ToLower(f.Path), "mmproj") {
			ggufs = append(ggufs, f)
		}
	}
	if len(ggufs) == 0 {
		return fileEntry{}, fmt.Errorf("repository %s has no GGUF files", ref.Repo)
	}
	var hits []fileEntry
	if ref.Quant == "" {
		hits = ggufs
	} else {
		q := strings.ToLower(ref.Quant)
		for _, f := range ggufs {
			if slices.ContainsFunc(nameParts(filepath.Base(f.Path)), func(s string) bool { return strings.ToLower(s) == q }) {
				hits = append(hits, f)
			}
		}
		if len(hits) == 0 {
			for _, f := range ggufs {
				if strings.Contains(strings.ToLower(filepath.Base(f.Path)), q) {
					hits = append(hits, f)
				}
			}
		}
	}
	switch len(hits) {
	case 1:
		if strings.Contains(hits[0].Path, "-of-") {
			return fileEntry{}, fmt.Errorf("%s is split into parts, which is not supported", hits[0].Path)
		}
		return hits[0], nil
	case 0:
		return fileEntry{}, fmt.Errorf("repository %s has no GGUF file for quantization %q (%w); it has: %s", ref.Repo, ref.Quant, ErrNotFound, available(ggufs))
	}
	what := "several GGUF files"
	if ref.Quant != "" {
		what = fmt.Sprintf("several GGUF files for %q", ref.Quant)
	}
	return fileEntry{}, fmt.Errorf("repository %s has %s; add :QUANT to choose: %s", ref.Repo, what, available(hits))
}

func available(files []fileEntry) string {
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	return strings.Join(names, ", ")
}

// present reports whether final already holds f.
func present(final string, f fileEntry) (bool, error) {
	st, err := os.Stat(final)
	if err != nil {
		return false, nil
	}
	if f.Size >= 0 && st.Size() != f.Size {
		return false, nil
	}
	if f.SHA256 == "" {
		return true, nil
	}
	sum, err := fileSHA256(final)
	if err != nil {
		return false, fmt.Errorf("modelstore: %w", err)
	}
	return sum == f.SHA256, nil
}

func fileSHA256(path string) (string, error) {
	fd, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fd); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var errRestart = errors.New("server ignored the range request")

// Progress is how far a download has got.
type Progress struct {
	File  string `json:"file"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"` // -1 when unknown
	// From is what a resumed download already had.
	From int64 `json:"from"`
	// Rate is bytes per second over this attempt; ETA the time left at it.
	Rate float64       `json:"rate"`
	ETA  time.Duration `json:"-"`
}

// RemoteFile is a GGUF file a repository offers.
type RemoteFile struct {
	Path  string `json:"path"`
	Quant string `json:"quant"` // "" when the name has none
	Size  int64  `json:"size"`  // -1 when the hub does not say
}

// Files lists the GGUF files of a repository's revision ("main" when
// empty), with their quantization and size, as Pull would see them.
func (p *Puller) Files(ctx context.Context, repo, revision string) ([]RemoteFile, error) {
	if revision == "" {
		revision = "main"
	}
	files, err := p.hub().files(ctx, repo, revision)
	if err != nil {
		return nil, fmt.Errorf("modelstore: %w", err)
	}
	var out []RemoteFile
	for _, f := range files {
		base := filepath.Base(f.Path)
		if !strings.EqualFold(filepath.Ext(base), ".gguf") || strings.Contains(strings.ToLower(base), "mmproj") || strings.Contains(base, "-of-") {
			continue
		}
		out = append(out, RemoteFile{Path: f.Path, Quant: QuantFromName(base), Size: f.Size})
	}
	slices.SortFunc(out, func(a, b RemoteFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}
