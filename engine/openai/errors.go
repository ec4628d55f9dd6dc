package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/thinkstream/thinkstream"
)

// Error codes of the *thinkstream.EngineError values this engine returns.
// They are part of the API (docs/engines.md lists them): clients and the UI
// match on them, so never rename one.
const (
	// CodeUnreachable: no connection (refused, DNS failure, TLS, reset before
	// a response). Retryable: the server may be starting.
	CodeUnreachable = "upstream_unreachable"
	// CodeOverloaded: 429 or 503 (or a 502/504 from a proxy) still returned
	// after the bounded retries. Retryable.
	CodeOverloaded = "upstream_overloaded"
	// CodeRejected: the upstream refused the request with a 4xx (bad
	// parameters, unknown model, context too long). Not retryable.
	CodeRejected = "upstream_rejected"
	// CodeAuth: 401 or 403; the API key is missing or wrong. Not retryable.
	CodeAuth = "upstream_auth"
	// CodeServerError: any other 5xx, or an error object inside the stream.
	CodeServerError = "upstream_error"
	// CodeStreamBroken: the stream ended before [DONE] and before a
	// finish_reason. Retryable: the run can be continued from its prefix.
	CodeStreamBroken = "upstream_stream_broken"
	// CodeBadResponse: the upstream sent something that is not the protocol
	// (garbage, truncated JSON, an unexpected content type).
	CodeBadResponse = "upstream_bad_response"
	// CodeTimeout: no first token within TTFTTimeout, or nothing for
	// IdleTimeout between tokens. Retryable.
	CodeTimeout = "upstream_timeout"
)

// maxMessage bounds an upstream's message in a viewer-visible error: enough
// for "context length 40960 exceeded by 1200 tokens", short enough that a
// stack trace or an HTML error page does not flood the UI.
const maxMessage = 240

var (
	errTTFT = errors.New("no first token from upstream within the ttft timeout")
	errIdle = errors.New("upstream stream idle past the idle timeout")
)

func engineErr(code, msg string, retryable bool, err error) *thinkstream.EngineError {
	return &thinkstream.EngineError{Code: code, Message: msg, Retryable: retryable, Err: err}
}

// dialError turns a failed http.Client.Do into an EngineError. The
// underlying error (which names addresses) stays in Err for logs; Message
// says only what kind of failure it was.
func dialError(err error) *thinkstream.EngineError {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return engineErr(CodeUnreachable, "cannot resolve the upstream host name", true, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return engineErr(CodeUnreachable, "upstream refused the connection (is the model server running?)", true, err)
	default:
		return engineErr(CodeUnreachable, "cannot reach the upstream server", true, err)
	}
}

// timeoutError reports which watchdog fired, or nil when neither did.
func timeoutError(ctx context.Context, ttft, idle time.Duration) *thinkstream.EngineError {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTTFT):
		return engineErr(CodeTimeout, "upstream sent no token within "+ttft.String(), true, cause)
	case errors.Is(cause, errIdle):
		return engineErr(CodeTimeout, "upstream stalled for "+idle.String()+" mid-stream", true, cause)
	}
	return nil
}

// statusError classifies a non-200 response. body is at most a few KiB of
// the response. What the upstream said goes to the server log only (in
// Err): its error pages name hosts, paths and keys, and Message is shown
// to every viewer of the run and stored in its log.
func statusError(status int, body []byte) *thinkstream.EngineError {
	detail := upstreamMessage(body)
	msg := "upstream returned " + strconv.Itoa(status) + " " + http.StatusText(status)
	if hint := knownCause(detail); hint != "" {
		msg += ": " + hint
	}
	err := errors.New("upstream http status " + strconv.Itoa(status))
	if detail != "" {
		err = errors.New("upstream http status " + strconv.Itoa(status) + ": " + detail)
	}
	switch {
	case retryableStatus(status):
		return engineErr(CodeOverloaded, msg, true, err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return engineErr(CodeAuth, msg, false, err)
	case status >= 400 && status < 500:
		return engineErr(CodeRejected, msg, false, err)
	default:
		return engineErr(CodeServerError, msg, false, err)
	}
}

// knownCause names, in our own words, the causes of upstream errors that
// users can act on; the upstream's own text never reaches viewers.
func knownCause(detail string) string {
	d := strings.ToLower(detail)
	switch {
	case strings.Contains(d, "context length") || strings.Contains(d, "context window") || strings.Contains(d, "too many tokens"):
		return "the prompt and max_tokens exceed the model's context length"
	case strings.Contains(d, "does not exist") || strings.Contains(d, "model not found") || strings.Contains(d, "unknown model"):
		return "the upstream does not serve this model (check --upstream-model)"
	case strings.Contains(d, "api key") || strings.Contains(d, "unauthorized") || strings.Contains(d, "authentication"):
		return "the upstream refused the API key (check --upstream-api-key)"
	case strings.Contains(d, "out of memory") || strings.Contains(d, "oom"):
		return "the upstream ran out of memory"
	case strings.Contains(d, "loading"):
		return "the upstream is still loading the model"
	case strings.Contains(d, "rate limit"):
		return "the upstream is rate limiting requests"
	}
	return ""
}

// retryableStatus is the set of answers that mean "not now" rather than "no":
// rate limits, a server still loading the model, and the gateway versions
// of the same from a proxy in front of it.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable,
		http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// upstreamMessage extracts the human-readable message from an error body in
// the shapes LLM servers use: OpenAI {"error":{"message"}}, Ollama
// {"error":"…"}, FastAPI {"detail":"…"} or {"detail":[{"msg"}]}, plain
// {"message":"…"}, or a text body. The result is sanitised and truncated.
func upstreamMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		for _, raw := range []json.RawMessage{v.Error, v.Detail, v.Message} {
			if m := messageOf(raw); m != "" {
				return sanitize(m)
			}
		}
	}
	return sanitize(string(body))
}

// messageOf reads a message from a JSON value that is a string, an object
// with "message" or "msg", or a list of those.
func messageOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Message json.RawMessage `json:"message"`
		Msg     string          `json:"msg"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if m := messageOf(obj.Message); m != "" {
			return m
		}
		return obj.Msg
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			if m := messageOf(item); m != "" {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// sanitize makes upstream text safe to show: valid UTF-8, no control
// characters (which could forge log lines or terminal escapes), runs of
// whitespace collapsed, at most maxMessage runes.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if n >= maxMessage {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			space = false
			n++
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// ok is false when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
