package reasoning

import (
	"strings"

	"github.com/thinkstream/thinkstream"
)

// Values of Event.Channel on code events: where the block is.
const (
	CodeChannelThinking = "thinking"
	CodeChannelAnswer   = "answer"
)

const (
	openTag  = "<think>"
	closeTag = "</think>"

	// maxFenceLine is how many bytes of a line that may still be a code
	// fence are held back. A longer line is not a fence (the decision
	// depends on the bytes only, never on where tokens were cut).
	maxFenceLine = 256
)

// Options configure a Parser.
type Options struct {
	// StartInThinking says what raw text is before any tag. When true, text
	// is reasoning until </think>; this is what chat templates that put
	// <think> into the prompt (and so never let the model write it) need, and
	// it is what DefaultOptions sets. When false, raw text is answer unless
	// it starts, after optional whitespace, with <think>; with no tag at all
	// everything is answer, and a </think> without its <think> is text.
	//
	// Either way a leading <think> is consumed, so the same parser handles
	// models that write the tag and templates that do not. The zero Options
	// has StartInThinking false; start from DefaultOptions.
	StartInThinking bool
}

// DefaultOptions returns the options for a reasoning model:
// StartInThinking true.
func DefaultOptions() Options { return Options{StartInThinking: true} }

// tagState is where the tag layer is.
type tagState uint8

const (
	tagPre    tagState = iota // only whitespace so far: a leading <think> is possible
	tagThink                  // in the reasoning: looking for </think>
	tagAnswer                 // no more tags
)

// region is the part of the output that text belongs to.
type region uint8

const (
	regionNone region = iota
	regionThinking
	regionAnswer
)

// Parser turns one run's tokens into events. See the package documentation.
type Parser struct {
	startInThinking bool

	// Tag layer.
	tag      tagState
	hold     string // held-back proper prefix of openTag or closeTag (a substring of them)
	preWS    []byte // whitespace before a possible leading <think> (StartInThinking false)
	consumed int    // bytes of tags consumed

	// Block layer.
	region   region
	cand     candidate // the start of a line that may be a fence
	lineBuf  []byte    // bytes of cand that came in earlier tokens
	inCode   bool
	codeCh   byte // fence character of the open block
	codeN    int  // fence length of the open block
	codeLang string
	block    int    // number of the last block opened
	step     int    // index of the current step (0 before the first)
	nl       int    // newlines since the last non-whitespace byte of reasoning prose
	pendWS   []byte // whitespace of the reasoning before its first step

	// Result.
	box      [2]boxScanner // reasoning, answer
	curLine  []byte        // current line of answer prose
	lastLine []byte        // last non-empty line of answer prose, trimmed

	out  []thinkstream.Event
	base int // events of out before this call, never merged into
	done bool
}

// NewParser returns a parser for one run.
func NewParser(opts Options) *Parser {
	p := &Parser{startInThinking: opts.StartInThinking}
	p.cand.begin(0)
	return p
}

// Add feeds one token and returns the events it completes (often one, may
// be none). It is AppendAdd(nil, tok).
func (p *Parser) Add(tok thinkstream.Token) []thinkstream.Event {
	return p.AppendAdd(nil, tok)
}

// AppendAdd is Add appending to dst, so that a caller that reuses dst feeds
// most tokens without allocating. Events already in dst are not changed.
//
// A ChannelRaw token (or one with an unknown channel) goes through tag
// detection; ChannelReasoning and ChannelAnswer tokens are reasoning and
// answer as they are, and also decide what later raw tokens are (reasoning
// until </think>, or answer). An empty token does nothing. After Finish,
// AppendAdd returns dst unchanged.
func (p *Parser) AppendAdd(dst []thinkstream.Event, tok thinkstream.Token) []thinkstream.Event {
	if p.done || tok.Text == "" {
		return dst
	}
	p.out, p.base = dst, len(dst)
	switch tok.Channel {
	case thinkstream.ChannelReasoning:
		p.explicit(regionThinking, tok.Text)
	case thinkstream.ChannelAnswer:
		p.explicit(regionAnswer, tok.Text)
	default:
		p.raw(tok.Text)
	}
	dst = p.out
	p.out = nil
	return dst
}

// Finish ends the run: it releases held-back text, closes what is open
// (an unterminated code block simply ends; nothing is added to its text)
// and emits the result event when an answer was found. Later calls to Add,
// AppendAdd and Finish return no events.
func (p *Parser) Finish() []thinkstream.Event {
	return p.AppendFinish(nil)
}

