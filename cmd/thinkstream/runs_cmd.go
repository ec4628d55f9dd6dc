package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/thinkstream/thinkstream"
)

func cmdRuns(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	setUsage(fs, e.stderr, "runs [--limit N] [--json] [--server URL]", "Lists recent runs, newest first.")
	server := fs.String("server", defaultServer, "thinkstream server URL (env THINKSTREAM_SERVER)")
	token := fs.String("token", "", "API token of a server in token mode (env THINKSTREAM_TOKEN)")
	limit := fs.Int("limit", 20, "how many runs, newest first (1 to 200)")
	jsonOut := fs.Bool("json", false, "print the runs as JSON, one object per line")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, "Usage: thinkstream runs [--limit N] [--json] [--server URL]")
		return errUsage
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	page, err := c.List(ctx, *limit, "")
	if err != nil {
		return explainReach(err, *server)
	}
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		for _, r := range page.Runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(page.Runs) == 0 {
		fmt.Fprintln(e.stderr, "no runs yet")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tAGE\tDURATION\tANSWER")
	now := time.Now()
	for _, r := range page.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, age(now.Sub(r.CreatedAt)), runDuration(r, now), oneLine(plainTeX(r.Answer), 40))
	}
	return tw.Flush()
}

// age is a short human duration: 45s, 12m, 3h, 5d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(max(d, 0).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// runDuration is how long a run has been generating ("-" while queued).
func runDuration(r thinkstream.Run, now time.Time) string {
	if r.StartedAt == nil {
		return "-"
	}
	end := now
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	d := end.Sub(*r.StartedAt)
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// oneLine flattens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}
