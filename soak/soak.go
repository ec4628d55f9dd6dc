// Package soak is thinkstream's soak and chaos suite: long live streams to
// many viewers, reconnect storms, SIGKILL and restart under load,
// concurrent annotations, two servers on one data dir and damaged stores.
// Every scenario drives the real server binary as a child process over
// loopback HTTP, prints its figures and a PASS or FAIL line that says what
// was wrong, and is bounded in time, so a hang is a failure and never a
// suite that does not end. The short forms are the same code with smaller
// counts and durations; `thinkstream bench soak` runs it and
// docs/benchmarks.md records results.
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Config selects and sizes the scenarios.
type Config struct {
	// Bin is the thinkstream binary to run as the server.
	Bin string
	// Scenarios to run, by name (see Names); empty runs all of them.
	Scenarios []string
	// Short selects the bounded form that CI runs.
	Short bool
	// Viewers and Duration override the defaults of the scenarios that
	// have them (long, storm, kill); 0 keeps the defaults.
	Viewers  int
	Duration time.Duration
	// TempDir holds the servers' data directories ("" : the system's).
	TempDir string
	// Logf reports progress (nil: quiet).
	Logf func(format string, args ...any)
}

// Result is one scenario's outcome.
type Result struct {
	Scenario string        `json:"scenario"`
	Pass     bool          `json:"pass"`
	Took     time.Duration `json:"took_ns"`
	Figures  []Figure      `json:"figures"`
	Failures []string      `json:"failures,omitempty"`
}

// Figure is one measured number (or short fact) of a scenario.
type Figure struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
	Unit  string `json:"unit,omitempty"`
}

func (r *Result) fig(name string, value any, unit string) {
	r.Figures = append(r.Figures, Figure{name, value, unit})
}

func (r *Result) fail(format string, a ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, a...))
}

// scenario is one entry of the suite.
type scenario struct {
	name string
	// limit bounds the scenario's whole run, server start-ups included.
	limit func(c *Config) time.Duration
	run   func(ctx context.Context, e *env, r *Result)
}

var scenarios = []scenario{
	{"long", longLimit, runLong},
	{"storm", stormLimit, runStorm},
	{"kill", func(*Config) time.Duration { return 3 * time.Minute }, runKill},
	{"annotate", func(*Config) time.Duration { return 2 * time.Minute }, runAnnotate},
	{"lock", func(*Config) time.Duration { return 2 * time.Minute }, runLock},
	{"damage", func(*Config) time.Duration { return 4 * time.Minute }, runDamage},
}

// Names lists the scenarios in the order Run runs them.
func Names() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// env is what a scenario gets: the configuration, a client and scratch
// space.
type env struct {
	cfg  *Config
	logf func(format string, args ...any)
	dir  string // removed after the scenario
}

// client returns an HTTP client for viewers and API calls: HTTP/1.1 (one
// connection per stream, as browsers without TLS do) and enough idle
// connections that thousands of viewers do not churn them.
func (e *env) client() (*http.Client, func()) {
	tr := &http.Transport{
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 4096,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// Run runs the selected scenarios one after the other and returns their
// results; the error is for a configuration the suite cannot run.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Bin == "" {
		return nil, fmt.Errorf("soak: no server binary")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	sel := cfg.Scenarios
	if len(sel) == 0 || slices.Contains(sel, "all") {
		sel = Names()
	}
	for _, n := range sel {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("soak: unknown scenario %q (want all or one of %s)", n, strings.Join(Names(), ", "))
		}
	}
	var out []Result
	for _, sc := range scenarios {
		if !slices.Contains(sel, sc.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		out = append(out, runOne(ctx, &cfg, sc))
	}
	return out, ctx.Err()
}

func runOne(ctx context.Context, cfg *Config, sc scenario) Result {
	r := Result{Scenario: sc.name}
	start := time.Now()
	defer func() { r.Took = time.Since(start) }()
	dir, err := os.MkdirTemp(cfg.TempDir, "thinkstream-soak-"+sc.name+"-")
	if err != nil {
		r.fail("scratch dir: %v", err)
		return r
	}
	defer os.RemoveAll(dir)
	limit := sc.limit(cfg)
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	e := &env{cfg: cfg, dir: dir, logf: func(format string, a ...any) { cfg.Logf(sc.name+": "+format, a...) }}
	sc.run(sctx, e, &r)
	if sctx.Err() != nil && ctx.Err() == nil {
		r.fail("the scenario ran past its limit of %v", limit)
	}
	r.Took = time.Since(start)
	r.Pass = len(r.Failures) == 0
	return r
}

// Print writes results as text: the figures, then PASS or FAIL with the
// reasons, one scenario after the other.
func Print(w io.Writer, results []Result) {
	for _, r := range results {
		fmt.Fprintf(w, "== %s (%v)\n", r.Scenario, r.Took.Round(time.Millisecond))
		for _, f := range r.Figures {
			v := f.Value
			if d, ok := v.(time.Duration); ok {
				v = d.Round(10 * time.Microsecond)
			}
			if f.Unit != "" {
				fmt.Fprintf(w, "   %-34s %v %s\n", f.Name, v, f.Unit)
			} else {
				fmt.Fprintf(w, "   %-34s %v\n", f.Name, v)
			}
		}
		if r.Pass {
			fmt.Fprintf(w, "PASS %s\n", r.Scenario)
			continue
		}
		fmt.Fprintf(w, "FAIL %s\n", r.Scenario)
		for _, f := range r.Failures {
			for i, line := range strings.Split(f, "\n") {
				if i == 0 {
					fmt.Fprintf(w, "   - %s\n", line)
				} else {
					fmt.Fprintf(w, "     %s\n", line)
				}
			}
		}
	}
}

// PrintJSON writes results as one JSON array; durations are nanoseconds.
func PrintJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

// Failed counts the results that did not pass.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if !r.Pass {
			n++
		}
	}
	return n
}
