package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that Fanout leaves no viewer goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