// AppendFinish is Finish appending to dst.
func (p *Parser) AppendFinish(dst []thinkstream.Event) []thinkstream.Event {
	if p.done {
		return dst
	}
	p.done = true
	p.out, p.base = dst, len(dst)
	switch p.tag {
	case tagPre:
		h := p.hold
		p.hold = ""
		p.leavePre()
		p.feed(h)
	case tagThink:
		h := p.hold
		p.hold = ""
		p.feed(h)
	}
	p.setRegion(regionNone)
	if ans, ok := p.result(); ok {
		p.out = append(p.out, thinkstream.Event{Type: thinkstream.EventResult, Answer: ans})
	}
	dst = p.out
	p.out = nil
	return dst
}

// ---- Tag layer ----

// raw handles ChannelRaw text.
func (p *Parser) raw(s string) {
	for len(s) > 0 {
		switch p.tag {
		case tagAnswer:
			p.setRegion(regionAnswer)
			p.feed(s)
			return

		case tagThink:
			p.setRegion(regionThinking)
			if p.hold != "" {
				full, partial, n := matchTag(p.hold, s, closeTag)
				if full {
					p.hold = ""
					p.endThinking()
					s = s[n:]
					continue
				}
				if partial {
					p.hold = closeTag[:len(p.hold)+len(s)]
					return
				}
				// Not a tag. The held bytes hold no '<' after their
				// first, so no tag can start inside them: release them
				// and look at s afresh.
				h := p.hold
				p.hold = ""
				p.feed(h)
			}
			if k := strings.Index(s, closeTag); k >= 0 {
				p.feed(s[:k])
				p.endThinking()
				s = s[k+len(closeTag):]
				continue
			}
			h := heldSuffix(s, closeTag)
			p.feed(s[:len(s)-h])
			p.hold = closeTag[:h]
			return

		default: // tagPre
			if p.hold == "" {
				i := 0
				for i < len(s) && isSpace(s[i]) {
					i++
				}
				if i > 0 {
					if p.startInThinking {
						p.setRegion(regionThinking)
						p.feed(s[:i])
					} else {
						p.preWS = append(p.preWS, s[:i]...)
					}
					s = s[i:]
					if s == "" {
						return
					}
				}
				if s[0] != '<' {
					p.leavePre()
					continue
				}
			}
			fullOpen, partOpen, n := matchTag(p.hold, s, openTag)
			if fullOpen {
				p.hold = ""
				p.consumed += len(openTag)
				p.tag = tagThink
				p.setRegion(regionThinking)
				p.flushPreWS()
				s = s[n:]
				continue
			}
			var partClose bool
			if p.startInThinking {
				var fullClose bool
				fullClose, partClose, n = matchTag(p.hold, s, closeTag)
				if fullClose {
					p.hold = ""
					p.endThinking()
					s = s[n:]
					continue
				}
			}
			if partOpen {
				p.hold = openTag[:len(p.hold)+len(s)]
				return
			}
			if partClose {
				p.hold = closeTag[:len(p.hold)+len(s)]
				return
			}
			h := p.hold
			p.hold = ""
			p.leavePre()
			p.feed(h)
		}
	}
}

// explicit handles text whose region the engine already knows.
func (p *Parser) explicit(r region, s string) {
	// Release what raw tokens left held back, in the region they would
	// have gone to (before the decision: the region of this token).
	if p.tag == tagPre {
		p.setRegion(r)
		p.flushPreWS()
	}
	if p.hold != "" {
		h := p.hold
		p.hold = ""
		p.feed(h)
	}
	if r == regionThinking {
		p.tag = tagThink
	} else {
		p.tag = tagAnswer
	}
	p.setRegion(r)
	p.feed(s)
}

// leavePre decides that raw text does not start with <think>.
func (p *Parser) leavePre() {
	if p.startInThinking {
		p.tag = tagThink
		p.setRegion(regionThinking)
		return
	}
	p.tag = tagAnswer
	p.setRegion(regionAnswer)
	p.flushPreWS()
}

// endThinking consumes </think>.
func (p *Parser) endThinking() {
	p.consumed += len(closeTag)
	p.tag = tagAnswer
	p.setRegion(regionAnswer)
}

func (p *Parser) flushPreWS() {
	if len(p.preWS) > 0 {
		ws := string(p.preWS)
		p.preWS = p.preWS[:0]
		p.feed(ws)
	}
}

// matchTag compares the held bytes h followed by s with tag. full: h+s
// starts with tag, and n bytes of s complete it. partial: h+s is a proper
// prefix of tag.
func matchTag(h, s, tag string) (full, partial bool, n int) {
	if !strings.HasPrefix(tag, h) {
		return false, false, 0
	}
	rest := tag[len(h):]
	if len(s) >= len(rest) {
		return s[:len(rest)] == rest, false, len(rest)
	}
	return false, rest[:len(s)] == s, 0
}

