package ggml

import (
	"os"
	"testing"
)

// TestMain runs the package's tests on the portable Go kernels when
// THINKSTREAM_NOASM=1, as CI does in a second pass, so that both kernel
// sets are held to the same logit tests.
func TestMain(m *testing.M) {
	if os.Getenv("THINKSTREAM_NOASM") == "1" {
		SetAssembly(false)
	}
	os.Exit(m.Run())
}
