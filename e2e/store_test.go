package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Tests of a data dir that is shared or damaged: the server must refuse or
// repair, never serve with runs silently missing.

// fastSim makes runs of about a thousand events finish in well under a
// second.
var fastSim = []string{"--sim-rate", "3000", "--sim-ttft", "-1ms"}

// report is the part of `thinkstream doctor --json` the tests read.
type report struct {
	Runs     int      `json:"runs"`
	Intact   []string `json:"intact"`
	Marked   []string `json:"marked"`
	Problems []struct {
		Run         string `json:"run"`
		Kind        string `json:"kind"`
		Recoverable bool   `json:"recoverable"`
	} `json:"problems"`
	Repaired []string `json:"repaired"`
}

// runBinary runs the binary to its end within limit and returns its
// stdout, stderr and exit code.
func runBinary(t *testing.T, limit time.Duration, dataDir string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	// A hung process prints its goroutines on the way out.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+dataDir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not end within %s\n%s", args, limit, errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// doctor runs `thinkstream doctor --json` and decodes its report.
func doctor(t *testing.T, dataDir string, extra ...string) (report, int) {
	t.Helper()
	out, errs, code := runBinary(t, 60*time.Second, dataDir, append([]string{"doctor", "--json", "--data-dir", dataDir}, extra...)...)
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	return r, code
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, s.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit after SIGTERM\n%s", s.logs)
	}
}

