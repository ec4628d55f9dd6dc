package openaiapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// cancelTimeout bounds the Cancel call made after a client went away; the
// request context is already done by then.
const cancelTimeout = 5 * time.Second

// completion carries what every chunk of one response repeats.
type completion struct {
	id        string
	created   int64
	model     string
	maxTokens int
}

func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) {
	p, err := h.parseRequest(r, http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	run, err := h.runs.Create(r.Context(), p.run)
	if err != nil {
		h.log.Warn("openai api: create run", "err", err)
		writeError(w, h.createError(err))
		return
	}
	w.Header().Set("X-Thinkstream-Run-Id", run.ID)
	w.Header().Set("Location", "/r/"+run.ID)
	c := completion{id: "chatcmpl-" + run.ID, created: h.opts.Now().Unix(), model: p.model, maxTokens: run.Params.MaxTokens}
	if p.stream {
		h.stream(w, r, run.ID, c, p.includeUsage)
	} else {
		h.complete(w, r, run.ID, c)
	}
}

// outcome is how a run's event stream ended.
type outcome struct {
	finish string // "stop", "length", "abort"; empty on error
	usage  *thinkstream.Usage
	err    *thinkstream.RunError
	ended  bool // a terminal (or error) event was seen
}

// step applies one event: it returns the text it adds to the reasoning or
// the answer, and whether the response is over.
func (c completion) step(ev thinkstream.Event, out *outcome) (reasoning, content string, done bool) {
	if thinkstream.IsReasoning(ev.Type, ev.Channel) {
		return ev.Text, "", false
	}
	switch ev.Type {
	case thinkstream.EventCode, thinkstream.EventAnswer:
		return "", ev.Text, false
	case thinkstream.EventRunError, thinkstream.EventRunFailed, thinkstream.EventRunInterrupted:
		out.ended = true
		out.err = ev.Error
		if out.err == nil {
			out.err = &thinkstream.RunError{Code: "run_failed", Message: "the run failed"}
		}
		return "", "", true
	case thinkstream.EventRunCancelled:
		out.ended, out.finish, out.usage = true, "abort", ev.Usage
		return "", "", true
	case thinkstream.EventRunCompleted:
		out.ended, out.finish, out.usage = true, "stop", ev.Usage
		switch {
		case ev.FinishReason != "":
			out.finish = ev.FinishReason
		case ev.Usage != nil && c.maxTokens > 0 && ev.Usage.CompletionTokens >= c.maxTokens:
			// Logs written before finish_reason existed: hitting the
			// token budget exactly is what "length" means to a client.
			out.finish = "length"
		}
		return "", "", true
	}
	return "", "", false
}

type item struct {
	ev  thinkstream.Event
	err error
}

// follow pumps the run's events into a channel so the caller can also wait
// on a keep-alive ticker. stop ends the pump and waits for it.
func (h *Handler) follow(ctx context.Context, id string) (<-chan item, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan item)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for ev, err := range h.runs.Follow(ctx, id, 0) {
			select {
			case ch <- item{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

// abandon cancels a run whose client went away before it ended, as vLLM
// aborts a request whose client disconnects.
func (h *Handler) abandon(r *http.Request, id string, out outcome) {
	if out.ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), cancelTimeout)
	defer cancel()
	if err := h.runs.Cancel(ctx, id); err != nil {
		h.log.Warn("openai api: cancel abandoned run", "run", id, "err", err)
		return
	}
	h.log.Info("openai api: client went away, run cancelled", "run", id)
}

// --- streaming ---

type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type delta struct {
	Role             string  `json:"role,omitempty"`
	Content          *string `json:"content,omitempty"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
	Reasoning        *string `json:"reasoning,omitempty"`
}

type usage struct {
	PromptTokens            int                `json:"prompt_tokens"`
	CompletionTokens        int                `json:"completion_tokens"`
	TotalTokens             int                `json:"total_tokens"`
	CompletionTokensDetails *completionDetails `json:"completion_tokens_details,omitempty"`
}

type completionDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

func toUsage(u *thinkstream.Usage) *usage {
	if u == nil {
		return &usage{}
	}
	return &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens:             u.PromptTokens + u.CompletionTokens,
		CompletionTokensDetails: &completionDetails{ReasoningTokens: u.ReasoningTokens}}
}

// sseWriter writes data-only frames and remembers the first write error
// (the client is gone; nothing later can reach it).
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
	// timeout bounds each write, so a client that stops reading cannot
	// hold its run and this handler forever.
	timeout time.Duration
}

func (s *sseWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	if s.timeout > 0 {
		// Not every ResponseWriter supports deadlines; without one the
		// write is merely unbounded.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	}
	if _, s.err = s.w.Write(b); s.err == nil {
		s.err = s.rc.Flush()
	}
}

func (s *sseWriter) send(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{"error":{"message":"encoding failed","type":"server_error","param":null,"code":null}}`)
	}
	s.raw(data)
}

