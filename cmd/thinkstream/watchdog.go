package main

import (
	"context"
	"log/slog"
	"time"
)

// watchdog makes sure a shutdown ends: once ctx is done, the process gets
// limit to finish, and is then ended with a log line saying so. A wedged
// store must not keep a process that was told to stop.
func watchdog(ctx context.Context, limit time.Duration, logger *slog.Logger, exit func(code int)) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(limit)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			logger.Error("shutdown did not finish in time; exiting anyway", "limit", limit)
			exit(1)
		}
	}()
	return func() { close(done) }
}

const (
	// shutdownMargin is the time beyond --shutdown-grace that ending
	// streams and closing the HTTP server may take.
	shutdownMargin = 5 * time.Second
	// watchdogMargin is the time after that for closing the log.
	watchdogMargin = 3 * time.Second
)
