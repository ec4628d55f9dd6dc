package reasoning

import (
	"bytes"
	"strings"
)

// maxBoxed bounds the bytes kept for open boxes; a box whose content grows
// past it (an unbalanced brace, most likely) is dropped.
const maxBoxed = 16 << 10

// Keyword states of boxScanner: how much of `\boxed` or `\fbox` was seen.
const (
	kwIdle  uint8 = iota
	kwSlash       // \
	kwB           // \b
	kwBo          // \bo
	kwBox         // \box
	kwBoxe        // \boxe
	kwF           // \f
	kwFb          // \fb
	kwFbo         // \fbo
	kwBrace       // \boxed or \fbox: whitespace, then '{' opens a box
)

// boxScanner finds the content of \boxed{…} and \fbox{…} in streamed text.
// Braces nest; \{ and \} are literal. Boxes inside boxes are found too.
type boxScanner struct {
	kw    uint8
	esc   bool      // the previous byte was an unescaped backslash
	depth int       // brace depth while a box is open
	open  []openBox // open boxes, outermost first
	buf   []byte    // text since the outermost open box's '{'
	last  []byte    // content of the last box that closed, trimmed
	found bool
}

type openBox struct {
	start int // content start in buf
	depth int // depth inside the box
}

func (b *boxScanner) reset() {
	b.kw, b.esc, b.depth = kwIdle, false, 0
	b.open = b.open[:0]
	b.buf = b.buf[:0]
}

func (b *boxScanner) feed(s string) {
	for i := 0; i < len(s); i++ {
		if b.kw == kwIdle && !b.esc && len(b.open) == 0 {
			j := strings.IndexByte(s[i:], '\\')
			if j < 0 {
				return
			}
			i += j
		}
		c := s[i]
		if len(b.open) > 0 {
			if len(b.buf) >= maxBoxed {
				b.open, b.buf, b.depth = b.open[:0], b.buf[:0], 0
			} else {
				b.buf = append(b.buf, c)
			}
		}
		if c == '\\' {
			b.esc = !b.esc
			if b.esc {
				b.kw = kwSlash
			} else {
				b.kw = kwIdle
			}
			continue
		}
		escaped := b.esc
		b.esc = false
		opens := false
		if b.kw != kwIdle {
			b.kw, opens = nextKW(b.kw, c)
		}
		if escaped {
			continue
		}
		switch c {
		case '{':
			if opens {
				b.open = append(b.open, openBox{start: len(b.buf), depth: b.depth + 1})
			}
			if len(b.open) > 0 {
				b.depth++
			}
		case '}':
			if n := len(b.open); n > 0 {
				if top := b.open[n-1]; top.depth == b.depth {
					b.record(b.buf[top.start : len(b.buf)-1])
					b.open = b.open[:n-1]
				}
				b.depth--
				if len(b.open) == 0 {
					b.buf, b.depth = b.buf[:0], 0
				}
			}
		}
	}
}

func (b *boxScanner) record(content []byte) {
	if t := bytes.TrimSpace(content); len(t) > 0 {
		b.last = append(b.last[:0], t...)
		b.found = true
	}
}

// nextKW advances the keyword state by c; opens reports a '{' that opens a box.
func nextKW(state uint8, c byte) (next uint8, opens bool) {
	switch state {
	case kwSlash:
		switch c {
		case 'b':
			return kwB, false
		case 'f':
			return kwF, false
		}
	case kwB:
		if c == 'o' {
			return kwBo, false
		}
	case kwBo:
		if c == 'x' {
			return kwBox, false
		}
	case kwBox:
		if c == 'e' {
			return kwBoxe, false
		}
	case kwBoxe:
		if c == 'd' {
			return kwBrace, false
		}
	case kwF:
		if c == 'b' {
			return kwFb, false
		}
	case kwFb:
		if c == 'o' {
			return kwFbo, false
		}
	case kwFbo:
		if c == 'x' {
			return kwBrace, false
		}
	case kwBrace:
		if c == '{' {
			return kwIdle, true
		}
		if isSpace(c) {
			return kwBrace, false
		}
	}
	return kwIdle, false
}

// lineFeed records answer prose line by line.
func (p *Parser) lineFeed(t string) {
	for {
		j := strings.IndexByte(t, '\n')
		if j < 0 {
			p.curLine = append(p.curLine, t...)
			return
		}
		p.curLine = append(p.curLine, t[:j]...)
		p.endLine()
		t = t[j+1:]
	}
}

func (p *Parser) endLine() {
	if t := bytes.TrimSpace(p.curLine); len(t) > 0 {
		p.lastLine = append(p.lastLine[:0], t...)
	}
	p.curLine = p.curLine[:0]
}

// result picks the run's answer: the last box of the answer, else of the
// reasoning, else the answer's last non-empty prose line.
func (p *Parser) result() (string, bool) {
	if b := &p.box[regionAnswer-1]; b.found {
		return string(b.last), true
	}
	if b := &p.box[regionThinking-1]; b.found {
		return string(b.last), true
	}
	if len(p.lastLine) > 0 {
		if a := stripAnswerLabel(string(p.lastLine)); a != "" {
			return a, true
		}
	}
	return "", false
}

// stripAnswerLabel removes a leading "Final answer:" or "Answer:" (any
// case, optionally bold: "**Answer:**", "**Answer**:") from a trimmed line.
func stripAnswerLabel(s string) string {
	for _, label := range [...]string{"final answer", "answer"} {
		t := s
		bold := strings.HasPrefix(t, "**")
		if bold {
			t = t[2:]
		}
		if len(t) < len(label) || !strings.EqualFold(t[:len(label)], label) {
			continue
		}
		t = t[len(label):]
		switch {
		case bold && strings.HasPrefix(t, ":**"), bold && strings.HasPrefix(t, "**:"):
			t = t[3:]
		case strings.HasPrefix(t, ":"):
			t = t[1:]
		default:
			continue
		}
		return strings.TrimSpace(t)
	}
	return s
}
