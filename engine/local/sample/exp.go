package sample

import "math"

// expNeg is e^x for x <= 0, about 4 times faster than math.Exp with a
// relative error below 1e-8, far under float32 resolution. The full-vocabulary
// softmax computes 151,936 of these per token, where math.Exp alone costs
// over a millisecond.
func expNeg(x float64) float64 {
	if x < -700 {
		return 0
	}
	if x != x {
		return math.NaN()
	}
	t := x * math.Log2E
	n := math.Floor(t + 0.5)
	f := (t - n) * math.Ln2 // |f| <= ln2/2
	// Taylor series of e^f to degree 7: error < 0.347^8/8! ≈ 5e-9.
	p := 1 + f*(1+f*(1.0/2+f*(1.0/6+f*(1.0/24+f*(1.0/120+f*(1.0/720+f*(1.0/5040)))))))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}
