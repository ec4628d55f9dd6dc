package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream/bench"
	"github.com/thinkstream/thinkstream/soak"
)

// cmdBenchSoak runs the soak and chaos suite against child processes of
// this binary (or --server-bin). It fails when any scenario fails.
func cmdBenchSoak(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench soak", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	scenario := fs.String("scenario", "all", "all or a comma-separated list of: "+strings.Join(soak.Names(), ", "))
	short := fs.Bool("short", false, "the bounded form CI runs (minutes, not a quarter of an hour)")
	viewers := fs.Int("viewers", 0, "viewers of the long and storm scenarios (kill: in all) (0: the form's default)")
	duration := fs.Duration("duration", 0, "length of the long and storm scenarios (0: the form's default)")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	serverBin := fs.String("server-bin", "", "thinkstream binary to run as the server (default: this one)")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	bin := *serverBin
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		return fmt.Errorf("bench soak: raise the open-file limit: %w", err)
	}
	started := time.Now()
	res, err := soak.Run(ctx, soak.Config{
		Bin: bin, Scenarios: strings.Split(*scenario, ","), Short: *short, Viewers: *viewers, Duration: *duration,
		Logf: func(format string, a ...any) { fmt.Fprintf(e.stderr, "soak: "+format+"\n", a...) },
	})
	if *jsonOut {
		if jerr := soak.PrintJSON(e.stdout, res); jerr != nil {
			return jerr
		}
	} else {
		soak.Print(e.stdout, res)
	}
	if err != nil {
		return fmt.Errorf("bench %w", err) // "bench soak: …"
	}
	if n := soak.Failed(res); n > 0 {
		return fmt.Errorf("bench soak: %d of %d scenarios failed (%v)", n, len(res), time.Since(started).Round(time.Second))
	}
	fmt.Fprintf(e.stderr, "soak: %d scenarios passed in %v\n", len(res), time.Since(started).Round(time.Second))
	return nil
}
