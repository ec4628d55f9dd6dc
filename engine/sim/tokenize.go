package sim

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxWordPiece is the longest run of letters emitted as one token. Real BPE
// vocabularies hold common words whole and split rare long ones; cutting
// every long word gives streams a similar mix of piece lengths.
const maxWordPiece = 7

// tokenize appends the token-sized pieces of text to dst, split the way a
// byte-level BPE tends to split English, LaTeX and code: a word with its
// leading space, each digit alone, punctuation alone (short runs of the same
// mark, such as ``` or **, together), runs of newlines, and indentation as
// its own piece. Concatenating the pieces gives text back exactly, and the
// split depends only on text, never on the seed.
func tokenize(dst []string, text string) []string {
	i := 0
	for i < len(text) {
		n := pieceLen(text[i:])
		dst = append(dst, text[i:i+n])
		i += n
	}
	return dst
}

// pieceLen returns the byte length of the token at the start of s (len(s) > 0).
func pieceLen(s string) int {
	c := s[0]
	switch {
	case c == '\n':
		// "\n" and "\n\n" are single tokens in most vocabularies.
		if len(s) > 1 && s[1] == '\n' {
			return 2
		}
		return 1
	case c == ' ' || c == '\t':
		n := 1
		for n < len(s) && s[n] == c {
			n++
		}
		// A single space attaches to the word that follows; indentation
		// keeps its last space for that word too.
		if n < len(s) && isWordStart(s[n:]) {
			if n == 1 {
				return 1 + wordLen(s[1:])
			}
			return n - 1
		}
		// " =" and " +" are common tokens too.
		if n == 1 && len(s) > 1 && isPunct(s[1]) {
			return 1 + punctLen(s[1:])
		}
		return n
	case c >= '0' && c <= '9':
		return 1
	case c == '\\':
		// LaTeX commands (\frac, \boxed) are frequent enough to be whole.
		n := 1
		for n < len(s) && n < maxWordPiece+1 && isASCIILetter(s[n]) {
			n++
		}
		return n
	case isWordStart(s):
		return wordLen(s)
	case c < utf8.RuneSelf:
		return punctLen(s)
	default:
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
}

// punctLen returns the length of a run of up to three of the same mark.
func punctLen(s string) int {
	n := 1
	for n < len(s) && n < 3 && s[n] == s[0] {
		n++
	}
	return n
}

func isPunct(c byte) bool {
	return c > ' ' && c < utf8.RuneSelf && c != '\\' && !isASCIILetter(c) && (c < '0' || c > '9')
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isWordStart reports whether s starts with a letter that words are built
// of. CJK and other symbols are left out: those are a token per character.
func isWordStart(s string) bool {
	if isASCIILetter(s[0]) {
		return true
	}
	if s[0] < utf8.RuneSelf {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r)
}

func isWordRune(r rune) bool { return r < 0x2E80 && unicode.IsLetter(r) }

// wordLen returns the length of the word piece at the start of s. Words of
// up to maxWordPiece letters are one piece; longer ones are cut into nearly
// equal pieces ("understand" into "under" and "stand"), the way merges
// tend to split rare words at the middle rather than after a fixed count.
func wordLen(s string) int {
	var ends []int // byte offset after each letter
	for n := 0; n < len(s); {
		size := 1
		if !isASCIILetter(s[n]) {
			var r rune
			r, size = utf8.DecodeRuneInString(s[n:])
			if !isWordRune(r) {
				break
			}
		}
		n += size
		ends = append(ends, n)
		if len(ends) > 4*maxWordPiece {
			break // enough to decide the first piece
		}
	}
	letters := len(ends)
	if letters <= maxWordPiece {
		return ends[letters-1]
	}
	pieces := (letters + maxWordPiece - 2) / (maxWordPiece - 1)
	first := (letters + pieces - 1) / pieces
	return ends[first-1]
}

// Tag spellings the reasoning parser must find. They are special tokens in
// VibeThinker's vocabulary, but streams through an OpenAI-compatible
// server, or detokenised in pieces, deliver them split.
const (
	openTag  = "<think>"
	closeTag = "</think>"
)

// tagSplits are the ways the sim cuts a tag in two; index 0 keeps it whole.
var tagSplits = map[string][]int{
	openTag:  {0, 1, 3, 6},
	closeTag: {0, 1, 2, 5},
}

// splitTag appends tag as one or two tokens; cut (from the run's PRNG)
// chooses how, so a seed always splits the same way.
func splitTag(dst []string, tag string, cut uint64) []string {
	splits := tagSplits[tag]
	at := splits[cut%uint64(len(splits))]
	if at == 0 {
		return append(dst, tag)
	}
	return append(dst, tag[:at], tag[at:])
}

// tokenizeScript splits a script, treating the think tags as special: each
// tag is its own token or is split in two, decided by cuts (one value per
// tag, in order).
func tokenizeScript(dst []string, text string, cuts func() uint64) []string {
	for text != "" {
		i, tag := nextTag(text)
		if i < 0 {
			return tokenize(dst, text)
		}
		dst = tokenize(dst, text[:i])
		dst = splitTag(dst, tag, cuts())
		text = text[i+len(tag):]
	}
	return dst
}

// nextTag finds the first think tag in s.
func nextTag(s string) (int, string) {
	o, c := strings.Index(s, openTag), strings.Index(s, closeTag)
	switch {
	case o < 0 && c < 0:
		return -1, ""
	case c < 0 || (o >= 0 && o < c):
		return o, openTag
	default:
		return c, closeTag
	}
}
