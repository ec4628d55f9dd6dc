package tokenizer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveBPE merges the lowest-ranked adjacent pair, leftmost first, one merge
// at a time by scanning: slow and obviously right.
func naiveBPE(t *Tokenizer, word string) []int32 {
	ids := make([]int32, len(word))
	for i := 0; i < len(word); i++ {
		ids[i] = t.byteID[word[i]]
	}
	for {
		best, at := int32(-1), -1
		var into int32
		for i := 0; i+1 < len(ids); i++ {
			if m, ok := t.merges[pairKey(ids[i], ids[i+1])]; ok && (best < 0 || m.rank < best) {
				best, at, into = m.rank, i, m.id
			}
		}
		if at < 0 {
			return ids
		}
		ids = slices.Replace(ids, at, at+2, into)
	}
}

func FuzzBPEMatchesNaive(f *testing.F) {
	for _, s := range []string{"hello", "aaaaaaaaaaaaaaaa", "abababab", "数学数学", "==========", " the"} {
		f.Add(s)
	}
	tok := qwen(f)
	f.Fuzz(func(t *testing.T, word string) {
		if word == "" || len(word) > 512 {
			return
		}
		got := tok.bpe(nil, word, new(bpeScratch))
		if want := naiveBPE(tok, word); !slices.Equal(got, want) {
			t.Fatalf("bpe(%q) = %v, naive %v", word, got, want)
		}
	})
}

func TestBPEMatchesNaiveOnRandomWords(t *testing.T) {
	tok := qwen(t)
	r := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"ab", "abc ", "=-", "the quick", "数学是", "\n\t "}
	s := new(bpeScratch)
	for i := range 2000 {
		a := alphabets[i%len(alphabets)]
		b := make([]byte, 1+r.IntN(60))
		for j := range b {
			b[j] = a[r.IntN(len(a))]
		}
		word := string(b)
		if got, want := tok.bpe(nil, word, s), naiveBPE(tok, word); !slices.Equal(got, want) {
			t.Fatalf("bpe(%q) = %v, naive %v", word, got, want)
		}
	}
}
