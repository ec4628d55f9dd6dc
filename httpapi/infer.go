package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/sse"
)

// DefaultDemoProblem is what a bare GET /infer runs when no run is live:
// the article's own example (choosing 3 out of 5).
const DefaultDemoProblem = "In how many ways can a committee of 3 be chosen from 5 people?"

// inferEndpoint serves the original article's page. Its front-end is
//
//	const es = new EventSource('/infer'); es.onmessage = e => { const msg = JSON.parse(e.data); … msg.event, msg.data }
//
// so every message is unnamed (onmessage sees only those) with data
// {"event", "data", "id"}, and it must work as written:
//
//   - GET /infer (no problem) joins the newest live run, else starts the demo
//     problem; everyone who opens the page meanwhile watches that same run.
//   - GET /infer?problem=… starts a new run of that problem.
//   - The SSE id is "<run>:<seq>", so EventSource's reconnect (Last-Event-ID)
//     continues the same run instead of starting one.
//
// Messages come at the article's granularity: one `thinking` per reasoning
// step, one `answer` with the written answer, one `result` with the final
// answer, `error` when the run fails or is cancelled, `queued` while it
// waits. ?granularity=token sends every text delta instead.
type inferEndpoint struct {
	a    *API
	demo string
	// mu makes "find a live run, else start the demo" one step, so that
	// people opening the page at once join one run instead of each
	// starting their own.
	mu sync.Mutex
}

func newInfer(a *API) *inferEndpoint {
	demo := a.cfg.DemoProblem
	if demo == "" {
		demo = DefaultDemoProblem
	}
	return &inferEndpoint{a: a, demo: demo}
}

func (e *inferEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	a := e.a
	q := r.URL.Query()
	var tokens bool
	switch g := q.Get("granularity"); g {
	case "", "step":
	case "token":
		tokens = true
	default:
		a.problem(w, r, http.StatusBadRequest, "invalid-query", "Invalid query",
			"granularity must be \"step\" or \"token\"", []FieldError{{"granularity", "must be step or token"}})
		return
	}
	opts := streamOptions{}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		id, seq, ok := strings.Cut(last, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil || n < 0 || id == "" {
			a.problem(w, r, http.StatusBadRequest, "invalid-event-id", "Invalid event id",
				"Last-Event-ID must be <run id>:<seq> as sent by this endpoint", nil)
			return
		}
		opts.after, opts.resumed, opts.encode = n, true, newCompat(id, n, tokens).encode
		a.serveStream(w, r, id, opts)
		return
	}
	var id string
	if q.Has("problem") {
		req := thinkstream.RunRequest{Problem: q.Get("problem"), Profile: q.Get("profile"), Source: "infer"}
		c, ok := a.create(w, r, req)
		if !ok {
			return
		}
		id = c.ID
	} else {
		var err error
		if id, err = e.liveOrDemo(r); err != nil {
			a.runError(w, r, err)
			return
		}
	}
	opts.encode = newCompat(id, 0, tokens).encode
	a.serveStream(w, r, id, opts)
}

// liveOrDemo returns the newest run the caller may list that is still
// queued or running, or starts the demo problem. The demo is public: it is
// the run everyone opening the page joins.
func (e *inferEndpoint) liveOrDemo(r *http.Request) (string, error) {
	ctx := r.Context()
	e.mu.Lock()
	defer e.mu.Unlock()
	// The newest few suffice: a live run older than that many newer,
	// already finished ones is rare, and then the demo starts instead.
	list, _, err := e.a.runs.ListFunc(ctx, 32, "", e.a.listed(r))
	if err != nil {
		return "", err
	}
	for _, run := range list {
		if !run.State.Terminal() {
			return run.ID, nil
		}
	}
	c, err := e.a.runs.Create(ctx, thinkstream.RunRequest{Problem: e.demo, Source: "infer",
		Owner: principalOf(ctx).Name, Visibility: thinkstream.VisibilityPublic})
	if err != nil {
		return "", err
	}
	e.a.log.Info("run created", "run", c.ID, "source", "infer", "demo", true)
	return c.ID, nil
}

// compat turns one connection's frames into compat messages. At step
// granularity text is held until its step (or the answer) is complete.
//
// Resuming must neither lose nor repeat a message, so an id is only ever
// sent where nothing is held back: a message gets the seq of the last frame
// it contains, and a frame that sends no message sends its seq alone (an
// SSE frame with an id and no data moves Last-Event-ID without firing
// onmessage) unless text is held, when it sends a comment.
type compat struct {
	run    string
	tokens bool
	prev   int64 // seq of the frame before the current one
	kind   string
	held   strings.Builder
	out    []compatMsg // this frame's messages
}

type compatMsg struct{ event, data string }

