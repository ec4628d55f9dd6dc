package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/client"
)

// TestMain lets testscript run this package's program as the `thinkstream`
// command of the scripts in testdata/script.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"thinkstream": scriptMain})
}

// scriptMain is main for scripts. TESTSCRIPT_STDOUT_TEE names a file that
// also receives stdout, so that a script can read the first line of a
// server it started in the background (testscript shows a background
// command's output only once it has ended).
func scriptMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var stdout io.Writer = os.Stdout
	if p := os.Getenv("TESTSCRIPT_STDOUT_TEE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		stdout = io.MultiWriter(os.Stdout, f)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, stdout, os.Stderr); err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "thinkstream:", err)
		}
		os.Exit(exitCode(err))
	}
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver": cmdWaitServer,
			"capture":    cmdCapture,
		},
		RequireExplicitExec: true,
	})
}

// cmdWaitServer waits for the "listening on URL" line in a file written by
// a background `thinkstream serve` and sets THINKSTREAM_SERVER to the URL.
//
//	waitserver FILE
func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitserver FILE")
	}
	re := regexp.MustCompile(`(?m)^listening on (http://\S+)$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if m := re.FindSubmatch(b); m != nil {
			ts.Setenv("THINKSTREAM_SERVER", string(m[1]))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no listening line in %s after 30s", args[0])
		}
		// Polling a file a background process writes: there is no event
		// to wait on across processes.
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdCapture sets an environment variable to the first submatch of a
// regular expression in the last command's stdout or stderr.
//
//	capture VAR stdout|stderr REGEXP
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || (args[1] != "stdout" && args[1] != "stderr") {
		ts.Fatalf("usage: capture VAR stdout|stderr REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[2])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[1]))
	if len(m) < 2 {
		ts.Fatalf("no match of %q in %s", args[2], args[1])
	}
	ts.Setenv(args[0], m[1])
}

// startServer runs `thinkstream serve` in-process, as main would, and
// returns its URL.
func startServer(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--shutdown-grace", "0s"}, extra...)
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("serve said %q", line)
	}
	return url
}

// TestAskDetachesOnInterrupt: Ctrl-C with a stdin that is not a terminal
// leaves the run running and says how to re-attach.
func TestAskDetachesOnInterrupt(t *testing.T) {
	srv := startServer(t, "--sim-rate", "200", "--sim-ttft", "-1s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	stdout := &cancelAfter{n: 5, cancel: cancel}
	err := run(ctx, []string{"ask", "--server", srv, "sim:long 100000"}, func(string) string { return "" },
		strings.NewReader("c\n"), stdout, &stderr)
	if err != nil {
		t.Fatalf("ask: %v", err)
	}
	m := regexp.MustCompile(`detached; run (\S+) keeps running. Re-attach with:\n  thinkstream watch (\S+) --server (\S+)\n`).
		FindStringSubmatch(stderr.String())
	if m == nil || m[1] != m[2] || m[3] != srv {
		t.Fatalf("stderr %q: want the detach hint", stderr.String())
	}
	d, err := client.New(srv, nil).Get(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	if d.Run.State != thinkstream.StateRunning {
		t.Errorf("run is %s after detaching, want running", d.Run.State)
	}
}

// cancelAfter is a stdout that cancels the command after n writes.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return len(p), nil
}

func TestParseRunRef(t *testing.T) {
	tests := []struct {
		ref, id, server, err string
	}{
		{ref: "01a2-b3", id: "01a2-b3"},
		{ref: "http://h:8080/r/abc", id: "abc", server: "http://h:8080"},
		{ref: "https://h/r/abc/", id: "abc", server: "https://h"},
		{ref: "http://h/v1/runs/abc", id: "abc", server: "http://h"},
		{ref: "http://h/v1/runs/abc/events?after=3", id: "abc", server: "http://h"},
		{ref: "http://h/think/v1/runs/abc", id: "abc", server: "http://h/think"},
		{ref: "http://h/other/abc", err: "not a run URL"},
		{ref: "http://h/v1/runs", err: "not a run URL"},
		{ref: "a/b", err: "not a run id"},
		{ref: "", err: "not a run id"},
	}
	for _, tt := range tests {
		id, server, err := parseRunRef(tt.ref)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseRunRef(%q) err = %v, want %q", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil || id != tt.id || server != tt.server {
			t.Errorf("parseRunRef(%q) = %q, %q, %v; want %q, %q", tt.ref, id, server, err, tt.id, tt.server)
		}
	}
}

func TestSplitInterleaved(t *testing.T) {
	tests := []struct {
		args, flags, pos []string
	}{
		{[]string{"what is", "--json"}, []string{"--json"}, []string{"what is"}},
		{[]string{"--seed", "3", "x", "--temperature=0.5"}, []string{"--seed", "3", "--temperature=0.5"}, []string{"x"}},
		{[]string{"a", "--", "--json"}, nil, []string{"a", "--json"}},
		{[]string{"-", "--max-tokens", "9"}, []string{"--max-tokens", "9"}, []string{"-"}},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("ask", flag.ContinueOnError)
		var seed optInt64
		fs.Var(&seed, "seed", "")
		fs.String("temperature", "", "")
		fs.Int("max-tokens", 0, "")
		fs.Bool("json", false, "")
		flags, pos := splitInterleaved(fs, tt.args)
		if diff := cmp.Diff(tt.flags, flags); diff != "" {
			t.Errorf("%q flags (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff(tt.pos, pos); diff != "" {
			t.Errorf("%q positional (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestRendererPlain(t *testing.T) {
	var out, errw bytes.Buffer
	r := newRenderer(&env{getenv: func(string) string { return "" }, stdout: &out, stderr: &errw}, false)
	evs := []thinkstream.Event{
		{Seq: 1, Type: thinkstream.EventRunCreated},
		{Seq: 2, Type: thinkstream.EventRunStarted},
		{Seq: 3, Type: thinkstream.EventThinking, Text: "\nLet me"},
		{Seq: 5, From: 4, Type: thinkstream.EventThinking, Text: " think.\n"},
		{Seq: 6, Type: thinkstream.EventCode, Channel: "thinking", Text: "```go\nx\n```"},
		{Seq: 7, Type: thinkstream.EventAnswer, Text: "\nIt is 4."},
		{Seq: 8, Type: thinkstream.EventResult, Answer: "4"},
		{Seq: 9, T: 1500, Type: thinkstream.EventRunCompleted, State: thinkstream.StateCompleted},
	}
	for _, ev := range evs {
		if err := r.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	r.close()
	want := "── thinking ──\nLet me think.\n```go\nx\n```\n\n── answer ──\nIt is 4.\n\nResult: 4\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if got, want := errw.String(), "completed · 5 tokens · 1.5s\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if err := r.outcome(); err != nil {
		t.Errorf("outcome %v, want nil", err)
	}
}

func TestRendererOutcome(t *testing.T) {
	tests := []struct {
		end  thinkstream.Event
		want string
	}{
		{thinkstream.Event{Type: thinkstream.EventRunCompleted}, ""},
		{thinkstream.Event{Type: thinkstream.EventRunFailed, Error: &thinkstream.RunError{Message: "boom"}}, "run failed: boom"},
		{thinkstream.Event{Type: thinkstream.EventRunCancelled}, "run cancelled"},
		{thinkstream.Event{Type: thinkstream.EventRunInterrupted}, "run interrupted: the server stopped before it finished"},
	}
	for _, tt := range tests {
		r := newRenderer(&env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}, true)
		if err := r.event(tt.end); err != nil {
			t.Fatal(err)
		}
		err := r.outcome()
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%s: outcome %v, want %q", tt.end.Type, err, tt.want)
		}
		var ee interface{ ExitCode() int }
		if tt.want != "" && (!errors.As(err, &ee) || ee.ExitCode() == 0) {
			t.Errorf("%s: want a non-zero exit code", tt.end.Type)
		}
	}
}

// TestInterruptedPrompt: on a terminal, Ctrl-C asks; "c" cancels the run,
// anything else (Enter: the default) detaches.
func TestInterruptedPrompt(t *testing.T) {
	srv := startServer(t, "--sim-rate", "50", "--sim-ttft", "-1s")
	c := client.New(srv, nil)
	for _, tt := range []struct {
		answer string
		state  thinkstream.RunState
		err    string
	}{
		{"c\n", thinkstream.StateCancelled, "run cancelled: cancelled by you"},
		{"\n", thinkstream.StateRunning, ""},
		{"", thinkstream.StateRunning, ""}, // EOF
	} {
		cr, err := c.Create(context.Background(), client.CreateRequest{Problem: "sim:long 100000"})
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		e := &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(tt.answer), stdout: io.Discard, stderr: &stderr}
		err = interrupted(e, true, c, cr, srv)
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
			t.Errorf("answer %q: err %v, want %q", tt.answer, err, tt.err)
		}
		if !strings.HasPrefix(stderr.String(), "\ncancel the run or detach? [c/D] ") {
			t.Errorf("answer %q: stderr %q: want the question", tt.answer, stderr.String())
		}
		// A cancelled run ends at once; wait for its terminal state.
		deadline := time.Now().Add(10 * time.Second)
		for {
			d, err := c.Get(context.Background(), cr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Run.State == tt.state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("answer %q: run is %s, want %s", tt.answer, d.Run.State, tt.state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// screen is a minimal terminal: it applies the bytes the renderer writes
// (printable text, \n, \r, erase line, cursor up, cursor to column) to a
// grid of lines, so a test can check what a person would see.
type screen struct {
	lines    [][]rune
	row, col int
}

func (s *screen) Write(p []byte) (int, error) {
	rs := []rune(string(p))
	for i := 0; i < len(rs); i++ {
		for len(s.lines) <= s.row {
			s.lines = append(s.lines, nil)
		}
		switch c := rs[i]; c {
		case '\n': // a terminal's output processing makes it CR LF
			s.row++
			s.col = 0
		case '\r':
			s.col = 0
		case 0x1b:
			j := i + 2 // after ESC [
			n := 0
			for ; j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';'); j++ {
				if rs[j] != ';' {
					n = n*10 + int(rs[j]-'0')
				}
			}
			switch rs[j] {
			case 'K':
				if s.col < len(s.lines[s.row]) {
					s.lines[s.row] = s.lines[s.row][:s.col]
				}
			case 'A':
				s.row -= max(n, 1)
			case 'G':
				s.col = max(n, 1) - 1
			case 'm': // style: invisible here
			}
			i = j
		default:
			line := s.lines[s.row]
			for len(line) <= s.col {
				line = append(line, ' ')
			}
			line[s.col] = c
			s.lines[s.row] = line
			s.col++
		}
	}
	return len(p), nil
}

func (s *screen) String() string {
	var b strings.Builder
	for _, l := range s.lines {
		b.WriteString(strings.TrimRight(string(l), " ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func TestRendererTerminal(t *testing.T) {
	var scr screen
	var errw bytes.Buffer
	r := &renderer{out: &scr, errw: &errw, tty: true, color: true, width: 20}
	evs := []thinkstream.Event{
		{Seq: 1, Type: thinkstream.EventRunCreated},
		{Seq: 2, Type: thinkstream.EventThinking, Text: "\nLet me think about"},
		{Seq: 3, Type: thinkstream.EventThinking, Text: " this with care.\nOk"},
		{Seq: 4, T: 2000, Type: thinkstream.EventStats, Stats: &thinkstream.Stats{Tokens: 3, TokensPerSec: 1.5}},
	}
	for _, ev := range evs {
		if err := r.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	// Mid-run: the text wrapped at the width, the status line below it.
	want := "── thinking ──\nLet me think about\nthis with care.\nOk\n3 tokens · 1.5 tok\n"
	if diff := cmp.Diff(want, scr.String()); diff != "" {
		t.Errorf("screen mid-run (-want +got):\n%s", diff)
	}
	for _, ev := range []thinkstream.Event{
		{Seq: 5, Type: thinkstream.EventAnswer, Text: "4"},
		{Seq: 6, Type: thinkstream.EventResult, Answer: "4"},
		{Seq: 7, T: 2500, Type: thinkstream.EventRunCompleted},
	} {
		if err := r.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	r.close()
	want = "── thinking ──\nLet me think about\nthis with care.\nOk\n\n── answer ──\n4\n\nResult: 4\n"
	if diff := cmp.Diff(want, scr.String()); diff != "" {
		t.Errorf("screen at the end (-want +got):\n%s", diff)
	}
}
