package openai

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

const chunkR = `data: {"choices":[{"index":0,"delta":{"reasoning_content":"Okay"},"finish_reason":null}]}` + "\n\n"

func status(code int, contentType, body string, header ...string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

func TestUpstreamFaults(t *testing.T) {
	longText := "Traceback (most recent call last):\n\x1b[31m" + strings.Repeat("x", 1000)
	tests := []struct {
		name        string
		handler     func(http.ResponseWriter, *http.Request, int)
		code        string
		retryable   bool
		msgContains string
		wantTokens  int
		wantTries   int
	}{
		{"400 openai error object", status(400, "application/json",
			`{"object":"error","message":"unused","error":{"message":"This model's maximum context length is 40960 tokens.","type":"BadRequestError","param":null,"code":400}}`),
			CodeRejected, false, "upstream returned 400 Bad Request: the prompt and max_tokens exceed the model's context length", 0, 1},
		{"404 fastapi detail", status(404, "application/json", `{"detail":"Model vibethinker does not exist."}`),
			CodeRejected, false, "404 Not Found: the upstream does not serve this model", 0, 1},
		{"422 fastapi detail list", status(422, "application/json", `{"detail":[{"loc":["body","top_p"],"msg":"must be <= 1"}]}`),
			CodeRejected, false, "upstream returned 422 Unprocessable Entity", 0, 1},
		{"500 plain message", status(500, "application/json", `{"message":"CUDA out of memory"}`),
			CodeServerError, false, "500 Internal Server Error: the upstream ran out of memory", 0, 1},
		{"500 ollama error string", status(500, "application/json", `{"error":"upstream returned 500 Internal Server Error"}`),
			CodeServerError, false, "upstream returned 500 Internal Server Error", 0, 1},
		{"500 text body sanitised", status(500, "text/plain", longText),
			CodeServerError, false, "upstream returned 500 Internal Server Error", 0, 1},
		{"502 empty body", status(502, "text/plain", ""),
			CodeOverloaded, true, "502 Bad Gateway", 0, 4},
		{"401", status(401, "application/json", `{"error":{"message":"Incorrect API key provided"}}`),
			CodeAuth, false, "refused the API key", 0, 1},
		{"503 retries exhausted honouring http date", status(503, "application/json", `{"error":{"message":"still loading the model"}}`,
			"Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)),
			CodeOverloaded, true, "still loading the model", 0, 4},
		{"429 retries exhausted", status(429, "application/json", `{"error":{"message":"rate limit exceeded"}}`, "Retry-After", "30"),
			CodeOverloaded, true, "rate limiting", 0, 4},
		{"200 not an event stream", status(200, "text/html", "<html>proxy login</html>"),
			CodeBadResponse, false, "text/html", 0, 1},
		{"garbage", replay([]byte(chunkR+"data: <html>oops</html>\n\n"), 1<<10),
			CodeBadResponse, false, "not valid JSON", 1, 1},
		{"truncated json", replay([]byte(chunkR+`data: {"choices":[{"index":0,"delta":{"content":"hi"`+"\n\n"), 1<<10),
			CodeBadResponse, false, "not valid JSON", 1, 1},
		{"json null chunk", replay([]byte(chunkR+"data: null\n\n"), 1<<10),
			CodeBadResponse, false, "not valid JSON", 1, 1},
		{"closed without done or finish", replay([]byte(chunkR+chunkR), 1<<10),
			CodeStreamBroken, true, "ended before", 2, 1},
		{"truncated at eof", replay([]byte(chunkR+`data: {"choices":[{"ind`), 1<<10),
			CodeBadResponse, false, "not valid JSON", 1, 1},
		{"connection cut mid-stream", func(w http.ResponseWriter, r *http.Request, _ int) {
			sseHeader(w)
			w.Write([]byte(chunkR + chunkR))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // drops the connection mid-chunked-body
		}, CodeStreamBroken, true, "ended before", 2, 1},
		{"error object mid-stream", replay([]byte(chunkR+`data: {"error":{"object":"error","message":"engine dead","type":"InternalServerError","code":500}}`+"\n\n"), 1<<10),
			CodeServerError, false, "upstream error mid-stream: engine dead", 1, 1},
		{"oversized line", replay([]byte(chunkR+"data: "+strings.Repeat("a", 1<<20+10)+"\n\n"), 1<<16),
			CodeBadResponse, false, "oversized", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, tt.handler)
			e := newEngine(t, u.url(), nil)
			toks, _, err := collect(t.Context(), e, testReq)
			ee := wantCode(t, err, tt.code, tt.retryable)
			if !strings.Contains(ee.Message, tt.msgContains) {
				t.Errorf("message %q does not contain %q", ee.Message, tt.msgContains)
			}
			if len([]rune(ee.Message)) > maxMessage+40 || strings.ContainsAny(ee.Message, "\n\r\x1b") {
				t.Errorf("message not sanitised: %q", ee.Message)
			}
			for _, upstreamText := range []string{"Traceback", "CUDA", "vibethinker", "Incorrect API key", "runner"} {
				if strings.Contains(ee.Message, upstreamText) {
					t.Errorf("viewer-visible message repeats the upstream's text %q: %q", upstreamText, ee.Message)
				}
			}
			if len(toks) != tt.wantTokens || u.count() != tt.wantTries {
				t.Errorf("got %d tokens in %d attempts, want %d in %d", len(toks), u.count(), tt.wantTokens, tt.wantTries)
			}
		})
	}
}

