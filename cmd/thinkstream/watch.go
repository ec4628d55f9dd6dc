package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/client"
)

// parseRunRef accepts a run id or a URL of a run (/r/{id} of the web UI or
// /v1/runs/{id}[/events] of the API) and returns the id and, for a URL, the
// server it names.
func parseRunRef(ref string) (id, server string, err error) {
	if !strings.Contains(ref, "://") {
		if ref == "" || strings.ContainsAny(ref, "/?# ") {
			return "", "", fmt.Errorf("%q is not a run id or run URL", ref)
		}
		return ref, "", nil
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%q is not a run URL", ref)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	// The server may live under a path prefix: find the run's segment from
	// the end.
	for i := len(parts) - 1; i >= 0; i-- {
		switch {
		case parts[i] == "r" && i+1 < len(parts) && i+2 == len(parts):
			id = parts[i+1]
		case parts[i] == "runs" && i > 0 && parts[i-1] == "v1" && i+1 < len(parts) &&
			(i+2 == len(parts) || (i+3 == len(parts) && parts[i+2] == "events")):
			id = parts[i+1]
			i--
		default:
			continue
		}
		prefix := strings.Join(parts[:i], "/")
		if prefix != "" {
			prefix = "/" + prefix
		}
		return id, u.Scheme + "://" + u.Host + prefix, nil
	}
	return "", "", fmt.Errorf("%q is not a run URL: want …/r/ID or …/v1/runs/ID", ref)
}

// viewOptions are the rendering choices shared by ask and watch.
type viewOptions struct {
	json     bool
	coalesce bool
}

// viewRun streams a run to stdout and reports how it ended: nil when it
// completed, a *runEndError otherwise.
func viewRun(ctx context.Context, e *env, c *client.Client, id string, o viewOptions) error {
	r := newRenderer(e, o.json)
	err := c.Stream(ctx, id, client.StreamOptions{
		Coalesce: o.coalesce, OnState: r.connState, OnViewers: r.setViewers,
	}, r.event)
	r.close()
	if err != nil {
		return err
	}
	return r.outcome()
}

func cmdWatch(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	server := fs.String("server", defaultServer, "thinkstream server URL (env THINKSTREAM_SERVER)")
	token := fs.String("token", "", "API token of a server in token mode (env THINKSTREAM_TOKEN)")
	fromStart := fs.Bool("from-start", false, "replay every event from the start instead of merging the catch-up")
	jsonOut := fs.Bool("json", false, "print the raw events, one JSON object per line")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: thinkstream watch [flags] <run-id | run URL>\n\nFlags:")
		fs.PrintDefaults()
	}
	flags, pos := splitInterleaved(fs, args)
	if err := parseFlags(fs, flags, e.getenv, nil); err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	id, urlServer, err := parseRunRef(pos[0])
	if err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "server" })
	// A URL names its server, unless --server (or the env) says otherwise.
	if urlServer != "" && !explicit {
		*server = urlServer
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	// Ask once before streaming: an unknown run or an unreachable server
	// fails at once instead of after the stream's reconnection attempts.
	if _, err := c.Get(ctx, id); err != nil {
		return explainReach(err, *server)
	}
	err = viewRun(ctx, e, c, id, viewOptions{json: *jsonOut, coalesce: !*fromStart})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C: stop watching; the run is not ours to cancel
	}
	return explainReach(err, *server)
}

// ANSI styles. Thinking is dimmed so the answer stands out; code is cyan;
// the result is bold green.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiCode   = "\x1b[36m"
	ansiBold   = "\x1b[1m"
	ansiResult = "\x1b[1;32m"
	ansiRed    = "\x1b[31m"
)

// renderer draws a run's events on a terminal (colours and a live status
// line under the text), as plain text (a pipe or a file), or as JSON lines.
// All its methods are called from the one goroutine running Stream.
type renderer struct {
	out, errw io.Writer
	json      bool
	color     bool // ANSI styles
	tty       bool // a status line is drawn under the text
	width     int

	section string // "thinking" or "answer": the last header printed
	fresh   bool   // nothing written since the header: skip leading newlines
	col     int    // visible column of the cursor in the text (tty)
	status  bool   // a status line is on screen below the text

	tokens  int64
	elapsed int64 // ms since the run was created, from the last event
	stats   *thinkstream.Stats
	viewers int
	conn    client.State
	queued  int
	end     *thinkstream.Event
	err     error // first write error: the terminal went away
}