func (s *sseWriter) raw(data []byte) {
	if s.err != nil {
		return
	}
	s.buf, _ = sse.AppendEvent(s.buf[:0], "", "", data) // empty id and event cannot be invalid
	s.write(s.buf)
}

func (s *sseWriter) comment(text string) {
	if s.err != nil {
		return
	}
	s.buf = sse.AppendComment(s.buf[:0], text)
	s.write(s.buf)
}

func (c completion) chunk(d delta, finish string) chunk {
	ch := chunkChoice{Delta: d}
	if finish != "" {
		ch.FinishReason = &finish
	}
	return chunk{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model, Choices: []chunkChoice{ch}}
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request, id string, c completion, includeUsage bool) {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx would otherwise hold the tokens back
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.opts.WriteTimeout}
	empty := ""
	s.send(c.chunk(delta{Role: "assistant", Content: &empty}, ""))

	events, stop := h.follow(r.Context(), id)
	defer stop()
	tick := time.NewTicker(h.opts.KeepAlive)
	defer tick.Stop()
	var out outcome
loop:
	for s.err == nil {
		select {
		case <-tick.C:
			s.comment("keep-alive")
			continue
		case it, ok := <-events:
			if !ok {
				break loop
			}
			if it.err != nil {
				if r.Context().Err() == nil {
					h.log.Error("openai api: follow run", "run", id, "err", it.err)
				}
				break loop
			}
			reasoning, content, done := c.step(it.ev, &out)
			switch {
			case reasoning != "":
				s.send(c.chunk(delta{ReasoningContent: &reasoning, Reasoning: &reasoning}, ""))
			case content != "":
				s.send(c.chunk(delta{Content: &content}, ""))
			}
			if done {
				break loop
			}
		}
	}
	if s.err != nil || r.Context().Err() != nil {
		h.abandon(r, id, out)
		return
	}
	switch {
	case out.finish != "":
		s.send(c.chunk(delta{}, out.finish))
		if includeUsage {
			s.send(chunk{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model,
				Choices: []chunkChoice{}, Usage: toUsage(out.usage)})
		}
	case out.err != nil:
		s.send(errorBody{Error: runErrorObject(out.err)})
	default:
		// The event stream ended without a terminal event: an internal
		// failure, reported without its text.
		s.send(errInternal.body())
	}
	s.raw([]byte(sse.DoneData))
}

func runErrorObject(e *thinkstream.RunError) errorObject {
	code := e.Code
	msg := e.Message
	if msg == "" {
		msg = "The run failed."
	}
	return errorObject{Message: msg, Type: typeServer, Code: &code}
}

// --- non-streaming ---

type completionResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []fullChoice `json:"choices"`
	Usage   *usage       `json:"usage"`
}

type fullChoice struct {
	Index        int       `json:"index"`
	Message      message   `json:"message"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type message struct {
	Role             string  `json:"role"`
	Content          string  `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
	Reasoning        *string `json:"reasoning,omitempty"`
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request, id string, c completion) {
	events, stop := h.follow(r.Context(), id)
	defer stop()
	var out outcome
	var reasoning, content strings.Builder
	for it := range events {
		if it.err != nil {
			if r.Context().Err() == nil {
				h.log.Error("openai api: follow run", "run", id, "err", it.err)
			}
			break
		}
		rs, ct, done := c.step(it.ev, &out)
		reasoning.WriteString(rs)
		content.WriteString(ct)
		if done {
			break
		}
	}
	if r.Context().Err() != nil {
		h.abandon(r, id, out)
		return
	}
	switch {
	case out.err != nil:
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: runErrorObject(out.err)})
		return
	case out.finish == "":
		writeError(w, errInternal)
		return
	}
	msg := message{Role: "assistant", Content: content.String()}
	if reasoning.Len() > 0 {
		rs := reasoning.String()
		msg.ReasoningContent, msg.Reasoning = &rs, &rs
	}
	writeJSON(w, http.StatusOK, completionResponse{
		ID: c.id, Object: "chat.completion", Created: c.created, Model: c.model,
		Choices: []fullChoice{{Message: msg, FinishReason: out.finish}},
		Usage:   toUsage(out.usage),
	})
}
