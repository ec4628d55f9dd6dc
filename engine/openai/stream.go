package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// maxErrorBody bounds how much of a failed response we read for its message.
const maxErrorBody = 16 << 10

// maxWholeBody bounds a non-streamed completion: 40,960 tokens of text with
// JSON escaping fit many times over.
const maxWholeBody = 8 << 20

// stream makes one attempt. retryAfter is the upstream's Retry-After, or -1.
func (e *Engine) stream(ctx context.Context, runID, path string, body []byte, emit func(thinkstream.Token) error) (res thinkstream.Result, retryAfter time.Duration, err error) {
	retryAfter = -1
	// The watchdog cancels the request with a cause, so a read blocked in
	// the body returns and we can tell a timeout from the caller's cancel.
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var started atomic.Bool
	watchdog := time.AfterFunc(e.cfg.TTFTTimeout, func() {
		if started.Load() {
			cancel(errIdle)
		} else {
			cancel(errTTFT)
		}
	})
	defer watchdog.Stop()

	r, err := e.newRequest(reqCtx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return res, retryAfter, err
	}
	r.Header.Set("Accept", "text/event-stream")
	if runID != "" {
		r.Header.Set("X-Request-Id", runID)
	}
	resp, err := e.client.Do(r)
	if err != nil {
		if te := timeoutError(reqCtx, e.cfg.TTFTTimeout, e.cfg.IdleTimeout); te != nil {
			return res, retryAfter, te
		}
		if ctx.Err() != nil {
			return res, retryAfter, ctx.Err()
		}
		return res, retryAfter, dialError(err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			retryAfter = d
		}
		return res, retryAfter, statusError(resp.StatusCode, msg)
	}
	s := streamState{emit: emit}
	switch mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt {
	case "text/event-stream", "":
	case "application/json":
		// A gateway that ignored stream: true; the whole completion at once.
		err := s.whole(io.LimitReader(resp.Body, maxWholeBody))
		if _, ok := errors.AsType[readError](err); ok && ctx.Err() != nil {
			return s.result(), retryAfter, ctx.Err()
		}
		if te := timeoutError(reqCtx, e.cfg.TTFTTimeout, e.cfg.IdleTimeout); te != nil && err != nil {
			return s.result(), retryAfter, te
		}
		return s.result(), retryAfter, err
	default:
		return res, retryAfter, engineErr(CodeBadResponse, "upstream answered with "+sanitize(mt)+" instead of an event stream", false, nil)
	}
	err = s.consume(resp.Body, func() {
		// From the first token on, the watchdog measures idle gaps.
		started.Store(true)
		watchdog.Reset(e.cfg.IdleTimeout)
	})
	if _, ok := errors.AsType[readError](err); ok {
		if te := timeoutError(reqCtx, e.cfg.TTFTTimeout, e.cfg.IdleTimeout); te != nil {
			return s.result(), retryAfter, te
		}
		if ctx.Err() != nil {
			return s.result(), retryAfter, ctx.Err()
		}
		return s.result(), retryAfter, engineErr(CodeStreamBroken, "upstream stream ended before the generation finished", true, err)
	}
	return s.result(), retryAfter, err
}

// readError is a failure to read the body (as opposed to a body that was
// read and is wrong): a broken connection, a timeout or a cancel, which the
// caller tells apart by its contexts.
type readError struct{ err error }

