// Package modelstore keeps GGUF models on local disk: it downloads them
// from the Hugging Face hub (or a mirror speaking its API), resuming
// interrupted downloads and verifying their sha256, lists what is there,
// and resolves the model names people type to file paths.
//
// Models live at <dir>/<owner>/<repo>/<file>.gguf, so the same file name
// from two repositories cannot collide and a model's origin stays visible.
package modelstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// DefaultDir is where models go: $THINKSTREAM_MODELS, else
// $XDG_DATA_HOME/thinkstream/models, else ~/.local/share/thinkstream/models.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("THINKSTREAM_MODELS"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "thinkstream", "models"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("modelstore: neither THINKSTREAM_MODELS, XDG_DATA_HOME nor HOME is set")
	}
	return filepath.Join(home, ".local", "share", "thinkstream", "models"), nil
}

// Model is a model file in the store.
type Model struct {
	// Name is the path below the store directory, e.g.
	// "mradermacher/VibeThinker-1.5B-GGUF/VibeThinker-1.5B.Q4_K_M.gguf".
	Name string
	// Ref is the pull reference that names it, "owner/repo:QUANT" (empty
	// when the file is not in an owner/repo directory).
	Ref   string
	Path  string
	Size  int64
	Quant string // from the file's header, else its name; "" if unknown
	// Arch is general.architecture ("qwen2"), "" if unreadable.
	Arch string
}

// Store is a directory of models.
type Store struct {
	Dir string
}

// List returns the models in the store, sorted by name. Partial
// downloads are not models. A missing directory is an empty store.
func (s *Store) List() ([]Model, error) {
	var out []Model
	if s.Dir == "" {
		return nil, nil // no store configured: only paths resolve
	}
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == s.Dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".gguf") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Dir, path)
		out = append(out, describe(path, filepath.ToSlash(rel), info.Size()))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modelstore: listing %s: %w", s.Dir, err)
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func describe(path, name string, size int64) Model {
	m := Model{Name: name, Path: path, Size: size, Quant: QuantFromName(filepath.Base(name))}
	if f, err := gguf.Open(path); err == nil {
		if ft, ok := f.Uint("general.file_type"); ok {
			if q := FileTypeName(ft); q != "" {
				m.Quant = q
			}
		}
		m.Arch, _ = f.String("general.architecture")
		f.Close()
	}
	if parts := strings.Split(name, "/"); len(parts) == 3 && m.Quant != "" {
		m.Ref = parts[0] + "/" + parts[1] + ":" + m.Quant
	}
	return m
}

// Resolve turns what a user typed for --model into a file path: an
// existing file path; a store name ("owner/repo/file.gguf", or the file
// name alone when only one repository has it); or a pull reference
// ("owner/repo:QUANT", or "owner/repo" when it holds one model).
func (s *Store) Resolve(nameOrPath string) (string, error) {
	if nameOrPath == "" {
		return "", errors.New("modelstore: no model given")
	}
	if st, err := os.Stat(nameOrPath); err == nil && !st.IsDir() {
		return nameOrPath, nil
	}
	models, err := s.List()
	if err != nil {
		return "", err
	}
	want := strings.ToLower(nameOrPath)
	var hits []Model
	for _, m := range models {
		name := strings.ToLower(m.Name)
		base := strings.ToLower(filepath.Base(m.Name))
		dir := strings.ToLower(filepath.Dir(m.Name))
		switch {
		case want == name, want == strings.TrimSuffix(name, ".gguf"),
			want == base, want == strings.TrimSuffix(base, ".gguf"),
			m.Ref != "" && want == strings.ToLower(m.Ref),
			want == dir:
			hits = append(hits, m)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0].Path, nil
	case 0:
		return "", fmt.Errorf("modelstore: no model %q: not a file, and not in %s (run 'thinkstream models' to list, 'thinkstream pull' to download)", nameOrPath, s.Dir)
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.Name
	}
	return "", fmt.Errorf("modelstore: %q matches %d models (%s); name one", nameOrPath, len(hits), strings.Join(names, ", "))
}

// ResolveModel is Resolve on the store in dir.
func ResolveModel(dir, nameOrPath string) (string, error) {
	return (&Store{Dir: dir}).Resolve(nameOrPath)
}
