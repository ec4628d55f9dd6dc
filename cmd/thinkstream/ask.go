package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/client"
)

// optFloat is a float flag that knows whether it was set, so an unset
// temperature stays the profile's default instead of becoming 0.
type optFloat struct{ v *float64 }

func (o *optFloat) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'g', -1, 64)
}

func (o *optFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	o.v = &f
	return nil
}

// optInt64 is an int64 flag that knows whether it was set.
type optInt64 struct{ v *int64 }

func (o *optInt64) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatInt(*o.v, 10)
}

func (o *optInt64) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("want an integer")
	}
	o.v = &n
	return nil
}

func cmdAsk(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	server := fs.String("server", defaultServer, "thinkstream server URL (env THINKSTREAM_SERVER)")
	token := fs.String("token", "", "API token of a server in token mode (env THINKSTREAM_TOKEN)")
	prof := fs.String("profile", "", "model profile, e.g. math or code (default: the server's)")
	var temp optFloat
	var seed optInt64
	fs.Var(&temp, "temperature", "sampling temperature, 0 to 2 (default: the profile's)")
	fs.Var(&seed, "seed", "sampling seed (default: random)")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (0: the profile's default)")
	jsonOut := fs.Bool("json", false, "print the raw events, one JSON object per line")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: thinkstream ask [flags] <problem | ->\n\nCreates a run and streams its reasoning; '-' reads the problem from stdin.\n\nFlags:")
		fs.PrintDefaults()
	}
	flags, pos := splitInterleaved(fs, args)
	if err := parseFlags(fs, flags, e.getenv, nil); err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprintln(e.stderr, "thinkstream ask: no problem given: pass it as an argument (quoted) or '-' to read it from stdin, e.g.\n  thinkstream ask \"How many ways are there to choose 3 of 5 people?\"")
		return errUsage
	}
	problem := strings.Join(pos, " ")
	if problem == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("read the problem from stdin: %w", err)
		}
		problem = string(b)
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	req := client.CreateRequest{Problem: problem, Profile: *prof,
		Params: thinkstream.Params{Temperature: temp.v, Seed: seed.v, MaxTokens: *maxTokens}}
	cr, err := c.Create(ctx, req)
	if err != nil {
		return explainReach(err, *server)
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "run %s\n", cr.ID)
	}
	err = viewRun(ctx, e, c, cr.ID, viewOptions{json: *jsonOut})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		_, tty := termFile(e.stdin)
		return interrupted(e, tty, c, cr, *server)
	}
	var end *runEndError
	if errors.Is(err, client.ErrGaveUp) && !errors.As(err, &end) {
		// The run lives on the server whatever happened to this connection.
		fmt.Fprintf(e.stderr, "lost the stream of run %s; it may still be running. Re-attach with:\n  %s\n",
			cr.ID, reattachCommand(cr.ID, *server))
	}
	return explainReach(err, *server)
}

// reattachCommand is the command that follows a run again.
func reattachCommand(id, server string) string {
	if server != defaultServer {
		return "thinkstream watch " + id + " --server " + server
	}
	return "thinkstream watch " + id
}

// interrupted handles Ctrl-C during ask: on a terminal it asks whether to
// cancel the run or leave it running; otherwise (a script, a pipe) it
// detaches, since cancelling someone's run is not a safe default.
func interrupted(e *env, stdinTTY bool, c *client.Client, cr client.Created, server string) error {
	reattach := reattachCommand(cr.ID, server)
	if stdinTTY {
		fmt.Fprint(e.stderr, "\ncancel the run or detach? [c/D] ")
		if a := readAnswer(e.stdin, e.stderr); a == "c" || a == "cancel" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Cancel(ctx, cr.ID, cr.OwnerToken); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "cancelled run %s\n", cr.ID)
			return &runEndError{state: thinkstream.StateCancelled, msg: "cancelled by you", code: 130}
		}
	}
	fmt.Fprintf(e.stderr, "\ndetached; run %s keeps running. Re-attach with:\n  %s\n", cr.ID, reattach)
	return nil
}

const defaultServer = "http://127.0.0.1:8080"

// runEndError is a run that ended otherwise than completed; the command
// exits non-zero with it.
type runEndError struct {
	state thinkstream.RunState
	msg   string
	code  int
}

func (e *runEndError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("run %s: %s", e.state, e.msg)
	}
	return "run " + string(e.state)
}

func (e *runEndError) ExitCode() int { return e.code }

// readAnswer reads one key from a terminal in raw mode (no Enter needed),
// or a line when the terminal cannot be put in raw mode.
func readAnswer(in io.Reader, echo io.Writer) string {
	if fd, ok := termFile(in); ok {
		if old, err := term.MakeRaw(fd); err == nil {
			var b [1]byte
			n, _ := in.Read(b[:])
			_ = term.Restore(fd, old)
			if n == 1 {
				fmt.Fprintln(echo)
				return strings.ToLower(string(b[:1]))
			}
			return ""
		}
	}
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.ToLower(strings.TrimSpace(line))
}

// termFile returns w's file descriptor when w is a terminal. It type-asserts
// the *os.File rather than trusting an interface: tests pass buffers.
func termFile(w any) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// splitInterleaved separates flags from positional arguments so that flags
// may follow them ("ask 'problem' --json"), as the standard flag package
// would otherwise stop at the first positional. "--" ends the flags.
func splitInterleaved(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// newAPIClient returns a client of the server, with no overall timeout
// (streams are long) but bounded connection setup.
func newAPIClient(server, token string) (*client.Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http(s) URL such as %s", server, defaultServer)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	var rt http.RoundTripper = tr
	if token != "" {
		rt = bearerTransport{token: token, next: tr}
	}
	return client.New(server, &http.Client{Transport: rt}), nil
}

// bearerTransport sends the API token with every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// explainReach adds a hint to errors of a server that cannot be reached
// (a failed HTTP exchange, as opposed to an answer or a run's outcome).
func explainReach(err error, server string) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("cannot reach the thinkstream server at %s (start one with `thinkstream serve`, or set --server or THINKSTREAM_SERVER): %w", server, err)
}
