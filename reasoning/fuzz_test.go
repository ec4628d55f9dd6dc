package reasoning

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// refSplit is the reference for tag handling: it says, for the whole text
// at once, what is reasoning and what is answer once tags are removed.
func refSplit(s string, startInThinking bool) (thinking, answer string) {
	lead := len(s) - len(strings.TrimLeft(s, " \t\n\r\v\f"))
	if rest, ok := strings.CutPrefix(s[lead:], "<think>"); ok {
		before, after, found := strings.Cut(rest, "</think>")
		if !found {
			return s[:lead] + rest, ""
		}
		return s[:lead] + before, after
	}
	if !startInThinking {
		return "", s
	}
	before, after, _ := strings.Cut(s, "</think>")
	return before, after
}

// chunk cuts text into raw tokens of 1 to 8 bytes as cuts say (cycling
// through them); a cut byte of 248 or more also inserts an empty token. No
// cuts: one token.
func chunk(text string, cuts []byte) []thinkstream.Token {
	if len(cuts) == 0 {
		return raw(text)
	}
	var toks []thinkstream.Token
	for k := 0; text != ""; k++ {
		c := cuts[k%len(cuts)]
		if c >= 248 {
			toks = append(toks, thinkstream.Token{ID: -1})
		}
		n := min(1+int(c)%8, len(text))
		toks = append(toks, thinkstream.Token{Text: text[:n], ID: -1})
		text = text[n:]
	}
	return toks
}

// pending is how many input bytes the parser holds back.
func (p *Parser) pending() int {
	return len(p.hold) + len(p.preWS) + len(p.lineBuf) + len(p.pendWS)
}

func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"",
		"<think>a</think>b",
		"\n<think>\nOkay.\n\nSo.\r\n\r\nx</think>\n\n\\boxed{\\frac{1}{2}}",
		"a</think>b<think>c</think>",
		"  <thin<think></thi</think>",
		"```py\nx\n```\n\n~~~\n```\n~~~~\n</think>````\ncode",
		"  ```a`b\n   ~~~ c\n    ```\n",
		"\\boxed {x} \\fbox{\\{y\\}} \\boxed{\\boxed{z}} \\\\boxed{w}",
		"</think>Answer: 1\n**Final Answer:** 2\n```\n3",
		"<think>\n\n</think>",
		"\xff<\xfe/think>\xe2\x82",
	} {
		f.Add(s, []byte{}, true)
		f.Add(s, []byte{0, 1, 2, 3, 4, 5, 6, 7, 255}, false)
		f.Add(s, []byte{2}, true)
	}
	f.Fuzz(func(t *testing.T, text string, cuts []byte, sit bool) {
		opts := Options{StartInThinking: sit}
		p := NewParser(opts)
		var evs []Event
		fed, emitted := 0, 0
		for _, tok := range chunk(text, cuts) {
			n := len(evs)
			evs = p.AppendAdd(evs, tok)
			fed += len(tok.Text)
			for _, e := range evs[n:] {
				if e.Type == thinkstream.EventResult {
					t.Fatalf("Add emitted a result")
				}
				emitted += len(e.Text)
			}
			// Promptness: all that was fed is emitted, consumed as a
			// tag, or held back, and only a tag start, a fence start or
			// leading whitespace is held back.
			if got, want := emitted+p.pending(), fed-p.consumed; got != want {
				t.Fatalf("after %d bytes: emitted+pending = %d, want %d", fed, got, want)
			}
			if len(p.hold) >= len(closeTag) || len(p.lineBuf) > maxFenceLine ||
				strings.TrimLeft(string(p.preWS)+string(p.pendWS), " \t\n\r\v\f") != "" {
				t.Fatalf("holds too much: hold %q, line %q, preWS %q, pendWS %q", p.hold, p.lineBuf, p.preWS, p.pendWS)
			}
		}
		evs = p.AppendFinish(evs)

		// The invariant: all text but the consumed tags, in order.
		thinking, answer := refSplit(text, sit)
		if got := deltaText(evs); got != thinking+answer {
			t.Fatalf("text = %q, want %q", got, thinking+answer)
		}
		checkEvents(t, evs)

		// Chunking independence, and the same events through channels.
		want := normalize(evs)
		if diff := cmp.Diff(want, normalize(run(opts, raw(text)))); diff != "" {
			t.Fatalf("one token differs (-chunked +one):\n%s", diff)
		}
		if diff := cmp.Diff(want, normalize(run(opts, raw(strings.Split(text, "")...)))); diff != "" {
			t.Fatalf("byte by byte differs (-chunked +bytes):\n%s", diff)
		}
		if diff := cmp.Diff(want, normalize(run(opts, channels(thinking, answer, 1+len(cuts)%5)))); diff != "" {
			t.Fatalf("channels differ (-raw +channels):\n%s", diff)
		}

		// Channels mixed at random (which no engine does): no panic, no
		// text lost, no empty delta.
		toks := chunk(text, cuts)
		for i := range toks {
			if len(cuts) > 0 {
				toks[i].Channel = thinkstream.Channel(cuts[i%len(cuts)] / 8 % 4) // includes an unknown channel
			}
		}
		p = NewParser(opts)
		evs = nil
		for _, tok := range toks {
			evs = p.AppendAdd(evs, tok)
		}
		evs = p.AppendFinish(evs)
		if got, want := len(deltaText(evs)), len(text)-p.consumed; got != want {
			t.Fatalf("mixed channels: %d bytes of text, want %d", got, want)
		}
		for i, e := range evs {
			if thinkstream.IsDelta(e.Type) && e.Text == "" {
				t.Fatalf("mixed channels: event %d: empty %s", i, e.Type)
			}
		}
	})
}

// checkEvents checks the shape of an event list from raw text.
func checkEvents(t *testing.T, evs []Event) {
	t.Helper()
	step, block, lang := 0, 0, ""
	inAnswer := false
	for i, e := range evs {
		if e.Seq != 0 || e.T != 0 || e.From != 0 {
			t.Fatalf("event %d: Seq/T/From set: %+v", i, e)
		}
		if thinkstream.IsDelta(e.Type) && e.Text == "" {
			t.Fatalf("event %d: empty %s", i, e.Type)
		}
		bad := false
		switch e.Type {
		case thinkstream.EventStep:
			bad = inAnswer || e.Index != step+1 || e.Text != ""
			step = e.Index
		case thinkstream.EventThinking:
			bad = inAnswer || e.Step != step || e.Block != 0 || e.Lang != "" || e.Channel != ""
		case thinkstream.EventCode:
			switch {
			case e.Block == block+1:
				block, lang = e.Block, e.Lang
			case e.Block != block || e.Lang != lang:
				bad = true
			}
			if e.Channel == CodeChannelAnswer {
				inAnswer = true
				bad = bad || e.Step != 0
			} else {
				bad = bad || inAnswer || e.Channel != CodeChannelThinking || e.Step != step || step == 0
			}
		case thinkstream.EventAnswer:
			inAnswer = true
			bad = e.Step != 0 || e.Block != 0 || e.Lang != "" || e.Channel != ""
		case thinkstream.EventResult:
			bad = i != len(evs)-1 || e.Answer == "" || e.Text != ""
		default:
			bad = true
		}
		if bad {
			t.Fatalf("event %d out of place: %+v\nall: %+v", i, e, evs)
		}
	}
}