func newCompat(run string, after int64, tokens bool) *compat {
	return &compat{run: run, tokens: tokens, prev: after}
}

// Compat message events. "thinking" and "result" are the article's own.
const (
	compatThinking = "thinking"
	compatCode     = "code"
	compatAnswer   = "answer"
	compatResult   = "result"
	compatError    = "error"
	compatQueued   = "queued"
)

func (c *compat) encode(dst []byte, f hub.Frame) []byte {
	var ev thinkstream.Event
	if err := json.Unmarshal(f.Data, &ev); err != nil {
		// Never an empty write: an empty chunk would end the response.
		return sse.AppendComment(dst, "")
	}
	c.out = c.out[:0]
	if c.tokens {
		c.token(ev)
	} else {
		c.step(ev)
	}
	held := c.held.Len() > 0
	for i, m := range c.out {
		// Messages made of held text end at the previous frame; only the
		// last one, with nothing held after it, ends at this frame.
		seq := c.prev
		if i == len(c.out)-1 && !held {
			seq = f.Seq
		}
		dst = c.appendMsg(dst, m.event, m.data, seq)
	}
	switch {
	case len(c.out) > 0:
	case held:
		dst = sse.AppendComment(dst, "")
	default:
		dst = append(dst, "id: "...)
		dst = append(dst, c.run...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, f.Seq, 10)
		dst = append(dst, "\n\n"...)
	}
	c.prev = f.Seq
	return dst
}

func (c *compat) appendMsg(dst []byte, event, text string, seq int64) []byte {
	data, _ := json.Marshal(struct {
		Event string `json:"event"`
		Data  string `json:"data"`
		ID    int64  `json:"id"`
	}{event, text, seq})
	out, _ := sse.AppendEvent(dst, c.run+":"+strconv.FormatInt(seq, 10), "", data)
	return out
}

func (c *compat) emit(event, text string) { c.out = append(c.out, compatMsg{event: event, data: text}) }

// flush sends the held text as one message (whitespace-only text is
// dropped: the blank lines between steps are not a step).
func (c *compat) flush() {
	if t := strings.TrimSpace(c.held.String()); t != "" {
		c.emit(c.kind, t)
	}
	c.held.Reset()
	c.kind = ""
}

func (c *compat) hold(kind, text string) {
	if c.kind != kind {
		c.flush()
		c.kind = kind
	}
	c.held.WriteString(text)
}

// step handles one event at step granularity.
func (c *compat) step(ev thinkstream.Event) {
	switch ev.Type {
	case thinkstream.EventStep:
		c.flush()
	case thinkstream.EventThinking, thinkstream.EventCode, thinkstream.EventAnswer:
		if thinkstream.IsReasoning(ev.Type, ev.Channel) {
			c.hold(compatThinking, ev.Text)
		} else {
			c.hold(compatAnswer, ev.Text)
		}
	case thinkstream.EventResult:
		c.flush()
		c.emit(compatResult, ev.Answer)
	default:
		if thinkstream.IsTerminal(ev.Type) || ev.Type == thinkstream.EventRunError {
			// Without a final answer of its own, a completed run's written
			// answer is its result.
			if ev.Type == thinkstream.EventRunCompleted && c.kind == compatAnswer {
				c.kind = compatResult
			}
			c.flush()
		}
		c.other(ev)
	}
}

// token handles one event at token granularity.
func (c *compat) token(ev thinkstream.Event) {
	switch ev.Type {
	case thinkstream.EventThinking:
		c.emit(compatThinking, ev.Text)
	case thinkstream.EventCode:
		c.emit(compatCode, ev.Text)
	case thinkstream.EventAnswer:
		c.emit(compatAnswer, ev.Text)
	case thinkstream.EventResult:
		c.emit(compatResult, ev.Answer)
	default:
		c.other(ev)
	}
}

// other handles the events that are not text: failures and the queue
// position become messages; run ids, step markers, stats and the like are
// not text and stay off the page.
func (c *compat) other(ev thinkstream.Event) {
	switch ev.Type {
	case thinkstream.EventRunQueued, thinkstream.EventRunError, thinkstream.EventRunCancelled:
		// A message of this event's own ends what is held: sent after it,
		// held text would come out of order and a resume would repeat it.
		c.flush()
	}
	switch ev.Type {
	case thinkstream.EventRunQueued:
		c.emit(compatQueued, fmt.Sprintf("Waiting for a free slot (position %d)", ev.Position))
	case thinkstream.EventRunError:
		// run.failed and run.interrupted follow a run.error: that one
		// carries the message.
		msg := "the run failed"
		if ev.Error != nil && ev.Error.Message != "" {
			msg = ev.Error.Message
		}
		c.emit(compatError, msg)
	case thinkstream.EventRunCancelled:
		c.emit(compatError, "the run was cancelled")
	}
}
