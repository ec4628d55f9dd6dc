// Package profile holds model profiles: the prompt shape and sampling
// defaults a kind of problem needs (VibeThinker's math evaluation prompt at
// temperature 1.0, its code prompt at 0.6). Profiles are data: the defaults
// are embedded from profiles.json and a deployment can replace them with a
// file of the same shape (--profiles, THINKSTREAM_PROFILES).
package profile

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/thinkstream/thinkstream"
)

//go:embed profiles.json
var defaultJSON []byte

// Profile is one named set of prompt and sampling defaults.
type Profile struct {
	Name        string `json:"-"`
	Description string `json:"description,omitempty"`
	// System is the system prompt used when the request brings none.
	System string `json:"system,omitempty"`
	// UserSuffix is appended to the (last) user message, after
	// SuffixSeparator, unless that message already contains it.
	UserSuffix      string `json:"user_suffix,omitempty"`
	SuffixSeparator string `json:"suffix_separator,omitempty"`

	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	// TopK 0 means "off" explicitly (engines then disable top-k instead of
	// applying a server default such as llama.cpp's 40); absent means the
	// engine decides.
	TopK              *int     `json:"top_k,omitempty"`
	MinP              *float64 `json:"min_p,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	MaxTokens         int      `json:"max_tokens,omitempty"`

	// maxCap is the Set's max_tokens_cap, copied in so Apply can clamp.
	maxCap int
}

// Set is a loaded collection of profiles. It is immutable and safe for
// concurrent use.
type Set struct {
	def      string
	maxCap   int
	profiles map[string]Profile
}

type fileFormat struct {
	Default      string             `json:"default"`
	MaxTokensCap int                `json:"max_tokens_cap"`
	Profiles     map[string]Profile `json:"profiles"`
}

// Load reads profiles from path, or the embedded defaults when path is "".
// Unknown fields are rejected so a typo in a profile file fails at start-up
// rather than silently sampling with the wrong settings.
func Load(path string) (*Set, error) {
	data := defaultJSON
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read profiles: %w", err)
		}
		data = b
	}
	s, err := parse(data)
	if err != nil {
		if path == "" {
			path = "embedded profiles.json"
		}
		return nil, fmt.Errorf("profiles %s: %w", path, err)
	}
	return s, nil
}

func parse(data []byte) (*Set, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(f.Profiles) == 0 {
		return nil, errors.New("no profiles defined")
	}
	if f.MaxTokensCap < 0 {
		return nil, errors.New("max_tokens_cap must not be negative")
	}
	s := &Set{def: f.Default, maxCap: f.MaxTokensCap, profiles: make(map[string]Profile, len(f.Profiles))}
	for name, p := range f.Profiles {
		if name == "" || strings.ContainsAny(name, " /\t\n") {
			return nil, fmt.Errorf("profile name %q: must be one word", name)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("profile %q: %w", name, err)
		}
		if s.maxCap > 0 && p.MaxTokens > s.maxCap {
			return nil, fmt.Errorf("profile %q: max_tokens %d above max_tokens_cap %d", name, p.MaxTokens, s.maxCap)
		}
		p.Name = name
		p.maxCap = s.maxCap
		s.profiles[name] = p
	}
	if s.def == "" {
		return nil, errors.New("no default profile named")
	}
	if _, ok := s.profiles[s.def]; !ok {
		return nil, fmt.Errorf("default profile %q is not defined", s.def)
	}
	return s, nil
}

func (p Profile) validate() error {
	if t := p.Temperature; t != nil && (*t < 0 || *t > 2) {
		return fmt.Errorf("temperature %v outside [0, 2]", *t)
	}
	if v := p.TopP; v != nil && (*v <= 0 || *v > 1) {
		return fmt.Errorf("top_p %v outside (0, 1]", *v)
	}
	if v := p.TopK; v != nil && *v < 0 {
		return fmt.Errorf("top_k %d is negative (0 means off)", *v)
	}
	if v := p.MinP; v != nil && (*v < 0 || *v > 1) {
		return fmt.Errorf("min_p %v outside [0, 1]", *v)
	}
	if p.MaxTokens < 0 {
		return fmt.Errorf("max_tokens %d is negative", p.MaxTokens)
	}
	return nil
}

// Default returns the name of the profile used when a request names none.
func (s *Set) Default() string { return s.def }

// MaxTokensCap is the largest max_tokens any request may ask for (0 = none).
func (s *Set) MaxTokensCap() int { return s.maxCap }

// Names returns the profile names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.profiles))
	for n := range s.profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Get returns the named profile; "" is the default profile.
func (s *Set) Get(name string) (Profile, error) {
	if name == "" {
		name = s.def
	}
	p, ok := s.profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(s.Names(), ", "))
	}
	return p, nil
}

// Apply builds the messages and parameters of req under this profile.
//
// Without req.Messages the conversation is a system message (req.System, or
// the profile's) and the user message req.Problem with the profile's suffix.
// With req.Messages (the OpenAI-compatible API) the conversation is kept and
// the profile only fills what is absent: a system message when there is
// none, the suffix when the last user message does not already contain it.
//
// Parameters the request left nil (or MaxTokens 0) take the profile's value;
// MaxTokens is clamped to the set's max_tokens_cap.
func (p Profile) Apply(req thinkstream.RunRequest) ([]thinkstream.Message, thinkstream.Params) {
	return p.messages(req), p.params(req.Params)
}

func (p Profile) messages(req thinkstream.RunRequest) []thinkstream.Message {
	if len(req.Messages) == 0 {
		var msgs []thinkstream.Message
		sys := req.System
		if sys == "" {
			sys = p.System
		}
		if sys != "" {
			msgs = append(msgs, thinkstream.Message{Role: "system", Content: sys})
		}
		return append(msgs, thinkstream.Message{Role: "user", Content: p.withSuffix(req.Problem)})
	}
	msgs := slices.Clone(req.Messages)
	hasSystem := slices.ContainsFunc(msgs, func(m thinkstream.Message) bool {
		return m.Role == "system" || m.Role == "developer"
	})
	if !hasSystem {
		sys := req.System
		if sys == "" {
			sys = p.System
		}
		if sys != "" {
			msgs = slices.Insert(msgs, 0, thinkstream.Message{Role: "system", Content: sys})
		}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			msgs[i].Content = p.withSuffix(msgs[i].Content)
			break
		}
	}
	return msgs
}

func (p Profile) withSuffix(s string) string {
	if p.UserSuffix == "" || strings.Contains(s, p.UserSuffix) {
		return s
	}
	return s + p.SuffixSeparator + p.UserSuffix
}

func (p Profile) params(in thinkstream.Params) thinkstream.Params {
	out := in
	out.Stop = slices.Clone(in.Stop)
	if out.Temperature == nil {
		out.Temperature = clonePtr(p.Temperature)
	}
	if out.TopP == nil {
		out.TopP = clonePtr(p.TopP)
	}
	if out.TopK == nil {
		out.TopK = clonePtr(p.TopK)
	}
	if out.MinP == nil {
		out.MinP = clonePtr(p.MinP)
	}
	if out.RepetitionPenalty == nil {
		out.RepetitionPenalty = clonePtr(p.RepetitionPenalty)
	}
	if out.MaxTokens <= 0 {
		out.MaxTokens = p.MaxTokens
	}
	if p.maxCap > 0 && out.MaxTokens > p.maxCap {
		out.MaxTokens = p.maxCap
	}
	return out
}

// clonePtr copies so that a caller changing its Params cannot change the
// profile shared by every run.
func clonePtr[T any](v *T) *T {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// Apply resolves req.Profile (empty: the default) and applies it. It is
// what the run manager calls for every run.
func (s *Set) Apply(req thinkstream.RunRequest) ([]thinkstream.Message, thinkstream.Params, error) {
	p, err := s.Get(req.Profile)
	if err != nil {
		return nil, thinkstream.Params{}, err
	}
	msgs, params := p.Apply(req)
	return msgs, params, nil
}
