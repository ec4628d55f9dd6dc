package soak

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// runKill SIGKILLs a server while runs are live and viewers attached, then
// starts it again on the same data dir and address. Finished runs must
// replay identical to what viewers saw before the crash; the runs the
// crash cut short continue (the server's default) and complete, with one
// run.resumed at the seam, and their viewers resume to the end with
// exactly 1..N, every event the same as the log's.
func runKill(ctx context.Context, e *env, r *Result) {
	const (
		finished = 3
		live     = 3
		rate     = 50.0
	)
	perRun := 30
	if !e.cfg.Short {
		perRun = 100
	}
	if e.cfg.Viewers > 0 {
		perRun = max(1, e.cfg.Viewers/live)
	}
	data := filepath.Join(e.dir, "data")
	args := func(addr string) []string {
		return append(baseArgs(data, addr), "--sim-rate", fmt.Sprint(rate), "--sim-ttft", "-1s", "--write-timeout", "5s")
	}
	srv := e.serve(ctx, r, "first server", args("127.0.0.1:0")...)
	if srv == nil {
		return
	}
	defer func() { srv.close() }()
	var mu sync.Mutex
	cur := srv.url
	base := func() string { mu.Lock(); defer mu.Unlock(); return cur }
	hc, closeIdle := e.client()
	defer closeIdle()
	a := api{hc: hc, base: srv.url}

	// Finished runs, each replayed in full by one viewer before the crash.
	var done []runInfo
	for range finished {
		run, err := a.create(ctx, 60)
		if err != nil {
			r.fail("create a run: %v", err)
			return
		}
		done = append(done, run)
	}
	before := make([]*follower, finished)
	for i, run := range done {
		before[i] = &follower{hc: hc, base: base, runID: run.ID, keep: true}
	}
	followAll(ctx, before, 10)
	if t := tallyOf(before); t.exact != finished {
		t.exactness(r, "viewers of finished runs before the crash")
		return
	}

	var lives []runInfo
	for range live {
		// Long enough to be cut at seq 150, short enough to finish
		// soon after the restart.
		run, err := a.create(ctx, cutRunTokens)
		if err != nil {
			r.fail("create a run: %v", err)
			return
		}
		lives = append(lives, run)
	}
	var fs []*follower
	for _, run := range lives {
		for range perRun {
			fs = append(fs, &follower{hc: hc, base: base, runID: run.ID, keep: true, retry: 200 * time.Millisecond})
		}
	}
	wait := startAll(ctx, fs, 100)
	// Under load: let the live runs stream for a while.
	for _, run := range lives {
		for {
			d, err := a.get(ctx, run.ID)
			if err != nil {
				r.fail("before the crash: %v", err)
				srv.kill()
				wait()
				return
			}
			if d.Run.LastSeq >= 150 {
				break
			}
			select {
			case <-ctx.Done():
				r.fail("run %s did not reach seq 150 before the deadline", run.ID)
				srv.kill()
				wait()
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	killedAt := time.Now()
	srv.kill()
	e.logf("SIGKILLed pid %d with %d viewers on %d live runs", srv.pid, len(fs), live)

	u, _ := url.Parse(srv.url)
	next, outcome, err := startServer(ctx, e.cfg.Bin, args(u.Host), startTimeout)
	if err == nil && outcome == exitedEarly && strings.Contains(next.stderr.String(), "address already in use") {
		// Something else took the port meanwhile: viewers follow the
		// server to its new address, as they would behind a proxy.
		r.fig("restart address", "a new port (the old one was taken)", "")
		next, outcome, err = startServer(ctx, e.cfg.Bin, args("127.0.0.1:0"), startTimeout)
	}
	switch {
	case err != nil:
		r.fail("restart: %v", err)
	case outcome == exitedEarly:
		r.fail("the restarted server exited at start-up (status %d):\n%s", next.exitCode(), lastLines(next.stderr.String(), 5))
	case outcome == hungAtStart:
		r.fail("the restarted server neither served nor exited within %v; killed", startTimeout)
	}
	if err != nil || outcome != listening {
		wait()
		return
	}
	srv = next
	restart := time.Since(killedAt)
	mu.Lock()
	cur = srv.url
	mu.Unlock()
	a.base = srv.url
	wait()
	r.fig("viewers on live runs", len(fs), "")
	r.fig("restart (SIGKILL to listening)", restart.Round(time.Millisecond), "")
	t := tallyOf(fs)
	r.fig("viewers exact 1..N after resuming", t.exact, "")
	r.fig("failed connection attempts while down", t.refused, "")
	r.fig("terminal events", t.terminalsString(), "")
	t.exactness(r, "viewers of live runs")
	if n := t.terminals["run.completed"]; n != len(fs) {
		r.fail("%d of %d viewers of the runs cut short saw them complete (%s)", n, len(fs), t.terminalsString())
	}

	// What the log holds now, compared with what viewers saw.
	all := append(append([]runInfo{}, done...), lives...)
	after := make([]*follower, len(all))
	for i, run := range all {
		after[i] = &follower{hc: hc, base: base, runID: run.ID, keep: true}
	}
	followAll(ctx, after, 10)
	for i, run := range done {
		if !after[i].exact() {
			r.fail("finished run %s after the restart: %s", run.ID, describe(after[i]))
			continue
		}
		if diff := compareHashes(before[i].hashes, after[i].hashes); diff != "" {
			r.fail("finished run %s replays differently after the restart: %s", run.ID, diff)
		}
	}
	mismatched := 0
	for i, run := range lives {
		rep := after[finished+i]
		if !rep.exact() {
			r.fail("run %s cut short, after the restart: %s", run.ID, describe(rep))
			continue
		}
		if rep.terminal != "run.completed" {
			r.fail("run %s cut short ends with %s, want run.completed", run.ID, rep.terminal)
		}
		if rep.resumed != 1 {
			r.fail("run %s cut short has %d run.resumed events, want 1 at the seam", run.ID, rep.resumed)
		}
		for j := i * perRun; j < (i+1)*perRun; j++ {
			if diff := compareHashes(fs[j].hashes, rep.hashes); diff != "" {
				if mismatched == 0 {
					r.fail("a viewer of run %s saw other events than the log holds after the restart: %s", run.ID, diff)
				}
				mismatched++
			}
		}
		d, err := a.get(ctx, run.ID)
		switch {
		case err != nil:
			r.fail("after the restart: %v", err)
		case d.Run.State != "completed":
			r.fail("run %s is %s after the restart, want completed", run.ID, d.Run.State)
		}
	}
	r.fig("viewers whose events differ from the log", mismatched, "")
	if mismatched > 0 {
		r.fail("%d viewers saw events that differ from the log after the restart", mismatched)
	}
	// The restarted server works.
	fresh, err := a.create(ctx, 50)
	if err != nil {
		r.fail("create a run after the restart: %v", err)
		return
	}
	v := &follower{hc: hc, base: base, runID: fresh.ID}
	v.run(ctx)
	if !v.exact() || v.terminal != "run.completed" {
		r.fail("a new run after the restart: %s", describe(v))
	}
	took, stopped := srv.term(10 * time.Second)
	r.fig("SIGTERM to exit", took.Round(time.Millisecond), "")
	if !stopped {
		r.fail("the restarted server ignored SIGTERM for %v (killed)", took.Round(time.Millisecond))
	}
}

// cutRunTokens is the length of the runs the kill scenario cuts short:
// at 50 tokens/s about 3 s before the crash, 10 s after it.
const cutRunTokens = 650

// describe says in one line how a follower ended.
func describe(f *follower) string {
	s := fmt.Sprintf("last in-order seq %d, terminal %q, lost %d, repeated %d, %d cuts", f.next-1, f.terminal, f.lost, f.repeated, len(f.cuts))
	if f.err != nil {
		s += ": " + f.err.Error()
	}
	if len(f.cuts) > 0 {
		s += "; first cut: " + f.cuts[0].why
	}
	if len(f.problems) > 0 {
		s += "; " + f.problems[0]
	}
	return s
}

// compareHashes compares the events a viewer saw (seen, by seq) with a
// replay of the log.
func compareHashes(seen, replay []uint64) string {
	if len(seen) != len(replay) {
		return fmt.Sprintf("%d events seen, %d in the replay", max(len(seen)-1, 0), max(len(replay)-1, 0))
	}
	for seq := 1; seq < len(seen); seq++ {
		if seen[seq] != replay[seq] {
			return fmt.Sprintf("event %d differs", seq)
		}
	}
	return ""
}
