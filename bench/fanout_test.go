package bench

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// inProcess is the real server stack in this process; its CPU and memory
// are this test process's, which is enough to check the plumbing.
type inProcess struct {
	ProcStats
	srv *httptest.Server
}

func (s *inProcess) URL() string { return s.srv.URL }

func newInProcess(t *testing.T, rate float64) *inProcess {
	t.Helper()
	eng := sim.New(sim.Config{Rate: rate, TTFT: -1, Jitter: -1})
	srv := servertest.New(t, server.Config{Engine: eng})
	return &inProcess{ProcStats: ProcStats{PID: os.Getpid()}, srv: srv.HTTP}
}

func TestFanoutEvents(t *testing.T) {
	srv := newInProcess(t, 400)
	res, err := Fanout(context.Background(), srv, FanoutConfig{Viewers: 20, Events: 300, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Lost != 0 || res.Duplicated != 0 || res.Reordered != 0 {
		t.Fatalf("result %+v: want every viewer to get every event once, in order", res)
	}
	if res.Events < 300 {
		t.Errorf("run had %d events, want at least the 300 tokens", res.Events)
	}
	if res.Delivered != 20*res.Events {
		t.Errorf("delivered %d, want 20 × %d", res.Delivered, res.Events)
	}
	if res.LatencySamples == 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latencies %d samples p50 %v p99 %v max %v", res.LatencySamples, res.P50, res.P99, res.Max)
	}
	if res.FirstP50 <= 0 || res.FirstP50 > res.P50 || res.FirstP99 > res.Max {
		t.Errorf("first-viewer p50 %v p99 %v: want within (0, p50 %v] and ≤ max %v", res.FirstP50, res.FirstP99, res.P50, res.Max)
	}
	if res.ServerPeakRSS <= 0 || res.EventRate <= 0 {
		t.Errorf("peak rss %d, event rate %v", res.ServerPeakRSS, res.EventRate)
	}
}

func TestFanoutDuration(t *testing.T) {
	srv := newInProcess(t, 200)
	res, err := Fanout(context.Background(), srv, FanoutConfig{Viewers: 5, Duration: 300 * time.Millisecond, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Lost != 0 || res.Events == 0 || res.Delivered != 5*res.Events {
		t.Fatalf("result %+v", res)
	}
	if res.DeliveredInWindow == 0 || res.DeliveredInWindow > res.Delivered {
		t.Errorf("delivered in window %d of %d", res.DeliveredInWindow, res.Delivered)
	}
}

// TestViewerCounts feeds crafted streams to the viewer's parser.
func TestViewerCounts(t *testing.T) {
	frame := func(seq int64, typ string) string {
		return fmt.Sprintf("id: %d\nevent: %s\ndata: {\"seq\":%d,\"t\":%d,\"type\":%q}\n\n", seq, typ, seq, seq*10, typ)
	}
	open := "retry: 2000\n\nevent: stream.open\ndata: {\"type\":\"stream.open\"}\n\n: keep-alive\n\n"
	tests := []struct {
		name   string
		stream string
		want   viewer
		err    string
	}{
		{"in order", open + frame(1, "run.created") + frame(2, "thinking") + "event: viewers\ndata: {\"viewers\":3}\n\n" + frame(3, "run.completed"),
			viewer{received: 3, distinct: 3, maxSeq: 3, endSeq: 3}, ""},
		{"duplicate", frame(1, "a") + frame(2, "a") + frame(2, "a") + frame(3, "run.failed"),
			viewer{received: 4, distinct: 3, dups: 1, maxSeq: 3, endSeq: 3}, ""},
		{"reordered and lost", frame(1, "a") + frame(3, "a") + frame(2, "a") + frame(5, "run.cancelled"),
			viewer{received: 4, distinct: 4, reordered: 1, maxSeq: 5, endSeq: 5}, ""},
		{"cut", frame(1, "a"), viewer{received: 1, distinct: 1, maxSeq: 1}, "stream ended before the terminal event"},
		{"no t", "id: 1\nevent: a\ndata: {\"seq\":1}\n\n", viewer{}, "event 1 without t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v viewer
			err := v.read(strings.NewReader(tt.stream), func() window { return window{} })
			if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			v.seen = nil
			if diff := cmp.Diff(tt.want, v, cmp.AllowUnexported(viewer{})); diff != "" {
				t.Errorf("viewer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestViewerLatencyWindow(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	v := viewer{created: base}
	w := window{from: base + int64(100*time.Millisecond), to: base + int64(time.Second)}
	ms := int64(time.Millisecond)
	v.record(1, 50, base+60*ms, w)     // created before the window
	v.record(2, 150, base+153*ms, w)   // 3ms late
	v.record(3, 990, base+1010*ms, w)  // created in it, arrived after
	v.record(4, 1000, base+1001*ms, w) // created after
	if diff := cmp.Diff([]int32{3000, 20000}, v.lat); diff != "" {
		t.Errorf("latencies µs (-want +got):\n%s", diff)
	}
	if v.inWindow != 1 {
		t.Errorf("%d arrivals in the window, want 1", v.inWindow)
	}
	if got := v.lost(6); got != 2 {
		t.Errorf("lost %d, want 2", got)
	}
}

func TestProcStats(t *testing.T) {
	// Burn a little CPU so the count is non-zero even at 10ms ticks.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	p := ProcStats{PID: os.Getpid()}
	cpu, err := p.CPU()
	if err != nil || cpu <= 0 {
		t.Errorf("cpu %v, %v", cpu, err)
	}
	rss, peak, err := p.Memory()
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("rss %d peak %d, %v", rss, peak, err)
	}
	got, err := parseStatCPU("123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0")
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	_, _, err = parseStatusMemory(strings.NewReader("VmRSS:\t12 MB\n"))
	if err == nil {
		t.Errorf("odd unit accepted")
	}
}

func TestHistogramQuantile(t *testing.T) {
	text := `# HELP thinkstream_delivery_lag_seconds x
thinkstream_delivery_lag_seconds_bucket{le="0.001"} 10
thinkstream_delivery_lag_seconds_bucket{le="0.01"} 50
thinkstream_delivery_lag_seconds_bucket{le="0.1"} 109
thinkstream_delivery_lag_seconds_bucket{le="+Inf"} 110
thinkstream_delivery_lag_seconds_sum 1.5
`
	h, err := parseHistogram(strings.NewReader(text), lagMetric)
	if err != nil {
		t.Fatal(err)
	}
	base := histogram{0.001: 10, 0.01: 10, 0.1: 10, math.Inf(1): 10}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.3, 10 * time.Millisecond},  // 40 of the 100 new ones are ≤ 10ms
		{0.5, 100 * time.Millisecond}, // the 50th is above 10ms
		{0.99, 100 * time.Millisecond},
		{1, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		if got := h.quantile(base, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := h.observations(base); got != 100 {
		t.Errorf("observations = %v, want 100", got)
	}
	if got := h.quantile(h, 0.5); got != -1 {
		t.Errorf("quantile of nothing = %v, want -1", got)
	}
}

func TestParseMachineCPU(t *testing.T) {
	busy, total, err := parseMachineCPU("cpu  100 5 50 800 40 3 2 0 0 0")
	if err != nil || busy != 1600*time.Millisecond || total != 10*time.Second {
		t.Errorf("busy %v total %v err %v; want 1.6s, 10s", busy, total, err)
	}
	if _, _, err := parseMachineCPU("intr 1 2 3"); err == nil {
		t.Error("a non-cpu line was accepted")
	}
	if _, _, err := machineCPU(); err != nil {
		t.Error(err)
	}
}
