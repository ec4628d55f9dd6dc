package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/thinkstream/thinkstream/eventlog"
)

// StoreConfig is what opening the log needs (serve, doctor).
type StoreConfig struct {
	DataDir        string
	NATSURL        string
	RetentionAge   time.Duration
	RetentionBytes int64
	// Repair fixes what the check finds; without it a damaged store is
	// refused.
	Repair bool
	// KeepLimits leaves the stream's retention as it is (doctor).
	KeepLimits bool
	// Replicas of the log on a NATS cluster (default 1).
	Replicas int
}

// ErrDamaged reports a store that was refused because it is damaged.
var ErrDamaged = errors.New("event log damaged")

// OpenStore locks the data dir, opens the log and checks it. What the log
// proves is repaired at once (a crash between a run's terminal event and
// its metadata update leaves such a state too); a log that lost events is
// repaired with c.Repair and refused without, naming what is damaged and
// how to recover: never served with runs silently missing. The returned
// close releases the log and then the lock.
func OpenStore(ctx context.Context, c StoreConfig, logger *slog.Logger) (*eventlog.Log, func(), error) {
	log, rep, closeAll, err := OpenChecked(ctx, c, logger)
	if err != nil {
		return nil, nil, err
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			level := slog.LevelError
			if p.Recoverable {
				level = slog.LevelWarn
			}
			logger.Log(ctx, level, "event log: damaged run", "run", p.Run, "kind", p.Kind, "detail", p.Detail, "recoverable", p.Recoverable)
		}
		if rep.Lossy() && !c.Repair {
			closeAll()
			return nil, nil, fmt.Errorf("%w: %s in %s.\n"+
				"Nothing was changed. To list the damaged runs: thinkstream doctor --data-dir %s\n"+
				"To repair (rebuilds what the log proves, marks the rest failed with code %s): "+
				"thinkstream doctor --data-dir %s --repair, or serve --repair",
				ErrDamaged, rep.Summary(), c.DataDir, c.DataDir, eventlog.DamagedCode, c.DataDir)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := log.Repair(rctx, rep)
		cancel()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		for _, line := range rep.Repaired {
			logger.Warn("event log: repaired", "run", line)
		}
	}
	if len(rep.Marked) > 0 {
		logger.Warn("event log: runs marked damaged by an earlier repair", "runs", len(rep.Marked))
	}
	return log, closeAll, nil
}

// OpenChecked locks the data dir (embedded NATS only), opens the log and
// checks it.
func OpenChecked(ctx context.Context, c StoreConfig, logger *slog.Logger) (*eventlog.Log, *eventlog.Report, func(), error) {
	var lock *eventlog.Lock
	if c.NATSURL == "" {
		var err error
		if lock, err = eventlog.LockDir(c.DataDir); err != nil {
			return nil, nil, nil, err
		}
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log, err := eventlog.Open(octx, eventlog.Config{
		DataDir: filepath.Join(c.DataDir, "jetstream"), URL: c.NATSURL,
		MaxAge: c.RetentionAge, MaxBytes: c.RetentionBytes, Logger: logger, KeepLimits: c.KeepLimits,
		Replicas: c.Replicas,
	})
	if err != nil {
		lock.Close()
		return nil, nil, nil, err
	}
	closeAll := func() {
		log.Close()
		lock.Close()
	}
	// The check reads a few messages per run: about 0.25 ms each
	// (docs/benchmarks.md), so a large store needs more than a minute.
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Minute)
	defer ccancel()
	rep, err := log.Check(cctx)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return log, rep, closeAll, nil
}
