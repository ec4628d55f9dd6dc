// Package e2e tests the thinkstream binary as a user runs it: a real
// process, real signals (SIGKILL, SIGTERM), real HTTP over loopback.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/thinkstream/thinkstream/sse"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "thinkstream-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "thinkstream")
	build := exec.Command("go", "build", "-o", binary, "../cmd/thinkstream")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan error
}

// start runs `thinkstream serve` and waits for its listening line.
func start(t *testing.T, dataDir, addr string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "debug"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "HOME="+dataDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "listening on ") {
			t.Fatalf("server did not start: %q\n%s", line, s.logs)
		}
		s.url = strings.TrimPrefix(line, "listening on ")
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start in time\n%s", s.logs)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *server) create(t *testing.T, problem string) thinkstream.Run {
	t.Helper()
	return s.createJSON(t, map[string]any{"problem": problem})
}

func (s *server) createJSON(t *testing.T, v any) thinkstream.Run {
	t.Helper()
	body, _ := json.Marshal(v)
	resp, err := http.Post(s.url+"/v1/runs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var run thinkstream.Run
	if err := json.NewDecoder(resp.Body).Decode(&run); err != nil {
		t.Fatal(err)
	}
	return run
}

// frames reads a run's whole stream and returns its logged frames
// (those with an id) as raw bytes, in order.
func frames(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range strings.Split(string(body), "\n\n") {
		if strings.HasPrefix(f, "id: ") {
			out = append(out, f)
		}
	}
	return out
}

func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	s := start(t, dir, "127.0.0.1:0", "--sim-rate", "3000", "--sim-ttft", "-1ms")
	finished := s.create(t, "How many ways to choose 3 of 5?")
	before := frames(t, s.url+"/v1/runs/"+finished.ID+"/events")
	if len(before) < 100 || !strings.Contains(before[len(before)-1], "event: run.completed") {
		t.Fatalf("finished run: %d frames, last %q", len(before), before[len(before)-1])
	}

	long := s.create(t, "sim:long 500000")
	resp, err := http.Get(s.url + "/v1/runs/" + long.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	r := sse.NewReader(resp.Body)
	var seen []int64
	for len(seen) < 300 {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("live stream: %v", err)
		}
		if ev.HasID {
			var e thinkstream.Event
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, e.Seq)
		}
	}
	// Crash while generating and while a viewer is attached.
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	// The viewer drains what reached it before the crash.
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.HasID {
			var e thinkstream.Event
			if json.Unmarshal([]byte(ev.Data), &e) == nil {
				seen = append(seen, e.Seq)
			}
		}
	}
	resp.Body.Close()

	addr := strings.TrimPrefix(s.url, "http://")
	// Opted out of continuing interrupted runs (the default; see
	// TestServerResumesAfterKill): the cut run ends with run.interrupted.
	s2 := start(t, dir, addr, "--sim-rate", "3000", "--resume-interrupted=false")
	after := frames(t, s2.url+"/v1/runs/"+finished.ID+"/events")
	if len(after) != len(before) {
		t.Fatalf("finished run replays %d frames, had %d", len(after), len(before))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("frame %d differs after restart:\n%s\n---\n%s", i, before[i], after[i])
		}
	}
	// The viewer of the interrupted run reconnects where it stopped: every
	// event it saw was durable, and the rest ends in run.interrupted.
	last := seen[len(seen)-1]
	req, _ := http.NewRequest("GET", s2.url+"/v1/runs/"+long.ID+"/events", nil)
	req.Header.Set("Last-Event-ID", fmt.Sprint(last))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("resume after crash: status %d\n%s", resp.StatusCode, s2.logs)
	}
	r = sse.NewReader(resp.Body)
	var lastEv thinkstream.Event
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if !ev.HasID {
			continue
		}
		if err := json.Unmarshal([]byte(ev.Data), &lastEv); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, lastEv.Seq)
	}
	for i, seq := range seen {
		if seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: lost or duplicated across the crash", i, seq)
		}
	}
	if lastEv.Type != thinkstream.EventRunInterrupted || lastEv.Error == nil || !lastEv.Error.Retryable {
		t.Fatalf("interrupted run ends with %+v", lastEv)
	}
	run := getRun(t, s2.url, long.ID)
	if run.State != thinkstream.StateInterrupted {
		t.Errorf("state after restart: %s", run.State)
	}
}

// dataOf returns the data of one raw frame.
func dataOf(frame string) string {
	for _, line := range strings.Split(frame, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			return d
		}
	}
	return ""
}

func getRun(t *testing.T, base, id string) thinkstream.Run {
	t.Helper()
	resp, err := http.Get(base + "/v1/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Run thinkstream.Run `json:"run"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Run
}

func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	s := start(t, t.TempDir(), "127.0.0.1:0", "--sim-rate", "500", "--shutdown-grace", "0s")
	long := s.create(t, "sim:long 100000")
	resp, err := http.Get(s.url + "/v1/runs/" + long.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	n := 0
	for n < 20 {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.HasID {
			n++
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var last sse.Event
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		last = ev
	}
	if last.Type != thinkstream.EventRunInterrupted {
		t.Errorf("stream ended with %q, want run.interrupted", last.Type)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, s.logs)
		}
	case <-ctx.Done():
		t.Fatal("server did not exit after SIGTERM")
	}
}
