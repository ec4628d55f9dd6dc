// Package sample picks the next token from a model's logits: greedy, or by
// temperature with top-k, top-p (nucleus) and min-p filtering, after
// repetition and presence penalties over recent tokens. A Sampler owns all
// its buffers and makes no allocation per token; with the same seed and the
// same logits it picks the same tokens.
//
// The filters apply in the order vLLM and Hugging Face use, which is the
// order reasoning models' recommended settings were tuned with: penalties,
// temperature, top-k, top-p, min-p (llama.cpp applies temperature last,
// which makes top-p see a different distribution).
package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Params configure a Sampler. The zero value is greedy decoding with no
// penalties.
type Params struct {
	// Temperature 0 picks the most likely token (ties: lowest id).
	Temperature float64
	// TopK keeps the K most likely tokens; 0 or negative is off.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P; 0 or 1 and above is off.
	TopP float64
	// MinP drops tokens less likely than MinP times the most likely one;
	// 0 is off.
	MinP float64
	// RepeatPenalty divides positive logits and multiplies negative ones
	// of tokens seen in the last RepeatLastN tokens (llama.cpp's rule);
	// 0 or 1 is off.
	RepeatPenalty float64
	// PresencePenalty is subtracted from the logits of tokens seen in the
	// last RepeatLastN tokens; 0 is off.
	PresencePenalty float64
	// RepeatLastN is the penalty window; 0 means DefaultRepeatLastN.
	RepeatLastN int
	// Seed seeds the random choice.
	Seed uint64
}

// DefaultRepeatLastN is llama.cpp's default penalty window.
const DefaultRepeatLastN = 64

// Validate reports parameters no sampler can honour.
func (p Params) Validate() error {
	switch {
	case math.IsNaN(p.Temperature) || p.Temperature < 0:
		return fmt.Errorf("sample: temperature %v must be >= 0", p.Temperature)
	case math.IsNaN(p.TopP) || p.TopP < 0:
		return fmt.Errorf("sample: top_p %v must be >= 0", p.TopP)
	case math.IsNaN(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return fmt.Errorf("sample: min_p %v must be in [0, 1]", p.MinP)
	case math.IsNaN(p.RepeatPenalty) || p.RepeatPenalty < 0:
		return fmt.Errorf("sample: repetition penalty %v must be >= 0", p.RepeatPenalty)
	case math.IsNaN(p.PresencePenalty) || math.IsInf(p.PresencePenalty, 0):
		return errors.New("sample: presence penalty must be finite")
	case p.RepeatLastN < 0:
		return fmt.Errorf("sample: repeat window %d must be >= 0", p.RepeatLastN)
	}
	return nil
}

type candidate struct {
	id int32
	v  float32 // logit, later exp((logit-max)/T)
}

// Sampler picks tokens. It is not safe for concurrent use; each generation
// owns one.
type Sampler struct {
	p     Params
	rng   *rand.Rand
	vocab int

	recent []int32 // ring of the last RepeatLastN accepted tokens
	next   int     // ring write position
	seen   []uint16

	probs []float32   // exp((l-max)/T) for every token
	cand  []candidate // working set, capacity vocab
}

// New returns a sampler for a vocabulary of n tokens.
func New(p Params, n int) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, errors.New("sample: empty vocabulary")
	}
	if p.RepeatLastN == 0 {
		p.RepeatLastN = DefaultRepeatLastN
	}
	s := &Sampler{
		p:     p,
		rng:   rand.New(rand.NewPCG(p.Seed, p.Seed^0x9E3779B97F4A7C15)),
		vocab: n,
		cand:  make([]candidate, 0, n),
	}
	if s.penalised() {
		s.recent = make([]int32, 0, p.RepeatLastN)
		s.seen = make([]uint16, n)
	}
	if p.Temperature > 0 && (p.TopK <= 0 || p.TopK >= n) {
		s.probs = make([]float32, n)
	}
	return s, nil
}

func (s *Sampler) penalised() bool {
	return (s.p.RepeatPenalty != 0 && s.p.RepeatPenalty != 1) || s.p.PresencePenalty != 0
}

// Accept records a token as part of the context (prompt or generated) for
// the penalties. Call it for every token Sample returns that is kept.
func (s *Sampler) Accept(id int32) {
	if s.recent == nil {
		return
	}
	if len(s.recent) < cap(s.recent) {
		s.recent = append(s.recent, id)
		return
	}
	s.recent[s.next] = id
	s.next = (s.next + 1) % len(s.recent)
}

// Sample picks the next token. It modifies logits (the penalties are
// applied in place) and needs len(logits) == the vocabulary size.
func (s *Sampler) Sample(logits []float32) int32 {
	if len(logits) != s.vocab {
		panic(fmt.Sprintf("sample: %d logits for a vocabulary of %d", len(logits), s.vocab))
	}
	s.penalise(logits)
	if s.p.Temperature <= 0 {
		return argmax(logits)
	}
	if k := s.p.TopK; k > 0 && k < len(logits) {
		return s.sampleTopK(logits, k)
	}
	return s.sampleFull(logits)
}

func (s *Sampler) penalise(logits []float32) {
	if len(s.recent) == 0 {
		return
	}
	for _, id := range s.recent {
		if id >= 0 && int(id) < len(s.seen) {
			s.seen[id]++
		}
	}
	rep, pres := float32(s.p.RepeatPenalty), float32(s.p.PresencePenalty)
	for _, id := range s.recent {
		if id < 0 || int(id) >= len(s.seen) || s.seen[id] == 0 {
			continue // out of range, or already penalised once
		}
		s.seen[id] = 0
		l := logits[id]
		if rep != 0 && rep != 1 {
			if l > 0 {
				l /= rep
			} else {
				l *= rep
			}
		}
		logits[id] = l - pres
	}
}

// argmax is the id of the largest logit, the lowest id among equals; NaN
// logits never win (all NaN gives 0).
func argmax(logits []float32) int32 {
	best, top := -1, float32(0)
	for i, l := range logits {
		if l > top || (best < 0 && l == l) { // NaN compares false
			best, top = i, l
		}
	}
	return int32(max(best, 0))
}
