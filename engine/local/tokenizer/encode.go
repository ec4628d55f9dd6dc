package tokenizer

import "strings"

// fragment is a piece of the input: either text still to tokenize or an
// already recognised special token.
type fragment struct {
	text string
	id   int32 // -1 for text
}

// Encode tokenizes text. With parseSpecial, control tokens written in the
// text (such as "<|im_start|>") become their ids; without it only
// user-defined tokens do and control tokens are tokenized as plain text.
// No BOS is added.
func (t *Tokenizer) Encode(text string, parseSpecial bool) []int32 {
	return t.Append(nil, text, parseSpecial)
}

// Append is Encode appending to dst.
func (t *Tokenizer) Append(dst []int32, text string, parseSpecial bool) []int32 {
	if text == "" {
		return dst
	}
	frags := t.splitSpecial(text, parseSpecial)
	s := t.scratch.Get().(*bpeScratch)
	defer t.scratch.Put(s)
	for _, f := range frags {
		if f.id >= 0 {
			dst = append(dst, f.id)
			continue
		}
		for i := 0; i < len(f.text); {
			end := nextWord(f.text, i)
			dst = t.appendWord(dst, f.text[i:end], s)
			i = end
		}
	}
	return dst
}

// splitSpecial cuts special tokens out of text the way llama.cpp does: one
// special token at a time, longest first, each cutting every text fragment
// left so far at all its occurrences.
func (t *Tokenizer) splitSpecial(text string, parseSpecial bool) []fragment {
	frags := []fragment{{text: text, id: -1}}
	for _, sp := range t.specials {
		if !parseSpecial && !sp.userOnly {
			continue
		}
		var out []fragment
		changed := false
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, sp.text) {
				out = append(out, f)
				continue
			}
			changed = true
			rest := f.text
			for {
				before, after, found := strings.Cut(rest, sp.text)
				if before != "" {
					out = append(out, fragment{text: before, id: -1})
				}
				if !found {
					break
				}
				out = append(out, fragment{id: sp.id})
				rest = after
				if rest == "" {
					break
				}
			}
		}
		if changed {
			frags = out
		}
	}
	return frags
}

func (t *Tokenizer) appendWord(dst []int32, word string, s *bpeScratch) []int32 {
	if len(word) == 1 {
		return append(dst, t.byteID[word[0]])
	}
	t.cacheMu.RLock()
	ids, ok := t.cache[word]
	t.cacheMu.RUnlock()
	if ok {
		return append(dst, ids...)
	}
	n := len(dst)
	dst = t.bpe(dst, word, s)
	if len(word) <= 64 {
		cached := append([]int32(nil), dst[n:]...)
		t.cacheMu.Lock()
		if len(t.cache) >= maxCached {
			clear(t.cache)
		}
		t.cache[strings.Clone(word)] = cached // not a view that pins the whole input
		t.cacheMu.Unlock()
	}
	return dst
}
