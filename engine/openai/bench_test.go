package openai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// BenchmarkGatewayLatency measures the latency this engine adds between an
// upstream writing a token and the emit callback seeing it: HTTP over
// loopback, SSE decoding, JSON parsing and the watchdog. The scripted
// upstream writes the send time into each token and paces tokens at
// tokenGap, about what a GPU server does per stream. b.N is the number of
// tokens per stream; run with e.g. -benchtime=300x.
func BenchmarkGatewayLatency(b *testing.B) {
	const tokenGap = 10 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens int `json:"max_tokens"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		sseHeader(w)
		tick := time.NewTicker(tokenGap)
		defer tick.Stop()
		var buf []byte
		for range req.MaxTokens {
			<-tick.C
			buf = append(buf[:0], `data: {"choices":[{"index":0,"delta":{"content":"`...)
			buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
			buf = append(buf, "\"},\"finish_reason\":null}]}\n\n"...)
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
	}))
	defer srv.Close()

	for _, streams := range []int{1, 100} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			e, err := New(Config{BaseURL: srv.URL + "/v1", Model: "m"})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			req := testReq
			req.Params.MaxTokens = b.N
			var (
				mu  sync.Mutex
				all []time.Duration
				wg  sync.WaitGroup
			)
			b.ResetTimer()
			for range streams {
				wg.Go(func() {
					lat := make([]time.Duration, 0, b.N)
					_, err := e.Generate(b.Context(), req, func(tok thinkstream.Token) error {
						sent, err := strconv.ParseInt(tok.Text, 10, 64)
						if err != nil {
							return err
						}
						lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
						return nil
					})
					if err != nil {
						b.Error(err)
					}
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()
			if len(all) == 0 {
				b.Fatal("no tokens")
			}
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[int(p*float64(len(all)-1))].Microseconds())
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			b.ReportMetric(0, "ns/op") // wall time per op is the pacing, not the cost
		})
	}
}
