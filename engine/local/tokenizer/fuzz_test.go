package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzTokenizer(f *testing.F) {
	for _, s := range []string{
		"", "Hello world", "  \n\n  x", "it's 'LL 'Re", "<|im_start|>user\nhi<|im_end|>",
		"<tool_call>", "\xff\xfe\x80", "e\u0301 \u2126", "🙂👍🏽", "数学", "\t\r\n \u00a0x",
		"1234567890", "$\\frac{a}{b}$", "<|im_end", "a\u3000\u3000b",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	tok := qwen(f)
	f.Fuzz(func(t *testing.T, text string, parseSpecial bool) {
		ids := tok.Encode(text, parseSpecial)
		if got := tok.Decode(ids); got != text {
			t.Fatalf("Decode(Encode(%q)) = %q", text, got)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		// Streaming the ids gives the same text, in valid chunks.
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			chunk := d.Add(id)
			if !utf8.ValidString(chunk) {
				t.Fatalf("invalid chunk %q", chunk)
			}
			b.WriteString(chunk)
		}
		b.WriteString(d.Flush())
		if utf8.ValidString(text) && b.String() != text {
			t.Fatalf("streamed %q, want %q", b.String(), text)
		}
	})
}

// benchText mixes English, maths, CJK and code, about 2.6 KB.
var benchText = strings.Repeat("Let's think step by step. The sum of the first n odd numbers is n² = 10000; "+
	"数学是研究数量的学科。 func main() {\n\tfmt.Println(\"hi\")\n}\n", 20)

func BenchmarkEncode(b *testing.B) {
	tok := qwen(b)
	text := benchText
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}

func BenchmarkEncodeUncached(b *testing.B) {
	tok := qwen(b)
	text := benchText
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.cacheMu.Lock()
		clear(tok.cache)
		tok.cacheMu.Unlock()
		tok.Encode(text, true)
	}
}

func BenchmarkStreamDecode(b *testing.B) {
	tok := qwen(b)
	ids := tok.Encode(strings.Repeat("数学是研究数量的学科。 Hello 🙂 world. ", 50), true)
	b.ReportAllocs()
	for b.Loop() {
		d := tok.NewStreamDecoder()
		for _, id := range ids {
			d.Add(id)
		}
	}
}

func FuzzStreamDecoder(f *testing.F) {
	f.Add([]byte("数学🙂 ok"), uint64(1))
	f.Add([]byte{0xe6, 0x95, 0xff, 0x41, 0xf0, 0x9f}, uint64(7))
	f.Fuzz(func(t *testing.T, data []byte, cuts uint64) {
		d := (&Tokenizer{}).NewStreamDecoder()
		var out strings.Builder
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+int(cuts%4))
			cuts = cuts/4 + 3
			chunk := d.AddBytes(string(rest[:n]))
			rest = rest[n:]
			if !utf8.ValidString(chunk) {
				t.Fatalf("chunk %q is not valid UTF-8", chunk)
			}
			out.WriteString(chunk)
		}
		if d.Pending() > 3 {
			t.Fatalf("%d bytes held", d.Pending())
		}
		out.WriteString(d.Flush())
		if utf8.Valid(data) && out.String() != string(data) {
			t.Fatalf("got %q, want %q", out.String(), data)
		}
	})
}
