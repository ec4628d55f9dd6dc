package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The Qwen2 pre-tokenizer splits text into words before BPE with this
// regular expression (case-insensitive contractions spelled out):
//
//	(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
//	|[^\r\n\p{L}\p{N}]?\p{L}+
//	|\p{N}
//	| ?[^\s\p{L}\p{N}]+[\r\n]*
//	|\s*[\r\n]+
//	|\s+(?!\S)
//	|\s+
//
// Go's regexp has no look-ahead and no backtracking, so nextWord matches it
// by hand, alternative by alternative in the order a backtracking engine
// tries them. Invalid UTF-8 bytes count as one character each that is
// neither letter, number nor space, which keeps every input encodable.

type charClass uint8

const (
	classOther charClass = iota
	classLetter
	classNumber
	classSpace
)

// decodeAt returns the rune at s[i:], its width and its class.
func decodeAt(s string, i int) (rune, int, charClass) {
	c := s[i]
	if c < utf8.RuneSelf {
		r := rune(c)
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return r, 1, classLetter
		case c >= '0' && c <= '9':
			return r, 1, classNumber
		case c == ' ', c >= '\t' && c <= '\r':
			return r, 1, classSpace
		}
		return r, 1, classOther
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return r, 1, classOther
	}
	switch {
	case unicode.IsLetter(r):
		return r, w, classLetter
	case unicode.IsNumber(r):
		return r, w, classNumber
	case unicode.IsSpace(r):
		return r, w, classSpace
	}
	return r, w, classOther
}

// runEnd returns the end of the run of characters of class cls starting at
// i, and the start of the last character of that run.
func runEnd(s string, i int, cls charClass) (end, last int) {
	end, last = i, i
	for end < len(s) {
		_, w, c := decodeAt(s, end)
		if c != cls {
			break
		}
		last = end
		end += w
	}
	return end, last
}

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// nextWord returns the end of the pre-tokenizer match that starts at i
// (i < len(s)). It always advances.
func nextWord(s string, i int) int {
	r, w, cls := decodeAt(s, i)

	// Contractions: 's 't 're 've 'm 'll 'd in any case.
	if r == '\'' && i+1 < len(s) {
		switch s[i+1] | 0x20 {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r':
			if i+2 < len(s) && s[i+2]|0x20 == 'e' {
				return i + 3
			}
		case 'v':
			if i+2 < len(s) && s[i+2]|0x20 == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2]|0x20 == 'l' {
				return i + 3
			}
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == classLetter {
		end, _ := runEnd(s, i, classLetter)
		return end
	}
	if cls != classNumber && !isNewline(r) && i+w < len(s) {
		if _, _, c2 := decodeAt(s, i+w); c2 == classLetter {
			end, _ := runEnd(s, i+w, classLetter)
			return end
		}
	}

	// \p{N}: one digit at a time.
	if cls == classNumber {
		return i + w
	}

	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := -1
	if cls == classOther {
		start = i
	} else if r == ' ' && i+1 < len(s) {
		if _, _, c2 := decodeAt(s, i+1); c2 == classOther {
			start = i + 1
		}
	}
	if start >= 0 {
		end, _ := runEnd(s, start, classOther)
		for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
			end++
		}
		return end
	}

	// What is left starts with white space.
	end, last := runEnd(s, i, classSpace)
	// \s*[\r\n]+: up to and including the last line break of the run.
	for j := last; j >= i; j-- {
		if s[j] == '\r' || s[j] == '\n' {
			return j + 1
		}
	}
	// \s+(?!\S): all of the run at the end of the text, otherwise all
	// but its last character so that it can lead the next word.
	if end == len(s) || last == i {
		return end // the last case is plain \s+
	}
	return last
}