// heldSuffix returns the length of the longest suffix of s that is a
// proper prefix of tag. Tags have their only '<' first, so the suffix can
// only start at the last '<' of s.
func heldSuffix(s, tag string) int {
	lo := max(len(s)-(len(tag)-1), 0)
	j := strings.LastIndexByte(s[lo:], '<')
	if j < 0 {
		return 0
	}
	if j += lo; strings.HasPrefix(tag, s[j:]) {
		return len(s) - j
	}
	return 0
}

// ---- Block layer ----

// candidate tracks the start of a line that may be a code fence.
type candidate struct {
	active bool
	start  int  // index in the current text where it began (0 if it began earlier)
	n      int  // bytes seen
	indent int  // leading spaces
	ch     byte // fence character, 0 while in the indentation
	count  int  // fence characters
	info   bool // past the fence characters
}

func (c *candidate) begin(at int) { *c = candidate{active: true, start: at} }

type verdict uint8

const (
	undecided verdict = iota
	notFence
	isFence // the byte was the newline ending a fence line
)

// minFence is the fence length that opens (or, in a block, closes) a block.
func (p *Parser) minFence() int {
	if p.inCode {
		return p.codeN
	}
	return 3
}

// advance feeds one more byte of a candidate line.
func (p *Parser) advance(b byte) verdict {
	c := &p.cand
	c.n++
	if c.n > maxFenceLine {
		return notFence
	}
	switch {
	case c.ch == 0:
		if b == ' ' && c.indent < 3 {
			c.indent++
			return undecided
		}
		if (b == '`' || b == '~') && (!p.inCode || b == p.codeCh) {
			c.ch, c.count = b, 1
			return undecided
		}
		return notFence
	case !c.info:
		if b == c.ch {
			c.count++
			return undecided
		}
		if c.count < p.minFence() {
			return notFence
		}
		c.info = true
	}
	switch {
	case b == '\n':
		return isFence
	case p.inCode: // a closing fence has only whitespace after it
		if b == ' ' || b == '\t' || b == '\r' {
			return undecided
		}
		return notFence
	case c.ch == '`' && b == '`': // no backtick in a backtick fence's info string
		return notFence
	}
	return undecided
}

// feed runs text of the current region through the block layer.
func (p *Parser) feed(s string) {
	if s == "" {
		return
	}
	run, i := 0, 0 // s[run:i] is decided but not yet emitted
	if p.cand.active {
		p.cand.start = 0
	}
	for i < len(s) {
		if !p.cand.active {
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				break // the rest is decided: no candidate line starts in it
			}
			i += j + 1
			p.cand.begin(i)
			continue
		}
		switch p.advance(s[i]) {
		case undecided:
			i++
		case notFence:
			// An ordinary line: it joins the run (and s[i] is looked at
			// again as part of it). Bytes held from earlier tokens come
			// first; then run is 0, as nothing of s has been emitted.
			p.cand.active = false
			if len(p.lineBuf) > 0 {
				held := string(p.lineBuf)
				p.lineBuf = p.lineBuf[:0]
				p.text(held)
			}
		case isFence:
			i++
			start := p.cand.start
			if p.inCode {
				if len(p.lineBuf) > 0 {
					held := string(p.lineBuf)
					p.lineBuf = p.lineBuf[:0]
					p.text(held)
				}
				p.text(s[run:i])
				p.closeBlock()
				run = i
			} else {
				p.text(s[run:start])
				if len(p.lineBuf) > 0 {
					line := string(p.lineBuf) + s[start:i]
					p.lineBuf = p.lineBuf[:0]
					p.openBlock(line)
					p.text(line)
					run = i
				} else {
					// The fence line starts the block's run.
					p.openBlock(s[start:i])
					run = start
				}
			}
			p.cand.begin(i)
		}
	}
	if p.cand.active {
		p.text(s[run:p.cand.start])
		p.lineBuf = append(p.lineBuf, s[p.cand.start:]...)
	} else {
		p.text(s[run:])
	}
}

// openBlock starts a code block at the fence line line.
func (p *Parser) openBlock(line string) {
	if p.region == regionThinking {
		p.beginContent()
	}
	p.block++
	p.inCode = true
	p.codeCh = p.cand.ch
	p.codeN = p.cand.count
	p.codeLang = fenceLang(line)
}

func (p *Parser) closeBlock() {
	p.inCode = false
	p.codeLang = ""
	p.nl = 1 // the closing fence line ended with a newline
}

