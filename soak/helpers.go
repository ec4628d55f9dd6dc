package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/thinkstream/thinkstream/bench"
)

// MarshalJSON writes durations in seconds, so that the JSON reads like the
// text.
func (f Figure) MarshalJSON() ([]byte, error) {
	type plain Figure
	if d, ok := f.Value.(time.Duration); ok {
		return json.Marshal(plain{Name: f.Name, Value: d.Seconds(), Unit: "s"})
	}
	return json.Marshal(plain(f))
}

// startTimeout bounds a server's start-up: opening the embedded JetStream
// and recovering runs take a second or two on a healthy store.
const startTimeout = 60 * time.Second

// serve starts a server that must come up; when it does not, the result
// says how it failed and nil is returned.
func (e *env) serve(ctx context.Context, r *Result, what string, args ...string) *server {
	s, outcome, err := startServer(ctx, e.cfg.Bin, args, startTimeout)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	switch outcome {
	case exitedEarly:
		r.fail("%s exited at start-up (status %d):\n%s", what, s.exitCode(), lastLines(s.stderr.String(), 5))
		return nil
	case hungAtStart:
		r.fail("%s neither served nor exited within %v; killed", what, startTimeout)
		return nil
	}
	e.logf("%s: pid %d at %s", what, s.pid, s.url)
	return s
}

// baseArgs are the flags every scenario's server gets: loopback, its own
// data dir, a steady simulator and no grace period to wait out.
func baseArgs(dataDir, addr string) []string {
	return []string{"--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
		"--sim-jitter", "-1", "--shutdown-grace", "0s", "--max-queue", "1024"}
}

// followAll runs the followers until each has ended (they end by
// themselves at their terminal event or at ctx's deadline), with at most
// parallel connection attempts at a time at the start so the listen
// backlog does not overflow.
func followAll(ctx context.Context, fs []*follower, parallel int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(parallel, 1))
	for _, f := range fs {
		f.gate = sem
		wg.Go(func() { f.run(ctx) })
	}
	wg.Wait()
}

// startAll starts the followers and returns a function that waits for them.
func startAll(ctx context.Context, fs []*follower, parallel int) (wait func()) {
	done := make(chan struct{})
	go func() { followAll(ctx, fs, parallel); close(done) }()
	return func() { <-done }
}

// tally sums what a group of viewers saw.
type tally struct {
	viewers, exact, withCuts, cuts, drops, refused int
	lost, repeated, received                       int64
	firstCut, medianCut                            time.Duration
	problems                                       []string
	cutWhy                                         []string
	terminals                                      map[string]int
	heartbeats                                     int
}

func tallyOf(fs []*follower) tally {
	t := tally{viewers: len(fs), terminals: map[string]int{}}
	var cutAfter []time.Duration
	for i, f := range fs {
		if f.exact() {
			t.exact++
		}
		if len(f.cuts) > 0 {
			t.withCuts++
		}
		t.cuts += len(f.cuts)
		for _, c := range f.cuts {
			cutAfter = append(cutAfter, c.after)
			if len(t.cutWhy) < 3 {
				t.cutWhy = append(t.cutWhy, fmt.Sprintf("viewer %d: after %v at seq %d: %s", i, c.after.Round(time.Millisecond), c.seq, c.why))
			}
		}
		t.drops += f.drops
		t.refused += f.refused
		t.lost += f.lost
		t.repeated += f.repeated
		t.received += f.received
		t.heartbeats += f.heartbeats
		t.terminals[f.terminal]++
		if len(t.problems) < 5 {
			if f.err != nil {
				t.problems = append(t.problems, fmt.Sprintf("viewer %d: %v", i, f.err))
			}
			for _, p := range f.problems {
				if len(t.problems) < 5 {
					t.problems = append(t.problems, fmt.Sprintf("viewer %d: %s", i, p))
				}
			}
		}
	}
	if len(cutAfter) > 0 {
		slices.Sort(cutAfter)
		t.firstCut, t.medianCut = cutAfter[0], cutAfter[len(cutAfter)/2]
	}
	return t
}

// terminalsString lists the terminal events viewers ended with.
func (t tally) terminalsString() string {
	var parts []string
	for k, n := range t.terminals {
		if k == "" {
			k = "none"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// exactness fails r unless every viewer got exactly 1..N and a terminal
// event, naming what went wrong.
func (t tally) exactness(r *Result, who string) {
	if t.exact == t.viewers {
		return
	}
	r.fail("%d of %d %s did not get exactly 1..N with the terminal event (lost %d, repeated %d; ended with %s)\n%s",
		t.viewers-t.exact, t.viewers, who, t.lost, t.repeated, t.terminalsString(), strings.Join(t.problems, "\n"))
}

// memory samples a server's resident set until stop is called, returning
// the first and last sample and the peak.
func memory(pid int, every time.Duration) (stop func() (first, last, peak int64)) {
	var mu sync.Mutex
	var f, l, p int64
	sample := func() {
		rss, hwm, err := bench.ProcStats{PID: pid}.Memory()
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if f == 0 {
			f = rss
		}
		l, p = rss, max(p, hwm)
	}
	sample()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() (int64, int64, int64) {
		sample()
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return f, l, p
	}
}

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/1e6) }
