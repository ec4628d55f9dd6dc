package sim

import (
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// problemFS holds the worked problems. Each file is a few "name: value"
// header lines, a line "---", and the script: exactly the text the model
// would write, think tags included.
//
//go:embed problems/*.md
var problemFS embed.FS

// script is one built-in worked problem.
type script struct {
	name     string // file name without extension
	title    string
	problem  string // the problem the script solves
	keywords []string
	code     bool // a programming problem (header "kind: code")
	text     string
}

// loadScripts parses every embedded problem file, in file name order.
func loadScripts(fsys fs.FS) ([]script, error) {
	names, err := fs.Glob(fsys, "problems/*.md")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	scripts := make([]script, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		s, err := parseScript(string(b))
		if err != nil {
			return nil, fmt.Errorf("sim: %s: %w", name, err)
		}
		s.name = strings.TrimSuffix(path.Base(name), ".md")
		scripts = append(scripts, s)
	}
	if len(scripts) == 0 {
		return nil, fmt.Errorf("sim: no problem scripts")
	}
	return scripts, nil
}

func parseScript(src string) (script, error) {
	head, body, ok := strings.Cut(src, "\n---\n")
	if !ok {
		return script{}, fmt.Errorf("missing --- after the header")
	}
	var s script
	for line := range strings.SplitSeq(head, "\n") {
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			return script{}, fmt.Errorf("header line %q is not name: value", line)
		}
		switch key {
		case "title":
			s.title = value
		case "problem":
			s.problem = value
		case "kind":
			switch value {
			case "code":
				s.code = true
			case "math":
			default:
				return script{}, fmt.Errorf("kind %q: want math or code", value)
			}
		case "keywords":
			for kw := range strings.SplitSeq(value, ";") {
				if kw = normalize(kw); kw != "" {
					s.keywords = append(s.keywords, kw)
				}
			}
		default:
			return script{}, fmt.Errorf("unknown header %q", key)
		}
	}
	s.text = strings.TrimRight(body, "\n") + "\n"
	if s.problem == "" || len(s.keywords) == 0 {
		return script{}, fmt.Errorf("problem and keywords are required")
	}
	if !strings.HasPrefix(s.text, openTag+"\n") || !strings.Contains(s.text, closeTag+"\n\n") {
		return script{}, fmt.Errorf("script must start with %s and close it with %s and a blank line", openTag, closeTag)
	}
	return s, nil
}

// normalize lowercases s and collapses runs of white space, so matching
// ignores case and line wrapping.
func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// matchKind says how a problem text was mapped to a script.
type matchKind int

const (
	matchExact   matchKind = iota // the script's own problem
	matchKeyword                  // shares keywords with it
	matchNone                     // picked from the text and seed
)

// choose picks the script for a problem: the script whose own problem it is;
// else the one matching the most keywords (the earliest file on a tie);
// else one of the problem's kind (a programming problem gets a worked
// programming example) chosen from a hash of the text and seed, so reruns
// agree.
func choose(scripts []script, problem string, code bool, seed int64) (script, matchKind) {
	p := normalize(problem)
	best, bestScore := -1, 0
	for i, s := range scripts {
		if normalize(s.problem) == p {
			return s, matchExact
		}
		score := 0
		for _, kw := range s.keywords {
			if containsWord(p, kw) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best >= 0 {
		return scripts[best], matchKeyword
	}
	pool := make([]script, 0, len(scripts))
	for _, s := range scripts {
		if s.code == code {
			pool = append(pool, s)
		}
	}
	if len(pool) == 0 {
		pool = scripts
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", seed, p)
	return pool[h.Sum64()%uint64(len(pool))], matchNone
}

// codeCues are words that mark a programming problem.
var codeCues = []string{
	"array", "arrays", "string", "strings", "linked list", "tree", "graph", "function", "implement",
	"algorithm", "program", "code", "python", "c++", "java", "complexity", "o(n)", "o(n log n)",
	"subsequence", "substring", "stack", "queue", "sorted array", "sort the",
	"binary search", "dynamic programming", "leetcode", "codeforces", "write a function", "write a program",
}

// isCodeProblem tells a programming problem from a math one: by the
// system prompt (the code profile's) or by cues in the problem text.
func isCodeProblem(system, problem string) bool {
	sys := normalize(system)
	if strings.Contains(sys, "programming") || strings.Contains(sys, "code") {
		return true
	}
	p := normalize(problem)
	for _, cue := range codeCues {
		if containsWord(p, cue) {
			return true
		}
	}
	return false
}

// containsWord reports whether kw occurs in s and is not part of a longer
// word or number ("six" is not in "sixty", "13" not in "2013").
func containsWord(s, kw string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], kw)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(kw)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		first, _ := utf8.DecodeRuneInString(kw)
		last, _ := utf8.DecodeLastRuneInString(kw)
		if (i == 0 || !isAlnum(first) || !isAlnum(before)) &&
			(end == len(s) || !isAlnum(last) || !isAlnum(after)) {
			return true
		}
		off = i + 1
	}
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// maxQuote bounds how much of the problem's first line the simulated
// reasoning quotes.
const maxQuote = 160

// quoteSafe keeps a quoted problem from changing the structure of the
// reasoning around it: a tag would end the thinking early and backticks
// could open a code fence.
var quoteSafe = strings.NewReplacer(openTag, "<think >", closeTag, "</think >", "`", "'")

// scriptText returns the text the sim streams for a problem. Unless the
// problem is the script's own, the reasoning opens with a paragraph saying
// that the output is simulated and quoting the problem, so nobody mistakes
// a replayed example for an answer to their question.
func scriptText(s script, kind matchKind, problem string) string {
	if kind == matchExact {
		return s.text
	}
	first, _, _ := strings.Cut(strings.TrimSpace(problem), "\n")
	first = strings.TrimSpace(first)
	if len(first) > maxQuote {
		cut := maxQuote
		for cut > 0 && !utf8.RuneStart(first[cut]) {
			cut--
		}
		first = first[:cut] + "…"
	}
	first = quoteSafe.Replace(first)
	var note string
	switch kind {
	case matchKeyword:
		note = fmt.Sprintf("This is simulated output for the problem \"%s\". The simulator does not solve problems: it replays the closest built-in worked example, \"%s\".", first, s.title)
	default:
		note = fmt.Sprintf("This is simulated output for the problem \"%s\". The simulator does not solve problems: it replays a built-in worked example, \"%s\", chosen from the problem text and the seed.", first, s.title)
	}
	if first == "" {
		note = fmt.Sprintf("This is simulated output for an empty problem: the simulator replays a built-in worked example, \"%s\".", s.title)
	}
	return openTag + "\n" + note + "\n\n" + strings.TrimPrefix(s.text, openTag+"\n")
}
