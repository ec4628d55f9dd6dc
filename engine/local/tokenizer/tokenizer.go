// Package tokenizer is the byte-level BPE tokenizer of Qwen2-family models,
// built from the tokenizer.ggml.* metadata of a GGUF file. It reproduces
// llama.cpp's tokenization (no Unicode normalisation, no BOS, special
// tokens split out first), decodes ids back to bytes, streams decoded text
// without ever splitting a UTF-8 character, and renders ChatML prompts.
package tokenizer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// TokenType is the GGUF token type (tokenizer.ggml.token_type).
type TokenType int32

const (
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Vocab is a tokenizer's data as a GGUF file stores it.
type Vocab struct {
	Tokens []string    // token text, byte-level alphabet for normal tokens
	Types  []TokenType // one per token; nil means all normal
	Merges []string    // "left right", rank = index
	BOS    int32       // -1 when absent
	EOS    int32       // -1 when absent
}

// Tokenizer encodes text to token ids and back. It is safe for concurrent
// use.
type Tokenizer struct {
	texts  []string
	types  []TokenType
	pieces []string // decoded bytes of each token, as llama.cpp renders it
	toID   map[string]int32
	byteID [256]int32
	merges map[uint64]merge

	specials []special // longest first
	bos, eos int32
	eog      []bool

	scratch sync.Pool // *bpeScratch

	cacheMu sync.RWMutex
	cache   map[string][]int32
}

type special struct {
	text     string
	id       int32
	userOnly bool // user-defined: matched even without parseSpecial
}

// maxCached bounds the word cache; it is emptied when full, which is
// cheaper than tracking recency and fine for prompts.
const maxCached = 1 << 16

// New builds a tokenizer from vocabulary data.
func New(v Vocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	t := &Tokenizer{
		texts:  v.Tokens,
		types:  v.Types,
		pieces: make([]string, n),
		toID:   make(map[string]int32, n),
		merges: make(map[uint64]merge, len(v.Merges)),
		bos:    v.BOS,
		eos:    v.EOS,
		eog:    make([]bool, n),
		cache:  make(map[string][]int32),
	}
	if t.types == nil {
		t.types = make([]TokenType, n)
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}
	alpha := newByteAlphabet()
	for i, text := range v.Tokens {
		id := int32(i)
		if _, dup := t.toID[text]; !dup {
			t.toID[text] = id
		}
		switch t.types[i] {
		case TypeNormal, TypeByte:
			t.pieces[i] = string(alpha.decode(text))
		case TypeControl, TypeUserDefined, TypeUnknown:
			t.pieces[i] = text
			if text != "" {
				t.specials = append(t.specials, special{text: text, id: id, userOnly: t.types[i] == TypeUserDefined})
			}
		}
		// Unused (padding) tokens decode to nothing, as in llama.cpp.
	}
	for b := 0; b < 256; b++ {
		id, ok := t.toID[string(alpha.encode(string([]byte{byte(b)})))]
		if !ok {
			return nil, fmt.Errorf("tokenizer: vocabulary lacks the token for byte %#02x", b)
		}
		t.byteID[b] = id
	}
	for rank, m := range v.Merges {
		l, r, ok := strings.Cut(m, " ")
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d %q has no space", rank, m)
		}
		lid, lok := t.toID[l]
		rid, rok := t.toID[r]
		mid, mok := t.toID[l+r]
		if !lok || !rok || !mok {
			// A rule whose parts are not tokens can never apply to
			// token sequences; skipping it changes nothing.
			continue
		}
		key := pairKey(lid, rid)
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = merge{rank: int32(rank), id: mid}
		}
	}
	// Longest first; equal lengths by id so the order is deterministic.
	slices.SortStableFunc(t.specials, func(a, b special) int {
		if c := cmp.Compare(len(b.text), len(a.text)); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	t.markEOG()
	t.scratch.New = func() any { return new(bpeScratch) }
	return t, nil
}

// eogTexts are the end-of-generation tokens recognised by their text, as
// llama.cpp does, besides the declared EOS.
var eogTexts = []string{
	"<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
	"<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<|end_of_text|>", "<EOT>",
}

func (t *Tokenizer) markEOG() {
	if t.eos >= 0 && int(t.eos) < len(t.eog) {
		t.eog[t.eos] = true
	}
	for _, text := range eogTexts {
		if id, ok := t.toID[text]; ok && t.types[id] != TypeNormal {
			t.eog[id] = true
		}
	}
}

// Metadata is what the tokenizer needs from a GGUF file.
type Metadata interface {
	String(key string) (string, bool)
	Uint(key string) (uint64, bool)
	Strings(key string) ([]string, bool)
	Int32s(key string) ([]int32, bool)
}

// FromMetadata builds the tokenizer a GGUF file describes. Only byte-level
// BPE ("gpt2") with the Qwen2 pre-tokenizer is supported.
func FromMetadata(md Metadata) (*Tokenizer, error) {
	if model, _ := md.String("tokenizer.ggml.model"); model != "gpt2" {
		return nil, fmt.Errorf("tokenizer: model %q not supported (want gpt2 byte-level BPE)", model)
	}
	if pre, ok := md.String("tokenizer.ggml.pre"); ok && pre != "qwen2" {
		return nil, fmt.Errorf("tokenizer: pre-tokenizer %q not supported (want qwen2)", pre)
	}
	tokens, ok := md.Strings("tokenizer.ggml.tokens")
	if !ok {
		return nil, errors.New("tokenizer: no tokenizer.ggml.tokens")
	}
	merges, ok := md.Strings("tokenizer.ggml.merges")
	if !ok {
		return nil, errors.New("tokenizer: no tokenizer.ggml.merges")
	}
	v := Vocab{Tokens: tokens, Merges: merges, BOS: -1, EOS: -1}
	if types, ok := md.Int32s("tokenizer.ggml.token_type"); ok {
		v.Types = make([]TokenType, len(types))
		for i, ty := range types {
			v.Types[i] = TokenType(ty)
		}
	}
	if id, ok := md.Uint("tokenizer.ggml.bos_token_id"); ok && id < uint64(len(tokens)) {
		v.BOS = int32(id)
	}
	if id, ok := md.Uint("tokenizer.ggml.eos_token_id"); ok && id < uint64(len(tokens)) {
		v.EOS = int32(id)
	}
	return New(v)
}

// VocabSize is the number of token ids.
func (t *Tokenizer) VocabSize() int { return len(t.texts) }

// BOS and EOS are the declared begin and end tokens, -1 when absent.
func (t *Tokenizer) BOS() int32 { return t.bos }
func (t *Tokenizer) EOS() int32 { return t.eos }

// IsEOG reports whether id ends generation.
func (t *Tokenizer) IsEOG(id int32) bool { return id >= 0 && int(id) < len(t.eog) && t.eog[id] }

// EOG lists the end-of-generation token ids.
func (t *Tokenizer) EOG() []int32 {
	var ids []int32
	for id, e := range t.eog {
		if e {
			ids = append(ids, int32(id))
		}
	}
	return ids
}

// ID returns the id of a token by its exact text (byte-level alphabet for
// normal tokens).
func (t *Tokenizer) ID(text string) (int32, bool) {
	id, ok := t.toID[text]
	return id, ok
}

// Text is a token's text as the vocabulary stores it.
func (t *Tokenizer) Text(id int32) string {
	if id < 0 || int(id) >= len(t.texts) {
		return ""
	}
	return t.texts[id]
}

// Type is a token's type.
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.types) {
		return 0
	}
	return t.types[id]
}
