package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/thinkstream/thinkstream/eventlog"
	"github.com/thinkstream/thinkstream/server"
)

// cmdDoctor checks the event log of a data dir the way serve does at start
// and prints the report; with --repair it also repairs. It takes the data
// dir's lock, so it refuses to run beside a server.
func cmdDoctor(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c server.StoreConfig
	fs.StringVar(&c.DataDir, "data-dir", filepath.Join(e.getenv("HOME"), ".local", "share", "thinkstream"), "directory of the event log")
	fs.StringVar(&c.NATSURL, "nats-url", "", "check this external NATS (JetStream) instead of the data dir")
	fs.BoolVar(&c.Repair, "repair", false, "rebuild what the log proves and mark the rest of each damaged run failed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	if c.NATSURL == "" {
		// Opening creates a store; doctor must not make an empty one
		// where the user mistyped the path.
		if _, err := os.Stat(filepath.Join(c.DataDir, "jetstream")); err != nil {
			return fmt.Errorf("no event log in %s: %w", c.DataDir, err)
		}
	}
	c.KeepLimits = true
	log, rep, closeLog, err := server.OpenChecked(ctx, c, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer closeLog()
	if c.Repair && !rep.OK() {
		if err := log.Repair(ctx, rep); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(e.stdout, c.DataDir, rep, c.Repair)
	}
	if !rep.OK() && !c.Repair {
		return server.ErrDamaged
	}
	return nil
}

func printReport(w io.Writer, dir string, rep *eventlog.Report, repaired bool) {
	fmt.Fprintf(w, "data dir %s\n", dir)
	fmt.Fprintf(w, "event stream: %d messages, seq %d to %d, %d missing inside\n",
		rep.Events.Msgs, rep.Events.FirstSeq, rep.Events.LastSeq, rep.Events.Deleted)
	fmt.Fprintf(w, "run bucket:   %d entries\n", rep.Bucket.Msgs)
	fmt.Fprintf(w, "runs: %d, intact: %d, marked damaged earlier: %d\n", rep.Runs, len(rep.Intact), len(rep.Marked))
	for _, p := range rep.Problems {
		fix := "cannot be restored: repair marks it failed (" + eventlog.DamagedCode + ") and keeps what is left"
		if p.Recoverable {
			fix = "repair restores it"
		}
		fmt.Fprintf(w, "  %s  %s: %s; %s\n", p.Run, p.Kind, p.Detail, fix)
	}
	for _, line := range rep.Repaired {
		fmt.Fprintf(w, "  repaired %s\n", line)
	}
	switch {
	case rep.OK():
		fmt.Fprintln(w, "ok: nothing to repair")
	case repaired:
		fmt.Fprintln(w, "repaired:", rep.Summary())
	default:
		fmt.Fprintln(w, "damaged:", rep.Summary())
		fmt.Fprintf(w, "run `thinkstream doctor --data-dir %s --repair` to repair\n", dir)
	}
}