func newRenderer(e *env, jsonOut bool) *renderer {
	r := &renderer{out: e.stdout, errw: e.stderr, json: jsonOut, width: 80}
	if fd, ok := termFile(e.stdout); ok && !jsonOut {
		r.tty = true
		r.color = e.getenv("NO_COLOR") == "" && e.getenv("TERM") != "dumb"
		if w, _, err := term.GetSize(fd); err == nil && w > 20 {
			r.width = w
		}
	}
	return r
}

func (r *renderer) write(s string) {
	if r.err == nil {
		_, r.err = io.WriteString(r.out, s)
	}
}

// event renders one event; it fails only when stdout is gone.
func (r *renderer) event(ev thinkstream.Event) error {
	if thinkstream.IsDelta(ev.Type) {
		n := int64(1)
		if ev.From != 0 {
			n = ev.Seq - ev.From + 1 // a merged catch-up frame
		}
		r.tokens += n
	}
	r.elapsed = ev.T
	if thinkstream.IsTerminal(ev.Type) {
		end := ev
		r.end = &end
	}
	if r.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		r.write(string(b) + "\n")
		return r.err
	}
	switch ev.Type {
	case thinkstream.EventThinking:
		r.text("thinking", ev.Text, ansiDim)
	case thinkstream.EventCode:
		sec := "answer"
		if thinkstream.IsReasoning(ev.Type, ev.Channel) {
			sec = "thinking"
		}
		r.text(sec, ev.Text, ansiCode)
	case thinkstream.EventAnswer:
		r.text("answer", ev.Text, "")
	case thinkstream.EventResult:
		r.endLine()
		r.write("\n" + r.style(ansiResult, "Result: "+ev.Answer) + "\n")
	case thinkstream.EventStats:
		r.stats = ev.Stats
	case thinkstream.EventRunQueued:
		r.queued = ev.Position
		if !r.tty {
			r.notice(fmt.Sprintf("queued at position %d", ev.Position))
		}
	case thinkstream.EventRunStarted:
		r.queued = 0
	case thinkstream.EventRunError:
		if ev.Error != nil {
			r.notice(r.style(ansiRed, "error: "+ev.Error.Message))
		}
	case thinkstream.EventRunPaused, thinkstream.EventRunResumed:
		r.notice(r.style(ansiBold, "["+strings.TrimPrefix(ev.Type, "run.")+"]"))
	case thinkstream.EventAnnotation:
		if a := ev.Annotation; a != nil {
			r.notice(r.style(ansiBold, fmt.Sprintf("[step %d marked by %s: %s]", a.Step, cmp.Or(a.By, "someone"), a.Note)))
		}
	}
	r.drawStatus()
	return r.err
}

