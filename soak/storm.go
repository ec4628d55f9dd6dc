package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const stormRate = 50.0 // tokens/s

func stormSize(c *Config) (viewers int, d time.Duration) {
	viewers, d = 300, 60*time.Second
	if c.Short {
		d = 20 * time.Second
	}
	if c.Viewers > 0 {
		viewers = c.Viewers
	}
	if c.Duration > 0 {
		d = c.Duration
	}
	return viewers, d
}

func stormLimit(c *Config) time.Duration {
	_, d := stormSize(c)
	return d + 2*time.Minute
}

// runStorm has every viewer drop its own connection every 1–3 s for the
// storm's duration and resume with Last-Event-ID; after the storm they
// follow the run to its end. Each must end with exactly 1..N.
func runStorm(ctx context.Context, e *env, r *Result) {
	viewers, d := stormSize(e.cfg)
	// The run outlasts the storm, so that every resume is of a live run.
	tail := 5 * time.Second
	tokens := min(int(stormRate*(d+tail).Seconds()), maxRunTokens-1000)
	r.fig("viewers", viewers, "")
	r.fig("storm", fmt.Sprintf("each viewer drops every 1–3 s for %v", d), "")
	r.fig("run", fmt.Sprintf("sim:long %d at %.0f tokens/s", tokens, stormRate), "")
	args := append(baseArgs(filepath.Join(e.dir, "data"), "127.0.0.1:0"),
		"--sim-rate", strconv.FormatFloat(stormRate, 'f', -1, 64), "--sim-ttft", "-1s", "--write-timeout", "5s")
	srv := e.serve(ctx, r, "server", args...)
	if srv == nil {
		return
	}
	defer srv.close()
	hc, closeIdle := e.client()
	defer closeIdle()
	a := api{hc: hc, base: srv.url}
	stopMem := memory(srv.pid, time.Second)
	run, err := a.create(ctx, tokens)
	if err != nil {
		r.fail("create the run: %v", err)
		return
	}
	until := time.Now().Add(d)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	every := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
	}
	fs := make([]*follower, viewers)
	for i := range fs {
		fs[i] = &follower{hc: hc, base: func() string { return srv.url }, runID: run.ID,
			dropEvery: every, dropUntil: until, retry: 10 * time.Millisecond}
	}
	start := time.Now()
	followAll(ctx, fs, 100)
	took := time.Since(start)
	_, _, peak := stopMem()
	t := tallyOf(fs)
	r.fig("followed for", took.Round(time.Millisecond), "")
	r.fig("events in the run", fs[0].lastSeq, "")
	r.fig("drops (by the viewers)", t.drops, "")
	r.fig("resumes per viewer", fmt.Sprintf("%.1f", float64(t.drops+t.cuts)/float64(viewers)), "")
	r.fig("connections cut by the server", t.cuts, "")
	r.fig("failed connection attempts", t.refused, "")
	r.fig("viewers exact 1..N", t.exact, "")
	r.fig("lost / repeated", fmt.Sprintf("%d / %d", t.lost, t.repeated), "")
	r.fig("terminal events", t.terminalsString(), "")
	r.fig("server peak RSS", mb(peak), "MB")
	t.exactness(r, "viewers")
	if t.drops < viewers {
		r.fail("only %d drops for %d viewers: the storm did not happen", t.drops, viewers)
	}
}
