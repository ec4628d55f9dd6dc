package qwen2

import (
	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"os"
	"testing"
)

// TestMain runs the package's tests on the portable Go kernels when
// THINKSTREAM_NOASM=1, as CI does in a second pass, so that both kernel
// sets are held to the same logit tests.
func TestMain(m *testing.M) {
	if os.Getenv("THINKSTREAM_NOASM") == "1" {
		ggml.SetAssembly(false)
	}
	os.Exit(m.Run())
}
