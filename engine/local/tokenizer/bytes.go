package tokenizer

import "unicode/utf8"

// byteAlphabet is the byte-level BPE alphabet: every byte value has a
// printable rune standing for it in token text, so that vocabularies never
// hold raw control bytes or spaces. Printable Latin-1 bytes stand for
// themselves; the rest are numbered from U+0100 upwards in byte order.
type byteAlphabet struct {
	toRune [256]rune
	toByte map[rune]byte
}

func newByteAlphabet() *byteAlphabet {
	a := &byteAlphabet{toByte: make(map[rune]byte, 256)}
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = next
			next++
		}
		a.toRune[b] = r
		a.toByte[r] = byte(b)
	}
	return a
}

// encode maps raw bytes to token text.
func (a *byteAlphabet) encode(raw string) string {
	buf := make([]byte, 0, 2*len(raw))
	for i := 0; i < len(raw); i++ {
		buf = utf8.AppendRune(buf, a.toRune[raw[i]])
	}
	return string(buf)
}

// decode maps token text back to raw bytes. A rune outside the alphabet
// cannot come from a byte-level vocabulary; it is kept as its UTF-8 so
// that nothing is silently dropped.
func (a *byteAlphabet) decode(text string) []byte {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if b, ok := a.toByte[r]; ok {
			out = append(out, b)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}
