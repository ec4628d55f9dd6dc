package sample

import (
	"math"
	"testing"
)

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for x := 0.0; x > -700; x -= 0.0137 {
		want := math.Exp(x)
		got := expNeg(x)
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 1e-8 {
		t.Fatalf("relative error %g", worst)
	}
	if expNeg(-800) != 0 || expNeg(0) != 1 || !math.IsNaN(expNeg(math.NaN())) {
		t.Fatal("edge cases")
	}
}
