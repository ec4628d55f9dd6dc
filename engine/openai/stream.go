package openai

import (
	"bytes"
	"context"
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
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return res, retryAfter, engineErr(CodeBadResponse, "upstream answered with "+sanitize(mt)+" instead of an event stream", false, nil)
	}

	s := streamState{emit: emit}
	rd := sse.NewReader(resp.Body, sse.WithDispatchAtEOF())
	for {
		ev, rerr := rd.Next()
		if rerr != nil {
			if te := timeoutError(reqCtx, e.cfg.TTFTTimeout, e.cfg.IdleTimeout); te != nil {
				return s.result(), retryAfter, te
			}
			if ctx.Err() != nil {
				return s.result(), retryAfter, ctx.Err()
			}
			if rerr == io.EOF && s.finish != "" {
				// Finished but closed without [DONE]: the generation is whole.
				return s.result(), retryAfter, nil
			}
			if errors.Is(rerr, sse.ErrLineTooLong) {
				return s.result(), retryAfter, engineErr(CodeBadResponse, "upstream sent an oversized line", false, rerr)
			}
			return s.result(), retryAfter, engineErr(CodeStreamBroken, "upstream stream ended before the generation finished", true, rerr)
		}
		if ev.IsDone() {
			return s.result(), retryAfter, nil
		}
		c, perr := parseChunk([]byte(ev.Data))
		if perr != nil {
			return s.result(), retryAfter, engineErr(CodeBadResponse, "upstream sent a chunk that is not valid JSON", false, perr)
		}
		if c.IsError {
			msg := c.ErrorMessage
			if msg == "" {
				msg = "generation failed"
			}
			return s.result(), retryAfter, engineErr(CodeServerError, "upstream error mid-stream: "+msg, false, nil)
		}
		if err := s.apply(c); err != nil {
			return s.result(), retryAfter, emitError{err}
		}
		if s.tokens > 0 {
			// From the first token on, the watchdog measures idle gaps.
			started.Store(true)
			watchdog.Reset(e.cfg.IdleTimeout)
		}
	}
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
	}
	if t := s.timings; t != nil {
		r.Timings.PromptMS = t.PromptMS
		r.Timings.PromptPerSecond = t.PromptPerSecond
		r.Timings.PredictedMS = t.PredictedMS
		r.Timings.PredictedPerSecond = t.PredictedPerSecond
	}
	return r
}
