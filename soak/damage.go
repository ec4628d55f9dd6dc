package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The embedded JetStream's files under the data dir: the event stream's
// and the run bucket's message blocks. If eventlog renames them, the
// scenario fails saying so rather than damaging nothing.
const (
	eventBlocks = "streams/THINKSTREAM_EVENTS/msgs"
	kvBlocks    = "streams/KV_thinkstream_runs/msgs"
)

// damagedStartTimeout bounds a start-up on a damaged store: a healthy one
// takes well under a second here, and a check of the whole store should
// not take minutes on a few hundred kilobytes.
const damagedStartTimeout = 30 * time.Second

// damageWords are what a refusal to start must say something about.
var damageWords = regexp.MustCompile(`(?i)damag|corrupt|truncat|repair|inconsisten|missing|lost|doctor`)

// stopLimit is how long SIGTERM may take with --shutdown-grace 0s: "a few
// seconds". It is generous because a client that keeps alive a connection
// which served an event stream delays the exit by about 5 s today (7.3 s
// against 1.7 s without one: the connection comes back to net/http as a new
// one, which Shutdown counts as idle only after 5 s); that is not the bug
// this guards against, a server that ignores SIGTERM on a damaged store.
const stopLimit = 10 * time.Second

// runDamage fills a data dir with finished runs, stops the server, and
// starts it again on two damaged copies: one event block truncated, ~300
// bytes of the run bucket garbled. The server must refuse with a message
// about the damage, or serve every run it knew (replaying the same events
// to the terminal one) unless its log names the run; and stop on SIGTERM.
func runDamage(ctx context.Context, e *env, r *Result) {
	n := 30
	if !e.cfg.Short {
		n = 100
	}
	data := filepath.Join(e.dir, "data")
	args := func(dir string) []string {
		return append(baseArgs(dir, "127.0.0.1:0"), "--sim-rate", "2000", "--sim-ttft", "-1s", "--log-level", "info")
	}
	srv := e.serve(ctx, r, "server", args(data)...)
	if srv == nil {
		return
	}
	defer srv.close()
	hc, closeIdle := e.client()
	defer closeIdle()
	runs, replays, ok := fillRuns(ctx, r, hc, srv.url, n)
	if !ok {
		return
	}
	took, stopped := srv.term(stopLimit + 10*time.Second)
	r.fig("runs before the damage", n, "")
	r.fig("healthy store: SIGTERM to exit", took.Round(time.Millisecond), "")
	if !stopped || took > stopLimit {
		r.fail("the server on a healthy store took %v to stop on SIGTERM", took.Round(time.Millisecond))
	}
	for _, c := range []struct {
		name, under string
		damage      func(path string) (string, error)
	}{
		{"truncated event block", eventBlocks, truncateHalf},
		{"garbled run bucket", kvBlocks, garble300},
	} {
		dir := filepath.Join(e.dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := copyTree(data, dir); err != nil {
			r.fail("%s: copy the data dir: %v", c.name, err)
			continue
		}
		path, err := largestUnder(dir, c.under)
		if err != nil {
			r.fail("%s: %v", c.name, err)
			continue
		}
		what, err := c.damage(path)
		if err != nil {
			r.fail("%s: %v", c.name, err)
			continue
		}
		r.fig(c.name, what, "")
		restartDamaged(ctx, e, r, c.name, args(dir), hc, runs, replays)
	}
}

// fillRuns creates n short runs and replays each to its end.
func fillRuns(ctx context.Context, r *Result, hc *http.Client, url string, n int) ([]runInfo, []*follower, bool) {
	a := api{hc: hc, base: url}
	runs := make([]runInfo, n)
	for i := range runs {
		run, err := a.create(ctx, 60)
		if err != nil {
			r.fail("create run %d: %v", i, err)
			return nil, nil, false
		}
		runs[i] = run
	}
	replays := make([]*follower, n)
	for i, run := range runs {
		replays[i] = &follower{hc: hc, base: func() string { return url }, runID: run.ID, keep: true}
	}
	followAll(ctx, replays, 8)
	if t := tallyOf(replays); t.exact != n {
		t.exactness(r, "runs before the damage")
		return nil, nil, false
	}
	return runs, replays, true
}

// restartDamaged starts a server on a damaged copy and judges it.
func restartDamaged(ctx context.Context, e *env, r *Result, name string, args []string, hc *http.Client, runs []runInfo, before []*follower) {
	start := time.Now()
	srv, outcome, err := startServer(ctx, e.cfg.Bin, args, damagedStartTimeout)
	if err != nil {
		r.fail("%s: %v", name, err)
		return
	}
	defer srv.close()
	r.fig(name+": start-up", fmt.Sprintf("%s after %v", outcomeString(outcome, srv), time.Since(start).Round(time.Millisecond)), "")
	switch outcome {
	case hungAtStart:
		r.fail("%s: the server neither served nor refused within %v (killed)", name, damagedStartTimeout)
		return
	case exitedEarly:
		msg := lastLines(srv.stderr.String(), 3)
		r.fig(name+": its message", oneLine(msg), "")
		if srv.exitCode() == 0 || !damageWords.MatchString(msg) {
			r.fail("%s: the server refused to start (status %d) without saying what is damaged:\n%s", name, srv.exitCode(), msg)
		}
		return
	}
	// It serves: every run must come back whole, or be named in its log.
	a := api{hc: hc, base: srv.url}
	type verdict struct{ ok, reported, missing, noTerminal, cleanEnd, differs bool }
	verdicts := make([]verdict, len(runs))
	var examples []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, run := range runs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var v verdict
			var why string
			if _, err := a.get(ctx, run.ID); err != nil {
				var se *statusError
				v.missing = errors.As(err, &se) && se.status == http.StatusNotFound
				why = err.Error()
			} else {
				f := &follower{hc: hc, base: func() string { return srv.url }, runID: run.ID, keep: true, once: true}
				fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				f.run(fctx)
				cancel()
				switch {
				case !f.exact():
					v.noTerminal = true
					v.cleanEnd = f.terminal == "" && f.streamErrs == 0 && len(f.cuts) > 0 && f.cuts[0].why == io.EOF.Error()
					why = describe(f)
				case compareHashes(before[i].hashes, f.hashes) != "":
					v.differs = true
					why = "replays other events than before the damage: " + compareHashes(before[i].hashes, f.hashes)
				default:
					v.ok = true
				}
			}
			v.reported = !v.ok && strings.Contains(srv.stderr.String(), run.ID)
			mu.Lock()
			defer mu.Unlock()
			verdicts[i] = v
			if !v.ok && !v.reported && len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("run %s: %s", run.ID, why))
			}
		})
	}
	wg.Wait()
	var ok, reported, missing, noTerm, clean, differs, silent int
	for _, v := range verdicts {
		switch {
		case v.ok:
			ok++
			continue
		case v.missing:
			missing++
		case v.differs:
			differs++
		case v.noTerminal:
			noTerm++
		}
		if v.cleanEnd {
			clean++
		}
		if v.reported {
			reported++
		} else {
			silent++
		}
	}
	r.fig(name+": runs whole", ok, "")
	r.fig(name+": runs 404 / no terminal / changed", fmt.Sprintf("%d / %d / %d", missing, noTerm, differs), "")
	r.fig(name+": runs named in the server's log", reported, "")
	if silent > 0 {
		r.fail("%s: the server started and %d of %d runs are damaged without its log naming them (404: %d, no terminal: %d, changed: %d)\n%s",
			name, silent, len(runs), missing, noTerm, differs, strings.Join(examples, "\n"))
	}
	if clean > 0 {
		r.fail("%s: %d streams ended cleanly without a terminal or error event (EventSource would reconnect forever)", name, clean)
	}
	took, stopped := srv.term(stopLimit + 10*time.Second)
	r.fig(name+": SIGTERM to exit", took.Round(time.Millisecond), "")
	if !stopped || took > stopLimit {
		r.fail("%s: SIGTERM took %v (limit %v; killed: %v)", name, took.Round(time.Millisecond), stopLimit, !stopped)
	}
}

// largestUnder finds the largest file in a directory named under (a path
// suffix) anywhere below root.
func largestUnder(root, under string) (string, error) {
	var best string
	var size int64 = -1
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(filepath.ToSlash(filepath.Dir(p)), under) {
			return err
		}
		if info, err := d.Info(); err == nil && info.Size() > size {
			best, size = p, info.Size()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if best == "" {
		return "", fmt.Errorf("no file under */%s in %s: has the store's layout changed?", under, root)
	}
	return best, nil
}

func truncateHalf(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	half := info.Size() / 2
	if err := os.Truncate(path, half); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s cut from %d to %d bytes", filepath.Base(path), info.Size(), half), nil
}

func garble300(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	n := min(300, len(b)/2)
	off := (len(b) - n) / 2
	rng := rand.New(rand.NewPCG(3, 4))
	for i := off; i < off+n; i++ {
		b[i] ^= byte(1 + rng.IntN(255)) // never zero: every byte changes
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %d bytes garbled at offset %d of %d", filepath.Base(path), n, off, len(b)), nil
}

// copyTree copies the regular files and directories below src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
}
