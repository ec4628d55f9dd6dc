package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the watchdog's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchdogEndsAnOverrunningShutdown(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	codes := make(chan int, 1)
	stop := watchdog(ctx, 10*time.Millisecond, logger, func(code int) { codes <- code })
	defer stop()
	cancel() // the signal; nothing calls stop: shutdown is wedged
	select {
	case code := <-codes:
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watchdog did not end the process")
	}
	if !strings.Contains(logs.String(), "shutdown did not finish in time") {
		t.Errorf("no log line says why: %q", logs.String())
	}
}
