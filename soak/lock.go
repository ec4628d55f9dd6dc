package soak

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runLock starts a second server on the data dir of a running one. The
// second must refuse, naming the first's pid; the first must go on
// serving, its runs intact.
func runLock(ctx context.Context, e *env, r *Result) {
	data := filepath.Join(e.dir, "data")
	args := append(baseArgs(data, "127.0.0.1:0"), "--sim-rate", "200", "--sim-ttft", "-1s", "--log-level", "info")
	first := e.serve(ctx, r, "first server", args...)
	if first == nil {
		return
	}
	defer first.close()
	hc, closeIdle := e.client()
	defer closeIdle()
	a := api{hc: hc, base: first.url}
	base := func() string { return first.url }
	run, err := a.create(ctx, 60)
	if err != nil {
		r.fail("create a run: %v", err)
		return
	}
	if _, err := a.waitEnded(ctx, run.ID); err != nil {
		r.fail("first run: %v", err)
		return
	}

	start := time.Now()
	second, outcome, err := startServer(ctx, e.cfg.Bin, args, 30*time.Second)
	if err != nil {
		r.fail("second server: %v", err)
		return
	}
	defer second.close()
	r.fig("second server", outcomeString(outcome, second), "")
	r.fig("second server's answer after", time.Since(start).Round(time.Millisecond), "")
	msg := lastLines(second.stderr.String(), 3)
	switch outcome {
	case listening:
		r.fail("a second server (pid %d) started on the data dir of the first (pid %d) and serves at %s", second.pid, first.pid, second.url)
		// Let it write to the shared store, as a user's second server
		// would, before judging the first.
		b := api{hc: hc, base: second.url}
		if run2, err := b.create(ctx, 60); err != nil {
			r.fail("the second server: %v", err)
		} else if _, err := b.waitEnded(ctx, run2.ID); err != nil {
			r.fail("the second server's run: %v", err)
		}
		took, stopped := second.term(10 * time.Second)
		if !stopped {
			r.fail("the second server ignored SIGTERM for %v (killed)", took.Round(time.Millisecond))
		}
	case hungAtStart:
		r.fail("the second server neither served nor exited within 30s (killed)")
	case exitedEarly:
		r.fig("its message", oneLine(msg), "")
		if second.exitCode() == 0 {
			r.fail("the second server exited with status 0 without serving")
		}
		if !strings.Contains(msg, strconv.Itoa(first.pid)) {
			r.fail("the second server's message does not name the first's pid %d:\n%s", first.pid, msg)
		}
	}

	// The first keeps serving: health, its old run, a new run.
	if err := a.healthz(ctx); err != nil {
		r.fail("the first server after the second's start: %v", err)
	}
	old := &follower{hc: hc, base: base, runID: run.ID}
	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	old.run(octx)
	cancel()
	if !old.exact() {
		r.fail("the first server's earlier run %s: %s", run.ID, describe(old))
	}
	fresh, err := a.create(ctx, 60)
	if err != nil {
		r.fail("the first server cannot create a run after the second's start: %v", err)
	} else {
		v := &follower{hc: hc, base: base, runID: fresh.ID}
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		v.run(vctx)
		cancel()
		if !v.exact() || v.terminal != "run.completed" {
			r.fail("the first server's new run %s: %s", fresh.ID, describe(v))
		}
	}
	took, stopped := first.term(10 * time.Second)
	r.fig("first server: SIGTERM to exit", took.Round(time.Millisecond), "")
	if !stopped {
		r.fail("the first server ignored SIGTERM for %v (killed)", took.Round(time.Millisecond))
	}
}

func outcomeString(o startOutcome, s *server) string {
	switch o {
	case listening:
		return "started, serving at " + s.url
	case hungAtStart:
		return "hung at start-up"
	}
	return "refused to start, exit status " + strconv.Itoa(s.exitCode())
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