func TestRetryThenSucceed(t *testing.T) {
	stream := readTestdata(t, "ollama.sse")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		switch attempt {
		case 0:
			status(429, "application/json", `{"error":{"message":"slow down"}}`, "Retry-After", "0")(w, r, attempt)
		case 1:
			status(503, "text/plain", "loading model")(w, r, attempt)
		default:
			replay(stream, 1<<16)(w, r, attempt)
		}
	})
	e := newEngine(t, u.url(), nil)
	toks, _, err := collect(t.Context(), e, testReq)
	if err != nil {
		t.Fatal(err)
	}
	if r, a := split(t, toks); r != wantReasoning || a != wantAnswer || u.count() != 3 {
		t.Errorf("after %d attempts: %q / %q", u.count(), r, a)
	}
}

func TestRetriesDisabled(t *testing.T) {
	u := newUpstream(t, status(429, "text/plain", "busy"))
	e := newEngine(t, u.url(), func(c *Config) { c.MaxRetries = -1 })
	_, _, err := collect(t.Context(), e, testReq)
	wantCode(t, err, CodeOverloaded, true)
	if u.count() != 1 {
		t.Errorf("%d attempts, want 1", u.count())
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	tests := []struct {
		name, url, msg string
	}{
		{"connection refused", refused, "refused"},
		{"dns failure", "http://vibethinker.upstream.invalid/v1", "resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.url, nil)
			_, _, err := collect(t.Context(), e, testReq)
			ee := wantCode(t, err, CodeUnreachable, true)
			if !strings.Contains(ee.Message, tt.msg) || strings.Contains(ee.Message, "127.0.0.1") {
				t.Errorf("message %q: want %q and no address", ee.Message, tt.msg)
			}
		})
	}
}

// hang serves the prelude and then holds the request open until the client
// goes away, recording that it did.
func hang(prelude string, gone chan<- struct{}) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		sseHeader(w)
		w.Write([]byte(prelude))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	}
}

