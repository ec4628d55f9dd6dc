package tokenizer

import "unicode/utf8"

// Piece is the bytes token id stands for: the raw bytes of a normal token,
// the text of a control or user-defined token, nothing for padding. A piece
// may be part of a UTF-8 character; join pieces as bytes.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Decode joins the pieces of ids.
func (t *Tokenizer) Decode(ids []int32) string {
	n := 0
	for _, id := range ids {
		n += len(t.Piece(id))
	}
	buf := make([]byte, 0, n)
	for _, id := range ids {
		buf = append(buf, t.Piece(id)...)
	}
	return string(buf)
}

// StreamDecoder turns a stream of token ids into text that never splits a
// UTF-8 character: bytes of a character that continues in a later token are
// held back until it is complete. Bytes that cannot start or continue a
// valid character are emitted as U+FFFD, so every chunk Add returns is valid
// UTF-8. A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	tok     *Tokenizer
	pending []byte
	out     []byte
}

// NewStreamDecoder returns a decoder for ids of t.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{tok: t}
}

// Add decodes one more token and returns the text now complete (often "").
func (d *StreamDecoder) Add(id int32) string {
	return d.AddBytes(d.tok.Piece(id))
}

// AddBytes is Add for raw bytes.
func (d *StreamDecoder) AddBytes(piece string) string {
	if len(d.pending) == 0 && utf8.ValidString(piece) {
		return piece // the common case: nothing held, nothing to hold
	}
	d.pending = append(d.pending, piece...)
	d.out = d.out[:0]
	i := 0
	for i < len(d.pending) {
		if !utf8.FullRune(d.pending[i:]) {
			break // a valid start of a character that is not complete yet
		}
		r, w := utf8.DecodeRune(d.pending[i:])
		if r == utf8.RuneError && w == 1 {
			d.out = utf8.AppendRune(d.out, utf8.RuneError)
		} else {
			d.out = append(d.out, d.pending[i:i+w]...)
		}
		i += w
	}
	d.pending = d.pending[:copy(d.pending, d.pending[i:])]
	return string(d.out)
}

// Pending reports how many bytes are held back.
func (d *StreamDecoder) Pending() int { return len(d.pending) }

// Flush returns the bytes held back, as they are (possibly an incomplete
// character), and empties the decoder.
func (d *StreamDecoder) Flush() string {
	s := string(d.pending)
	d.pending = d.pending[:0]
	return s
}
