package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: a stream that
// returned must not keep its watchdog, body reader or reconnect timer.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
