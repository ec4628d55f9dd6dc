package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one `thinkstream serve` child process. Unlike a helper that
// only needs a running server, the scenarios also need to see a server
// that refuses to start (its exit status and message), to SIGKILL one, and
// to time how long SIGTERM takes.
type server struct {
	pid    int
	url    string
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{} // closed once the process has been waited for
	err    error         // the exit status, set before exited closes
}

// startOutcome is how a start ended: listening, exited, or neither within
// the deadline (then the process is killed).
type startOutcome int

const (
	listening startOutcome = iota
	exitedEarly
	hungAtStart
)

// startServer runs bin serve with args and waits for its "listening on URL"
// line, its exit, or startTimeout. The error is for failures of the suite
// itself (the binary cannot be run); how the server behaved is the outcome.
func startServer(ctx context.Context, bin string, args []string, startTimeout time.Duration) (*server, startOutcome, error) {
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.SysProcAttr = childAttr()
	s := &server{cmd: cmd, stderr: newTail(1 << 20), exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	s.pid = cmd.Process.Pid
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		first <- line
		_, _ = io.Copy(io.Discard, br)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line := <-first:
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
			s.url = u
			return s, listening, nil
		}
		// No first line: the process ended (the pipe closed) or wrote
		// something else; either way it is not serving.
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.kill()
		}
		return s, exitedEarly, nil
	case <-timer.C:
		s.kill()
		return s, hungAtStart, nil
	case <-ctx.Done():
		s.kill()
		return s, hungAtStart, ctx.Err()
	}
}

// kill sends SIGKILL and waits for the process.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// term sends SIGTERM and reports how long the server took to exit; past
// limit it is killed and stopped is false.
func (s *server) term(limit time.Duration) (took time.Duration, stopped bool) {
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return time.Since(start), true
	case <-time.After(limit):
		s.kill()
		return time.Since(start), false
	}
}

// close stops the server if it still runs; for deferred clean-up.
func (s *server) close() {
	if s == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		s.term(15 * time.Second)
	}
}

// exitCode is the process's exit status once it has exited (-1 when it was
// killed by a signal).
func (s *server) exitCode() int {
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// tail keeps the last max bytes written to it: the server's log, for the
// messages scenarios look for and for failure reports.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lastLines returns up to n trailing lines of s, for a failure message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