func TestTimeouts(t *testing.T) {
	role := `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	tests := []struct {
		name       string
		prelude    string
		wantTokens int
		msg        string
	}{
		// A role chunk is not a token: the TTFT clock keeps running.
		{"no first token", role, 0, "no token within"},
		{"stalls mid-stream", role + chunkR + chunkR, 2, "stalled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan struct{})
			u := newUpstream(t, hang(tt.prelude, gone))
			e := newEngine(t, u.url(), func(c *Config) {
				c.TTFTTimeout = 80 * time.Millisecond
				c.IdleTimeout = 80 * time.Millisecond
			})
			start := time.Now()
			toks, _, err := collect(t.Context(), e, testReq)
			ee := wantCode(t, err, CodeTimeout, true)
			if !strings.Contains(ee.Message, tt.msg) || len(toks) != tt.wantTokens {
				t.Errorf("message %q with %d tokens", ee.Message, len(toks))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("timeout took %v", d)
			}
			waitClosed(t, gone, 2*time.Second, "upstream seeing the disconnect")
		})
	}
}

func TestCancelDisconnectsUpstream(t *testing.T) {
	gone := make(chan struct{})
	u := newUpstream(t, hang(chunkR, gone))
	e := newEngine(t, u.url(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res, err := e.Generate(ctx, testReq, func(thinkstream.Token) error {
		cancel() // the viewer cancels after the first token
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" {
		t.Fatalf("err = %v finish %q, want context.Canceled, cancelled", err, res.FinishReason)
	}
	waitClosed(t, gone, 2*time.Second, "upstream seeing the disconnect")
}

func TestCancelDuringRetryWait(t *testing.T) {
	u := newUpstream(t, status(503, "text/plain", "loading", "Retry-After", "3600"))
	e := newEngine(t, u.url(), func(c *Config) { c.RetryMaxWait = time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := collect(ctx, e, testReq)
		done <- err
	}()
	deadline := time.Now().Add(2 * time.Second)
	for u.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // poll the condition, bounded by deadline
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Generate did not return after cancel during the retry wait")
	}
}

// TestNonStreamedAnswer covers gateways that ignore stream: true and answer
// with one JSON completion, or with no Content-Type at all.
func TestNonStreamedAnswer(t *testing.T) {
	whole := `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",` +
		`"reasoning_content":"Okay, so I need to add 2 and 2.\n\n2 + 2 = 4.","content":"\n\nThe answer is $\\boxed{4}$."},` +
		`"finish_reason":"length"}],"usage":{"prompt_tokens":41,"completion_tokens":17,"total_tokens":58}}`
	t.Run("json completion", func(t *testing.T) {
		u := newUpstream(t, status(200, "application/json", whole))
		e := newEngine(t, u.url(), nil)
		toks, res, err := collect(t.Context(), e, testReq)
		if err != nil {
			t.Fatal(err)
		}
		if r, a := split(t, toks); r != wantReasoning || a != wantAnswer {
			t.Errorf("reasoning %q answer %q", r, a)
		}
		want := thinkstream.Result{FinishReason: "length", Usage: thinkstream.Usage{PromptTokens: 41, CompletionTokens: 17}}
		if res != want {
			t.Errorf("result %+v, want %+v", res, want)
		}
	})
	t.Run("no content type", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			w.Header()["Content-Type"] = nil // suppress sniffing
			w.WriteHeader(200)
			w.Write(readTestdata(t, "sglang.sse"))
		})
		e := newEngine(t, u.url(), nil)
		toks, _, err := collect(t.Context(), e, testReq)
		if err != nil {
			t.Fatal(err)
		}
		if r, a := split(t, toks); r != wantReasoning || a != wantAnswer {
			t.Errorf("reasoning %q answer %q", r, a)
		}
	})
	for _, tt := range []struct{ name, body, code, msg string }{
		{"json error with 200", `{"error":{"message":"quota exceeded"}}`, CodeServerError, "upstream error: quota exceeded"},
		{"json garbage", `{"choices":[`, CodeBadResponse, "not valid JSON"},
		{"json without choices", `{"choices":[]}`, CodeBadResponse, "no choices"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, status(200, "application/json", tt.body))
			e := newEngine(t, u.url(), nil)
			_, _, err := collect(t.Context(), e, testReq)
			if ee := wantCode(t, err, tt.code, false); !strings.Contains(ee.Message, tt.msg) {
				t.Errorf("message %q, want %q", ee.Message, tt.msg)
			}
		})
	}
}

// A stream that breaks never sends its usage chunk: the run's usage is then
// counted here (and says so), not reported as 0 prompt tokens.
func TestBrokenStreamEstimatesUsage(t *testing.T) {
	u := newUpstream(t, replay([]byte(chunkR+chunkR), 1<<10))
	e := newEngine(t, u.url(), nil)
	_, res, err := collect(t.Context(), e, testReq)
	wantCode(t, err, CodeStreamBroken, true)
	if !res.Usage.Estimated || res.Usage.PromptTokens <= 0 || res.Usage.CompletionTokens != 2 {
		t.Errorf("usage %+v, want an estimate with prompt tokens > 0 and the 2 completion tokens seen", res.Usage)
	}
}
