package soak

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The long scenario's server timeouts: short, so that even the short form
// lasts several times longer than every timeout on a stream's path. (The
// sim engine sends a stats event every second, so a stream is never idle
// long enough for a keep-alive; they are counted all the same.)
const (
	longWriteTimeout = 5 * time.Second
	longHeartbeat    = time.Second
	longRate         = 25.0 // tokens/s
)

func longSize(c *Config) (viewers int, d time.Duration) {
	viewers, d = 1000, 15*time.Minute
	if c.Short {
		viewers, d = 200, 40*time.Second
	}
	if c.Viewers > 0 {
		viewers = c.Viewers
	}
	if c.Duration > 0 {
		d = c.Duration
	}
	return viewers, max(d, 2*longWriteTimeout)
}

func longLimit(c *Config) time.Duration {
	_, d := longSize(c)
	return d + 3*time.Minute
}

// runLong follows one long sim run with many viewers, each on one
// connection: a single reconnect is a failure, since nothing on a healthy
// loopback path should end a stream before its run does.
func runLong(ctx context.Context, e *env, r *Result) {
	viewers, d := longSize(e.cfg)
	rate := longRate
	tokens := int(rate * d.Seconds())
	if tokens > maxRunTokens-1000 {
		// One run holds at most maxRunTokens: slow down to last d.
		tokens = maxRunTokens - 1000
		rate = float64(tokens) / d.Seconds()
	}
	r.fig("viewers", viewers, "")
	r.fig("run", fmt.Sprintf("sim:long %d at %.1f tokens/s", tokens, rate), "")
	r.fig("server timeouts", fmt.Sprintf("--write-timeout %v --heartbeat %v", longWriteTimeout, longHeartbeat), "")
	args := append(baseArgs(filepath.Join(e.dir, "data"), "127.0.0.1:0"),
		"--sim-rate", strconv.FormatFloat(rate, 'f', -1, 64), "--sim-ttft", "-1s",
		"--write-timeout", longWriteTimeout.String(), "--heartbeat", longHeartbeat.String())
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
	fs := make([]*follower, viewers)
	lags := make([]*hist, viewers)
	for i := range fs {
		lags[i] = &hist{}
		fs[i] = &follower{hc: hc, base: func() string { return srv.url }, runID: run.ID, created: run.CreatedAt, lag: lags[i]}
	}
	start := time.Now()
	e.logf("run %s: %d viewers following for about %v", run.ID, viewers, d)
	followAll(ctx, fs, 100)
	took := time.Since(start)
	first, last, peak := stopMem()

	t := tallyOf(fs)
	var lag hist
	for _, h := range lags {
		lag.merge(h)
	}
	r.fig("followed for", took.Round(time.Millisecond), "")
	r.fig("events per viewer", fs[0].next-1, "")
	r.fig("events delivered", t.received, "")
	r.fig("viewers exact 1..N, one connection", t.exact-t.withCuts, "")
	r.fig("connections cut by the server", t.cuts, "")
	if t.cuts > 0 {
		r.fig("first cut after", t.firstCut.Round(time.Millisecond), "")
		r.fig("median cut after", t.medianCut.Round(time.Millisecond), "")
	}
	r.fig("keep-alives received", t.heartbeats, "")
	r.fig("terminal events", t.terminalsString(), "")
	r.fig("delivery lag p50", lag.quantile(0.5), "")
	r.fig("delivery lag p99", lag.quantile(0.99), "")
	r.fig("delivery lag max", lag.max, "")
	r.fig("lag samples", lag.n, "")
	r.fig("server RSS start / end / peak", fmt.Sprintf("%s / %s / %s", mb(first), mb(last), mb(peak)), "MB")

	if t.cuts > 0 {
		r.fail("%d of %d viewers were disconnected by the server (%d cuts; first after %v, median after %v; write timeout %v)\n%s",
			t.withCuts, viewers, t.cuts, t.firstCut.Round(time.Millisecond), t.medianCut.Round(time.Millisecond),
			longWriteTimeout, strings.Join(t.cutWhy, "\n"))
	}
	t.exactness(r, "viewers")
	if n := t.terminals["run.completed"]; n != viewers {
		r.fail("%d of %d viewers ended with run.completed (%s)", n, viewers, t.terminalsString())
	}
}
