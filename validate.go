package thinkstream

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// FieldError is a run request that breaks a rule: the offending field
// ("params.temperature") and what is wrong, in words a client may be shown.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// RequestLimits are the rules every front door (the runs API, /infer, the
// OpenAI-compatible API) checks a run request against, so that none of
// them lets through what another refuses.
type RequestLimits struct {
	MaxProblemBytes int      // problem and system text (default 16 KiB)
	MaxTokens       int      // cap for max_tokens (default 40960)
	Profiles        []string // known profiles (empty: any name)
}

// Validate returns a *FieldError for the first rule req breaks, or nil.
func (l RequestLimits) Validate(req RunRequest) error {
	if l.MaxProblemBytes <= 0 {
		l.MaxProblemBytes = 16 << 10
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = 40960
	}
	if fe := CheckText("problem", req.Problem, true, l.MaxProblemBytes); fe != nil {
		return fe
	}
	if fe := CheckText("system", req.System, false, l.MaxProblemBytes); fe != nil {
		return fe
	}
	total := 0
	for i, m := range req.Messages {
		total += len(m.Content)
		if fe := CheckText(fmt.Sprintf("messages[%d].content", i), m.Content, false, l.MaxProblemBytes); fe != nil {
			return fe
		}
	}
	if limit := 4 * l.MaxProblemBytes; total > limit {
		return &FieldError{"messages", fmt.Sprintf("must be at most %d bytes together (got %d)", limit, total)}
	}
	if req.Profile != "" && len(l.Profiles) > 0 && !slices.Contains(l.Profiles, req.Profile) {
		return &FieldError{"profile", "must be one of " + strings.Join(l.Profiles, ", ")}
	}
	if fe := checkParams(req.Params, l.MaxTokens); fe != nil {
		return fe
	}
	return nil
}

// CheckText validates free text: non-empty when required, bounded, and
// without NUL or control characters other than tab, newline and CR (they
// would reach terminals and logs of every viewer).
func CheckText(field, s string, required bool, maxBytes int) *FieldError {
	if strings.TrimSpace(s) == "" {
		if required {
			return &FieldError{field, "must not be empty"}
		}
		return nil
	}
	if len(s) > maxBytes {
		return &FieldError{field, fmt.Sprintf("must be at most %d bytes (got %d)", maxBytes, len(s))}
	}
	for i, c := range s {
		if c == utf8.RuneError {
			return &FieldError{field, "contains invalid UTF-8"}
		}
		if c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return &FieldError{field, fmt.Sprintf("contains control character U+%04X at byte %d", c, i)}
		}
	}
	return nil
}

// finite reports whether an optional number is unset or a real number
// (JSON cannot carry NaN, but query strings and Go callers can).
func finite(p *float64) bool { return p == nil || (!math.IsNaN(*p) && !math.IsInf(*p, 0)) }

func checkParams(p Params, maxTokens int) *FieldError {
	for name, v := range map[string]*float64{"temperature": p.Temperature, "top_p": p.TopP, "min_p": p.MinP,
		"repetition_penalty": p.RepetitionPenalty, "presence_penalty": p.PresencePenalty} {
		if !finite(v) {
			return &FieldError{"params." + name, "must be a finite number"}
		}
	}
	switch {
	case p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2):
		return &FieldError{"params.temperature", "must be between 0 and 2"}
	case p.TopP != nil && (*p.TopP <= 0 || *p.TopP > 1):
		return &FieldError{"params.top_p", "must be greater than 0 and at most 1"}
	case p.TopK != nil && *p.TopK < -1:
		return &FieldError{"params.top_k", "must be -1 (off), 0 (off) or positive"}
	case p.MinP != nil && (*p.MinP < 0 || *p.MinP > 1):
		return &FieldError{"params.min_p", "must be between 0 and 1"}
	case p.RepetitionPenalty != nil && (*p.RepetitionPenalty <= 0 || *p.RepetitionPenalty > 10):
		return &FieldError{"params.repetition_penalty", "must be greater than 0 and at most 10"}
	case p.PresencePenalty != nil && (*p.PresencePenalty < -2 || *p.PresencePenalty > 2):
		return &FieldError{"params.presence_penalty", "must be between -2 and 2"}
	case p.MaxTokens < 0 || p.MaxTokens > maxTokens:
		return &FieldError{"params.max_tokens", fmt.Sprintf("must be between 1 and %d", maxTokens)}
	case len(p.Stop) > 4:
		return &FieldError{"params.stop", "at most 4 stop strings"}
	}
	for _, s := range p.Stop {
		if s == "" || len(s) > 64 {
			return &FieldError{"params.stop", "each stop string must be 1 to 64 bytes"}
		}
	}
	return nil
}