func (r *renderer) style(code, s string) string {
	if !r.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

// text appends streamed text, with a header when the section changes.
func (r *renderer) text(section, s, code string) {
	if section != r.section {
		r.endLine()
		if r.section != "" {
			r.write("\n")
		}
		r.write(r.style(ansiBold, "── "+section+" ──") + "\n")
		r.section, r.fresh = section, true
	}
	if r.fresh {
		if s = strings.TrimLeft(s, "\n"); s == "" {
			return
		}
		r.fresh = false
	}
	r.clearStatus()
	if !r.tty {
		r.write(s)
		if s != "" {
			// The column is not tracked in plain text, only whether a
			// line is open.
			r.col = 1
			if s[len(s)-1] == '\n' {
				r.col = 0
			}
		}
		return
	}
	// On a terminal, wrap by hand so that the cursor's column is known and
	// the status line can be redrawn below the text; strip control bytes
	// so model output cannot move the cursor or restyle the terminal.
	var b strings.Builder
	if r.color && code != "" {
		b.WriteString(code)
	}
	for _, c := range s {
		switch {
		case c == '\n':
			b.WriteByte('\n')
			r.col = 0
			continue
		case c == '\t':
			c = ' '
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			continue
		}
		if r.col >= r.width-1 {
			b.WriteByte('\n')
			r.col = 0
		}
		b.WriteRune(c)
		r.col++
	}
	if r.color && code != "" {
		b.WriteString(ansiReset)
	}
	r.write(b.String())
}

// endLine ends the current text line, if one is open.
func (r *renderer) endLine() {
	r.clearStatus()
	if r.col > 0 {
		r.write("\n")
		r.col = 0
	}
}

// notice shows a line about the run (not of its text): inline on a
// terminal, on stderr otherwise so that stdout carries only the run's text.
func (r *renderer) notice(s string) {
	if !r.tty {
		fmt.Fprintln(r.errw, s)
		return
	}
	r.endLine()
	r.write(s + "\n")
}

// clearStatus removes the status line and puts the cursor back at the end
// of the text.
func (r *renderer) clearStatus() {
	if !r.status {
		return
	}
	r.write("\r\x1b[K\x1b[1A\x1b[" + strconv.Itoa(r.col+1) + "G")
	r.status = false
}

// drawStatus draws the status line below the text (terminals only).
func (r *renderer) drawStatus() {
	if !r.tty || r.end != nil {
		return
	}
	r.clearStatus()
	tokens, rate, elapsed := r.tokens, 0.0, time.Duration(r.elapsed)*time.Millisecond
	if s := r.stats; s != nil {
		tokens, rate = int64(max(s.Tokens, int(r.tokens))), s.TokensPerSec
	} else if elapsed > 0 {
		rate = float64(tokens) / elapsed.Seconds()
	}
	st := fmt.Sprintf("%d tokens · %.1f tok/s · %s", tokens, rate, elapsed.Round(100*time.Millisecond))
	if r.viewers > 0 {
		st += fmt.Sprintf(" · %d watching", r.viewers)
	}
	switch {
	case r.queued > 0:
		st += fmt.Sprintf(" · queued #%d", r.queued)
	case r.conn == client.StateReconnecting:
		st += " · reconnecting…"
	}
	if rs := []rune(st); len(rs) > r.width-2 {
		st = string(rs[:r.width-2])
	}
	r.write("\n\r" + r.style(ansiDim, st))
	r.status = true
}

func (r *renderer) connState(s client.State, err error) {
	r.conn = s
	if !r.tty && s == client.StateReconnecting && r.err == nil {
		fmt.Fprintf(r.errw, "connection lost (%v); reconnecting\n", err)
	}
	r.drawStatus()
}

func (r *renderer) setViewers(n int) { r.viewers = n }

// close ends the output: the status line goes, the text line is ended and
// a summary goes to stderr.
func (r *renderer) close() {
	if r.json {
		return
	}
	r.endLine()
	if r.end == nil {
		return
	}
	sum := fmt.Sprintf("%s · %d tokens · %s", strings.TrimPrefix(r.end.Type, "run."), r.tokens,
		(time.Duration(r.end.T) * time.Millisecond).Round(10*time.Millisecond))
	if r.end.Usage != nil {
		sum = fmt.Sprintf("%s · %d tokens · %s", strings.TrimPrefix(r.end.Type, "run."), r.end.Usage.CompletionTokens,
			(time.Duration(r.end.T) * time.Millisecond).Round(10*time.Millisecond))
	}
	if r.tty {
		fmt.Fprintln(r.errw, r.style(ansiDim, sum))
	} else {
		fmt.Fprintln(r.errw, sum)
	}
}

// outcome maps the terminal event to the command's result.
func (r *renderer) outcome() error {
	if r.end == nil {
		return nil // the server had nothing more (204)
	}
	switch r.end.Type {
	case thinkstream.EventRunCompleted:
		return nil
	case thinkstream.EventRunCancelled:
		return &runEndError{state: thinkstream.StateCancelled, code: 1}
	case thinkstream.EventRunInterrupted:
		return &runEndError{state: thinkstream.StateInterrupted, msg: "the server stopped before it finished", code: 1}
	}
	msg := ""
	if r.end.Error != nil {
		msg = r.end.Error.Message
	}
	return &runEndError{state: thinkstream.StateFailed, msg: msg, code: 1}
}