func (e readError) Error() string { return "read upstream stream: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// consume decodes the event stream in body, emitting tokens, until [DONE].
// progress runs after every event once a token has been emitted. It returns
// nil at [DONE] (or at the end of a stream that sent its finish_reason), a
// readError when the body could not be read to its end, an emitError when
// emit failed, and an EngineError for a stream that breaks the protocol.
func (s *streamState) consume(body io.Reader, progress func()) error {
	rd := sse.NewReader(body, sse.WithDispatchAtEOF())
	for {
		ev, err := rd.Next()
		switch {
		case err == io.EOF && s.finish != "":
			// Finished but closed without [DONE]: the generation is whole.
			return nil
		case errors.Is(err, sse.ErrLineTooLong):
			return engineErr(CodeBadResponse, "upstream sent an oversized line", false, err)
		case err != nil:
			return readError{err}
		case ev.IsDone():
			return nil
		case ev.Type == "error":
			// Some servers name their error events; the data is then the
			// error object or its text.
			return engineErr(CodeServerError, "upstream error mid-stream: "+orDefault(upstreamMessage([]byte(ev.Data)), "generation failed"), false, nil)
		}
		c, err := parseChunk([]byte(ev.Data))
		if err != nil {
			return engineErr(CodeBadResponse, "upstream sent a chunk that is not valid JSON", false, err)
		}
		if c.IsError {
			return engineErr(CodeServerError, "upstream error mid-stream: "+orDefault(c.ErrorMessage, "generation failed"), false, nil)
		}
		if err := s.apply(c); err != nil {
			return emitError{err}
		}
		if s.tokens > 0 {
			progress()
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// streamState turns chunks into Tokens and accumulates the Result.
type streamState struct {
	emit          func(thinkstream.Token) error
	sawReasoning  bool
	tokens        int
	finish        string
	usage         *wireUsage
	timings       *wireTimings
	reasoningToks int
}

// apply emits the tokens of one chunk.
func (s *streamState) apply(c chunk) error {
	if c.Reasoning != "" {
		s.sawReasoning = true
		s.tokens++
		s.reasoningToks++
		if err := s.emit(thinkstream.Token{Text: c.Reasoning, Channel: thinkstream.ChannelReasoning, ID: -1}); err != nil {
			return err
		}
	}
	if c.Content != "" {
		ch := thinkstream.ChannelRaw
		if s.sawReasoning {
			ch = thinkstream.ChannelAnswer
		}
		s.tokens++
		if err := s.emit(thinkstream.Token{Text: c.Content, Channel: ch, ID: -1}); err != nil {
			return err
		}
	}
	if c.FinishReason != "" {
		s.finish = c.FinishReason
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	if c.Timings != nil {
		s.timings = c.Timings
	}
	return nil
}

func (s *streamState) result() thinkstream.Result {
	var r thinkstream.Result
	switch s.finish {
	case "", "eos", "stop_sequence", "end_turn":
		r.FinishReason = "stop"
	case "max_tokens":
		r.FinishReason = "length"
	default:
		r.FinishReason = s.finish
	}
	if u := s.usage; u != nil {
		r.Usage.PromptTokens = u.PromptTokens
		r.Usage.CompletionTokens = u.CompletionTokens
		if u.CompletionTokensDetails != nil {
			r.Usage.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
		}
	} else {
		// Servers that ignore include_usage: one chunk is one token on
		// every server we know, so the count is a close estimate.
		r.Usage.CompletionTokens = s.tokens
		r.Usage.ReasoningTokens = s.reasoningToks
		r.Usage.Estimated = true
	}
	if t := s.timings; t != nil {
		r.Timings.PromptMS = t.PromptMS
		r.Timings.PromptPerSecond = t.PromptPerSecond
		r.Timings.PredictedMS = t.PredictedMS
		r.Timings.PredictedPerSecond = t.PredictedPerSecond
	}
	return r
}

// whole handles a non-streamed chat.completion (or text_completion) body:
// its reasoning and content are emitted as one token each.
func (s *streamState) whole(body io.Reader) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return readError{err}
	}
	var w struct {
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Content          *string `json:"content"`
				ReasoningContent *string `json:"reasoning_content"`
				Reasoning        *string `json:"reasoning"`
			} `json:"message"`
			Text         *string `json:"text"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage   *wireUsage      `json:"usage"`
		Timings *wireTimings    `json:"timings"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &w); err != nil || !isObject(data) {
		return engineErr(CodeBadResponse, "upstream sent a response that is not valid JSON", false, err)
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		return engineErr(CodeServerError, "upstream error: "+orDefault(sanitize(messageOf(w.Error)), "generation failed"), false, nil)
	}
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue
		}
		c := chunk{Usage: w.Usage, Timings: w.Timings}
		switch m := ch.Message; {
		case m.ReasoningContent != nil && *m.ReasoningContent != "":
			c.Reasoning = *m.ReasoningContent
		case m.Reasoning != nil:
			c.Reasoning = *m.Reasoning
		}
		if ch.Message.Content != nil {
			c.Content = *ch.Message.Content
		} else if ch.Text != nil {
			c.Content = *ch.Text
		}
		c.FinishReason = orDefault(derefOr(ch.FinishReason), "stop")
		if err := s.apply(c); err != nil {
			return emitError{err}
		}
		return nil
	}
	return engineErr(CodeBadResponse, "upstream response has no choices", false, nil)
}

func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
