package modelstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultEndpoint is the Hugging Face hub.
const DefaultEndpoint = "https://huggingface.co"

// ErrNotFound is returned when a repository, revision or file does not
// exist on the hub.
var ErrNotFound = errors.New("not found")

// hub talks to the Hugging Face hub API.
type hub struct {
	endpoint string
	token    string
	client   *http.Client
	agent    string
}

// fileEntry is a file of a repository.
type fileEntry struct {
	Path   string
	Size   int64
	SHA256 string // "" when the hub did not say (not stored with LFS)
}

func (h *hub) get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	h.authorize(req)
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := statusError(resp, u); err != nil {
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("reading %s: %w", u, err)
	}
	return nil
}

func (h *hub) authorize(req *http.Request) {
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if h.agent != "" {
		req.Header.Set("User-Agent", h.agent)
	}
}

// statusError turns a failed response into an error people can act on.
func statusError(resp *http.Response, u string) error {
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %w", u, ErrNotFound)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: %s (the repository may be private or gated: set HF_TOKEN to a token that has access)", u, resp.Status)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(body))
	if msg != "" {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, msg)
	}
	return fmt.Errorf("%s: %s", u, resp.Status)
}

// repoURL builds endpoint/prefix/owner/repo[/kind/revision[/file]], each
// path segment escaped; a revision is one segment even when it has a slash
// ("refs/pr/1" becomes "refs%2Fpr%2F1", as the hub expects).
func (h *hub) repoURL(prefix, repo, kind, revision, file string) string {
	parts := []string{strings.TrimRight(h.endpoint, "/")}
	if prefix != "" {
		parts = append(parts, prefix)
	}
	for _, p := range strings.Split(repo, "/") {
		parts = append(parts, url.PathEscape(p))
	}
	if kind != "" {
		parts = append(parts, kind, url.PathEscape(revision))
	}
	if file != "" {
		for _, p := range strings.Split(file, "/") {
			parts = append(parts, url.PathEscape(p))
		}
	}
	return strings.Join(parts, "/")
}

// files lists a repository's files: names from the model info, sizes and
// sha256 sums from the tree of the revision where the hub provides it.
func (h *hub) files(ctx context.Context, repo, revision string) ([]fileEntry, error) {
	var info struct {
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := h.get(ctx, h.repoURL("api/models", repo, "", "", ""), &info); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("repository %s: %w on %s", repo, ErrNotFound, h.endpoint)
		}
		return nil, err
	}
	var tree []struct {
		Type string `json:"type"`
		Path string `json:"path"`
		Size int64  `json:"size"`
		LFS  *struct {
			Oid  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"lfs"`
	}
	byPath := map[string]int{}
	if err := h.get(ctx, h.repoURL("api/models", repo, "tree", revision, "")+"?recursive=true", &tree); err == nil {
		for i, e := range tree {
			byPath[e.Path] = i
		}
	} else if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("revision %q of %s: %w", revision, repo, ErrNotFound)
	}
	// Without a tree (an older mirror), files still download, unverified.
	out := make([]fileEntry, 0, len(info.Siblings))
	for _, s := range info.Siblings {
		f := fileEntry{Path: s.RFilename, Size: -1}
		if i, ok := byPath[s.RFilename]; ok {
			e := tree[i]
			f.Size = e.Size
			if e.LFS != nil {
				f.SHA256 = strings.ToLower(e.LFS.Oid)
				if e.LFS.Size > 0 {
					f.Size = e.LFS.Size
				}
			}
		}
		out = append(out, f)
	}
	return out, nil
}