// makeRuns creates n runs on a server and waits until all have ended.
func makeRuns(t *testing.T, s *server, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		ids = append(ids, s.create(t, fmt.Sprintf("Count the subsets of a %d-set.", i+3)).ID)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for getRun(t, s.url, id).State.Terminal() == false {
			if time.Now().After(deadline) {
				t.Fatalf("run %s did not end in time\n%s", id, s.logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ids
}

var boundedClient = &http.Client{Timeout: 20 * time.Second}

// replay reads a run's whole event stream and returns the type of its last
// logged event.
func replay(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := boundedClient.Get(base + "/v1/runs/" + id + "/events")
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events of %s: status %d", id, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	last := ""
	for _, f := range strings.Split(string(body), "\n\n") {
		if !strings.HasPrefix(f, "id: ") {
			continue
		}
		for _, line := range strings.Split(f, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				last = v
			}
		}
	}
	return last
}

// status returns the HTTP status of GET /v1/runs/{id}.
func status(t *testing.T, base, id string) int {
	t.Helper()
	resp, err := boundedClient.Get(base + "/v1/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventsBlock is the first block file of the event stream.
func eventsBlock(dataDir string) string {
	return filepath.Join(dataDir, "jetstream", "jetstream", "$G", "streams", "THINKSTREAM_EVENTS", "msgs", "1.blk")
}

func bucketBlock(dataDir string) string {
	return filepath.Join(dataDir, "jetstream", "jetstream", "$G", "streams", "KV_thinkstream_runs", "msgs", "1.blk")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestSecondServerOnDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	s := start(t, dir, "127.0.0.1:0", fastSim...)
	pid := fmt.Sprint(s.cmd.Process.Pid)
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir},
		{"doctor", "--data-dir", dir},
	} {
		out, errs, code := runBinary(t, 30*time.Second, dir, args...)
		if code == 0 || strings.Contains(out, "listening on") {
			t.Fatalf("%s beside a running server: exit %d\n%s%s", args[0], code, out, errs)
		}
		if want := "data dir " + dir + " is in use by pid " + pid; !strings.Contains(errs, want) {
			t.Fatalf("%s: stderr %q, want it to say %q", args[0], errs, want)
		}
	}
	// The first server was not disturbed.
	ids := makeRuns(t, s, 2)
	for _, id := range ids {
		if last := replay(t, s.url, id); last != thinkstream.EventRunCompleted {
			t.Fatalf("run %s ends with %q", id, last)
		}
	}
	// A lock file left by kill -9 does not block the next start: the
	// kernel released the flock with the process.
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s2 := start(t, dir, "127.0.0.1:0", fastSim...)
	for _, id := range ids {
		if last := replay(t, s2.url, id); last != thinkstream.EventRunCompleted {
			t.Fatalf("after restart, run %s ends with %q", id, last)
		}
	}
	s2.stop(t)
}

// checkAfterRepair verifies a repaired data dir: doctor finds nothing to
// do, every run known before the damage is still there (200), every run
// doctor called intact replays to its terminal event, and every other one
// is marked failed with log_damaged.
func checkAfterRepair(t *testing.T, dir string, ids []string, intact map[string]bool) {
	t.Helper()
	r, code := doctor(t, dir)
	if code != 0 || len(r.Problems) != 0 {
		t.Fatalf("doctor after repair: exit %d, %+v", code, r)
	}
	s := start(t, dir, "127.0.0.1:0", fastSim...)
	for _, id := range ids {
		if st := status(t, s.url, id); st != http.StatusOK {
			t.Fatalf("run %s: status %d after repair\n%s", id, st, s.logs)
		}
		run := getRun(t, s.url, id)
		if intact[id] {
			if last := replay(t, s.url, id); !thinkstream.IsTerminal(last) {
				t.Errorf("intact run %s replays to %q, want its terminal event", id, last)
			}
			if run.State != thinkstream.StateCompleted {
				t.Errorf("intact run %s: state %s", id, run.State)
			}
			continue
		}
		if run.State != thinkstream.StateFailed || run.Error == nil || run.Error.Code != "log_damaged" {
			t.Errorf("damaged run %s: state %s, error %+v; want failed with log_damaged", id, run.State, run.Error)
		}
		// What is left replays and ends with an error, so clients stop.
		if last := replay(t, s.url, id); last != thinkstream.EventRunFailed {
			t.Errorf("damaged run %s replays to %q, want run.failed", id, last)
		}
	}
	s.stop(t)
}

func TestTruncatedEventBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	// Two batches: the first ends in the part of the block that stays,
	// the second in the part that is cut off.
	s := start(t, dir, "127.0.0.1:0", fastSim...)
	ids := makeRuns(t, s, 3)
	s.stop(t)
	kept := fileSize(t, eventsBlock(dir))
	s = start(t, dir, "127.0.0.1:0", fastSim...)
	ids = append(ids, makeRuns(t, s, 3)...)
	s.stop(t)
	full := fileSize(t, eventsBlock(dir))
	if err := os.Truncate(eventsBlock(dir), kept+(full-kept)/2); err != nil {
		t.Fatal(err)
	}

	_, errs, code := runBinary(t, 60*time.Second, dir, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if code == 0 || !strings.Contains(errs, "event log damaged") || !strings.Contains(errs, "doctor --data-dir "+dir+" --repair") {
		t.Fatalf("serve on a truncated log: exit %d\n%s", code, errs)
	}
	r, code := doctor(t, dir)
	if code == 0 || len(r.Problems) == 0 || r.Runs != len(ids) {
		t.Fatalf("doctor: exit %d, report %+v", code, r)
	}
	intact := map[string]bool{}
	for _, id := range r.Intact {
		intact[id] = true
	}
	for _, id := range ids[:3] {
		if !intact[id] {
			t.Errorf("run %s ended before the cut but is not intact: %+v", id, r)
		}
	}
	if intact[ids[len(ids)-1]] {
		t.Errorf("the last run lost its end but doctor calls it intact")
	}
	r, code = doctor(t, dir, "--repair")
	if code != 0 || len(r.Repaired) == 0 {
		t.Fatalf("doctor --repair: exit %d, report %+v", code, r)
	}
	checkAfterRepair(t, dir, ids, intact)
}

func TestGarbledBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	s := start(t, dir, "127.0.0.1:0", fastSim...)
	ids := makeRuns(t, s, 12)
	s.stop(t)
	path := bucketBlock(dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The newest revisions (the runs' final states) are at the end; the
	// middle holds revisions already replaced.
	for i := max(len(b)-400, 0); i < len(b)-100; i++ {
		b[i] = b[i]*7 + 13
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	r, code := doctor(t, dir)
	if code == 0 || len(r.Problems) == 0 {
		t.Fatalf("doctor: exit %d, report %+v", code, r)
	}
	for _, p := range r.Problems {
		// The events are whole: every run's metadata is provable.
		if !p.Recoverable {
			t.Errorf("problem %+v: the events are intact, so it should be recoverable", p)
		}
	}
	// Everything is provable from the events, so serve repairs it at
	// start without being asked, and says so.
	s = start(t, dir, "127.0.0.1:0", fastSim...)
	s.stop(t)
	if !strings.Contains(s.logs.String(), "event log: repaired") {
		t.Fatalf("serve did not say it repaired the bucket\n%s", s.logs)
	}
	all := map[string]bool{}
	for _, id := range ids {
		all[id] = true
	}
	checkAfterRepair(t, dir, ids, all)
}

func TestSIGTERMOnDamagedStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	s := start(t, dir, "127.0.0.1:0", fastSim...)
	ids := makeRuns(t, s, 4)
	s.stop(t)
	if err := os.Truncate(eventsBlock(dir), fileSize(t, eventsBlock(dir))/2); err != nil {
		t.Fatal(err)
	}
	const grace = time.Second
	s = start(t, dir, "127.0.0.1:0", "--repair", "--shutdown-grace", grace.String(), "--sim-rate", "50")
	// Viewers of damaged runs and a live run are attached at SIGTERM.
	live := s.create(t, "sim:long 100000")
	var bodies []io.Closer
	for _, id := range append(ids, live.ID) {
		resp, err := http.Get(s.url + "/v1/runs/" + id + "/events")
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The watchdog ends the process at grace + 8 s at the latest.
	bound := grace + 8*time.Second + 2*time.Second
	select {
	case err := <-s.done:
		t.Logf("exited %s after SIGTERM (%v)", time.Since(sent).Round(time.Millisecond), err)
	case <-time.After(bound):
		t.Fatalf("still running %s after SIGTERM\n%s", bound, s.logs)
	}
}