// fenceLang returns the first word of a fence line's info string.
func fenceLang(line string) string {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	ch := line[i]
	for i < len(line) && line[i] == ch {
		i++
	}
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	j := i
	for j < len(line) && !isSpace(line[j]) {
		j++
	}
	return line[i:j]
}

// setRegion moves to region r, ending the current one: held line starts
// are decided (a fence cut off by the end of its region still counts),
// whitespace before a first step that never came is emitted with Step 0,
// and code blocks, boxes and lines are closed.
func (p *Parser) setRegion(r region) {
	if p.region == r {
		return
	}
	if old := p.region; old != regionNone {
		if p.cand.active && len(p.lineBuf) > 0 {
			held := string(p.lineBuf)
			p.lineBuf = p.lineBuf[:0]
			switch {
			case p.cand.ch == 0 || p.cand.count < p.minFence():
				p.text(held)
			case p.inCode:
				p.text(held)
				p.closeBlock()
			default:
				p.openBlock(held)
				p.text(held)
			}
		}
		if old == regionThinking {
			if len(p.pendWS) > 0 {
				ws := string(p.pendWS)
				p.pendWS = p.pendWS[:0]
				p.emit(thinkstream.EventThinking, ws)
			}
			p.nl = 2 // reasoning that resumes starts a new step
		} else {
			p.endLine()
		}
		p.box[old-1].reset()
		p.inCode = false
		p.codeLang = ""
	}
	p.cand.begin(0)
	p.region = r
}

// text emits decided text of the current region.
func (p *Parser) text(t string) {
	switch {
	case t == "":
	case p.inCode:
		p.emit(thinkstream.EventCode, t)
	case p.region == regionThinking:
		p.thinkingProse(t)
	default:
		p.emit(thinkstream.EventAnswer, t)
	}
}

// thinkingProse emits reasoning prose, starting steps where paragraphs start.
func (p *Parser) thinkingProse(t string) {
	start, k := 0, 0
	for k < len(t) {
		if p.nl == 0 && p.step > 0 {
			// Inside a paragraph only a newline can matter.
			j := strings.IndexByte(t[k:], '\n')
			if j < 0 {
				break
			}
			k += j + 1
			p.nl = 1
			continue
		}
		switch c := t[k]; {
		case c == '\n':
			p.nl++
		case isSpace(c):
		case p.step == 0 || p.nl >= 2:
			p.thinkingText(t[start:k])
			start = k
			p.beginContent()
		default:
			p.nl = 0
		}
		k++
	}
	p.thinkingText(t[start:])
}

// thinkingText emits reasoning prose of the current step (whitespace only,
// held back, before the first step).
func (p *Parser) thinkingText(t string) {
	if t == "" {
		return
	}
	if p.step == 0 {
		p.pendWS = append(p.pendWS, t...)
		return
	}
	p.emit(thinkstream.EventThinking, t)
}

// beginContent is called at a non-whitespace byte of the reasoning that
// begins prose or a code block: it starts a step if one begins here.
func (p *Parser) beginContent() {
	if p.step == 0 || p.nl >= 2 {
		p.step++
		p.out = append(p.out, thinkstream.Event{Type: thinkstream.EventStep, Index: p.step})
		if len(p.pendWS) > 0 {
			ws := string(p.pendWS)
			p.pendWS = p.pendWS[:0]
			p.emit(thinkstream.EventThinking, ws)
		}
	}
	p.nl = 0
}

// emit appends a delta event, merged into the previous one of this call
// when that has the same type and fields, and feeds the result scanners.
func (p *Parser) emit(typ, t string) {
	ev := thinkstream.Event{Type: typ, Text: t}
	switch typ {
	case thinkstream.EventThinking:
		ev.Step = p.step
	case thinkstream.EventCode:
		ev.Block, ev.Lang = p.block, p.codeLang
		if p.region == regionThinking {
			ev.Channel, ev.Step = CodeChannelThinking, p.step
		} else {
			ev.Channel = CodeChannelAnswer
		}
	}
	if n := len(p.out); n > p.base && sameDelta(&p.out[n-1], &ev) {
		p.out[n-1].Text += t
	} else {
		p.out = append(p.out, ev)
	}
	p.box[p.region-1].feed(t)
	if typ == thinkstream.EventAnswer {
		p.lineFeed(t)
	}
}

func sameDelta(a, b *thinkstream.Event) bool {
	return a.Type == b.Type && a.Step == b.Step && a.Block == b.Block &&
		a.Lang == b.Lang && a.Channel == b.Channel
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}
