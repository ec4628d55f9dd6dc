package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports; reading it needs
// sysconf (cgo), so it is a constant here.
const clockTicks = 100

// ProcStats reads a process's CPU time and peak memory from /proc.
type ProcStats struct{ PID int }

// CPU returns the user+system CPU time the process has used.
func (p ProcStats) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU extracts utime+stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may contain spaces: fields are
// counted after its closing parenthesis.
func parseStatCPU(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	return time.Duration(u+st) * time.Second / clockTicks, nil
}

// Memory returns the process's resident set now and its peak (VmRSS and
// VmHWM), in bytes.
func (p ProcStats) Memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseStatusMemory(f)
}

func parseStatusMemory(r io.Reader) (rss, peak int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("proc status: %s: unexpected %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("proc status: %s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if peak == 0 {
		return 0, 0, errors.New("proc status: no VmHWM")
	}
	return rss, peak, nil
}

// Process is a `thinkstream serve` started as a child process, so that its
// CPU time and memory are its own and not the benchmark clients'.
type Process struct {
	ProcStats
	url  string
	cmd  *exec.Cmd
	done chan error
}

// StartProcess runs argv (the server command, which must print "listening
// on URL" as its first stdout line) and waits for that line.
func StartProcess(ctx context.Context, argv []string, stderr io.Writer) (*Process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	p := &Process{ProcStats: ProcStats{PID: cmd.Process.Pid}, cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			_ = p.Close()
			return nil, fmt.Errorf("start server: first line %q, want \"listening on URL\"", line)
		}
		p.url = u
		return p, nil
	case <-ctx.Done():
		_ = p.Close()
		return nil, ctx.Err()
	}
}

// URL is the server's base URL.
func (p *Process) URL() string { return p.url }

// Close stops the server (SIGTERM, then SIGKILL after 15s).
func (p *Process) Close() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// RaiseFileLimit raises the soft limit of open files to the hard limit
// (children inherit it): thousands of viewers need as many sockets on
// each side.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// machineCPU reads the machine's busy and total CPU time from /proc/stat,
// to tell how much of the CPU other processes took during a window.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU parses the "cpu" line: user nice system idle iowait irq
// softirq steal ..., in USER_HZ ticks; idle and iowait are not busy.
func parseMachineCPU(line string) (busy, total time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("proc stat: unexpected %q", line)
	}
	var ticks [8]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("proc stat: %w", err)
		}
	}
	var b, t int64
	for i, n := range ticks {
		t += n
		if i != 3 && i != 4 {
			b += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(b) * tick, time.Duration(t) * tick, nil
}

// Remote is a server the benchmark did not start: at a URL, and, when it
// runs on this machine and its pid is given, readable in /proc.
type Remote struct {
	BaseURL string
	// PID of the server on this machine; 0: its resources are unknown.
	PID int
}

// URL is the server's base URL.
func (r Remote) URL() string { return r.BaseURL }

// CPU reads the server's CPU time when its pid is known.
func (r Remote) CPU() (time.Duration, error) {
	if r.PID == 0 {
		return 0, errors.New("server pid unknown")
	}
	return ProcStats{PID: r.PID}.CPU()
}

// Memory reads the server's memory when its pid is known.
func (r Remote) Memory() (rss, peak int64, err error) {
	if r.PID == 0 {
		return 0, 0, errors.New("server pid unknown")
	}
	return ProcStats{PID: r.PID}.Memory()
}
