//go:build !unix

package qwen2

import "time"

// cpuTime is not measured here; benchmarks then report 0 CPU ms per token.
func cpuTime() time.Duration { return 0 }
