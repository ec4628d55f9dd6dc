package sample

import (
	"cmp"
	"math"
	"slices"
)

// expCutoff is how far below the best token, in units of temperature, a
// logit still counts.
const expCutoff = 30

// better orders candidates most likely first, lower id first among equals,
// so that every choice is deterministic.
func better(a, b candidate) bool { return a.v > b.v || (a.v == b.v && a.id < b.id) }

func byLikelihood(a, b candidate) int {
	if c := cmp.Compare(b.v, a.v); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// sampleTopK keeps the k best logits with a size-k min-heap (O(n log k),
// no pass over the vocabulary sorts it), then filters and draws among them.
func (s *Sampler) sampleTopK(logits []float32, k int) int32 {
	h := s.cand[:0]
	for i, l := range logits {
		if l != l {
			continue // NaN: never a candidate
		}
		c := candidate{id: int32(i), v: l}
		if len(h) < k {
			h = append(h, c)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !better(h[p], h[j]) {
					break
				}
				h[p], h[j] = h[j], h[p]
				j = p
			}
			continue
		}
		if !better(c, h[0]) {
			continue
		}
		h[0] = c
		for j := 0; ; {
			l, r, m := 2*j+1, 2*j+2, j
			if l < k && better(h[m], h[l]) {
				m = l
			}
			if r < k && better(h[m], h[r]) {
				m = r
			}
			if m == j {
				break
			}
			h[j], h[m] = h[m], h[j]
			j = m
		}
	}
	if len(h) == 0 {
		return argmax(logits)
	}
	slices.SortFunc(h, byLikelihood)
	if math.IsInf(float64(h[0].v), 0) {
		return h[0].id
	}
	invT := 1 / s.p.Temperature
	top := float64(h[0].v)
	var z float64
	for i := range h {
		e := expNeg((float64(h[i].v) - top) * invT)
		h[i].v = float32(e)
		z += e
	}
	return s.pick(h, z)
}

// sampleFull works on the whole vocabulary. Without top-p or min-p it draws
// straight from the probabilities. With them it sorts only the tokens above
// a probability threshold (at most 1/threshold of them), lowering the
// threshold only when those tokens hold less mass than top-p asks for.
func (s *Sampler) sampleFull(logits []float32) int32 {
	top := float32(math.Inf(-1))
	for _, l := range logits {
		if l > top {
			top = l
		}
	}
	if math.IsInf(float64(top), 0) {
		return argmax(logits) // nothing to weigh: all -Inf, or a +Inf that wins outright
	}
	invT := 1 / s.p.Temperature
	// Tokens more than 30 temperature units below the best have relative
	// probability under 1e-13 (all of them together under 2e-8): count them
	// as zero and skip their exp, which is most of a real model's vocabulary.
	cut := float64(top) - expCutoff*s.p.Temperature
	var z float64
	for i, l := range logits {
		e := 0.0
		if float64(l) >= cut { // false for NaN too: never pick a NaN
			e = expNeg(float64(l-top) * invT)
		}
		s.probs[i] = float32(e)
		z += e
	}
	topP := s.p.TopP > 0 && s.p.TopP < 1
	if !topP && s.p.MinP <= 0 {
		u := s.rng.Float64() * z
		last := int32(0)
		for i, e := range s.probs {
			if e == 0 {
				continue
			}
			last = int32(i)
			if u -= float64(e); u < 0 {
				return last
			}
		}
		return last // rounding left u a hair above zero
	}
	floor := float32(0)
	if s.p.MinP > 0 {
		floor = float32(s.p.MinP) // the best token has probs == 1
	}
	// The best token has probability mass 1, so a threshold above 1 would
	// gather nothing; without top-p only min-p's floor matters.
	t := min(max(float32(z*1e-3), floor), 1)
	if !topP {
		t = floor
	}
	for {
		c := s.cand[:0]
		var mass float64
		for i, e := range s.probs {
			if e >= t && e > 0 {
				c = append(c, candidate{id: int32(i), v: e})
				mass += float64(e)
			}
		}
		enough := !topP || mass >= s.p.TopP*z
		if enough || t <= floor || t == 0 {
			slices.SortFunc(c, byLikelihood)
			return s.pick(c, z)
		}
		t = max(t*1e-2, floor)
		if float64(t) < z*1e-9 {
			t = floor // last round: everything min-p allows
		}
	}
}

// pick applies top-p (relative to the total mass z of the distribution)
// and min-p to c, sorted most likely first with unnormalised probabilities,
// and draws one of the survivors.
func (s *Sampler) pick(c []candidate, z float64) int32 {
	n := len(c)
	if p := s.p.TopP; p > 0 && p < 1 {
		var cum float64
		for i := range c {
			cum += float64(c[i].v)
			if cum >= p*z {
				n = i + 1
				break
			}
		}
	}
	if s.p.MinP > 0 {
		floor := float32(s.p.MinP) * c[0].v
		for i := 1; i < n; i++ {
			if c[i].v < floor {
				n = i
				break
			}
		}
	}
	var mass float64
	for _, x := range c[:n] {
		mass += float64(x.v)
	}
	u := s.rng.Float64() * mass
	for _, x := range c[:n] {
		if u -= float64(x.v); u < 0 {
			return x.id
		}
	}
	return c[n-1].id
}
