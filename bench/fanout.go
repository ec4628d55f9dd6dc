// Package bench measures thinkstream under load. Fanout drives one run to
// many SSE viewers over loopback and reports delivery latency, exactness
// (lost, duplicated, reordered events per viewer) and the server's CPU time
// and memory; docs/benchmarks.md explains the method and records results.
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the server under test, whose resources the benchmark reads.
type Server interface {
	URL() string
	// CPU is the server's user+system CPU time so far.
	CPU() (time.Duration, error)
	// Memory is its resident set now and at its peak, in bytes.
	Memory() (rss, peak int64, err error)
}

// FanoutConfig configures Fanout.
type FanoutConfig struct {
	// Viewers is the number of SSE connections following the run.
	Viewers int
	// Events, when set, makes the run "sim:long Events" and the benchmark
	// ends with it; otherwise the run is cancelled after Duration.
	Events int
	// Duration is the measurement window when Events is 0 (default 20s).
	Duration time.Duration
	// Settle is the pause between the last viewer connecting and the
	// window's start, for their catch-up bursts to drain (default 1s).
	Settle time.Duration
	// ConnectParallel bounds simultaneous connection attempts (default 100)
	// so the listen backlog does not overflow.
	ConnectParallel int
	// Timeout bounds the whole benchmark (default: generous for the run).
	Timeout time.Duration
	// RootCAs, when set, makes the viewers connect over TLS trusting it
	// (the server must serve TLS); HTTP2 then lets them share HTTP/2
	// connections instead of one HTTP/1.1 connection each.
	RootCAs *x509.CertPool
	HTTP2   bool
	// Gateways are more servers of the same cluster, on srv's NATS: the
	// run is created on srv and the viewers are spread over srv and these
	// in turn, so that those on a gateway get the run through its log
	// follower (docs/scale-out.md). Their CPU and memory add to srv's.
	Gateways []Server
	// Log, when set, is the NATS server process they share: its CPU in
	// the window is reported apart (LogCPU), not as other processes'.
	Log Server
	// Logf reports progress (nil: quiet).
	Logf func(format string, args ...any)
}

// FanoutResult is what Fanout measured. Durations are in the JSON as
// nanoseconds.
type FanoutResult struct {
	Viewers     int           `json:"viewers"`
	Failed      int           `json:"failed_viewers"`
	FirstError  string        `json:"first_error,omitempty"`
	ConnectTime time.Duration `json:"connect_ns"`
	Window      time.Duration `json:"window_ns"`

	Events    int64   `json:"events"`     // the run's events (last seq)
	EventRate float64 `json:"event_rate"` // events/s the run produced

	Delivered         int64 `json:"delivered"`           // events received, all viewers
	DeliveredInWindow int64 `json:"delivered_in_window"` // of which arrived in the window
	Lost              int64 `json:"lost"`
	Duplicated        int64 `json:"duplicated"`
	Reordered         int64 `json:"reordered"`
	ViewersWithLoss   int   `json:"viewers_with_loss"`

	LatencySamples int           `json:"latency_samples"`
	P50            time.Duration `json:"p50_ns"`
	P99            time.Duration `json:"p99_ns"`
	P999           time.Duration `json:"p999_ns"`
	Max            time.Duration `json:"max_ns"`

	// FirstP50 and FirstP99 are the latencies to the first viewer that
	// got each event: the server's pipeline before fan-out (log append,
	// publication, one write and read).
	FirstP50 time.Duration `json:"first_viewer_p50_ns"`
	FirstP99 time.Duration `json:"first_viewer_p99_ns"`

	// ServerKnown reports whether the server's process could be read
	// (CPU and memory below); false for a server on another machine.
	ServerKnown    bool          `json:"server_known"`
	ServerCPU      time.Duration `json:"server_cpu_ns"` // in the window
	CPUPerEventUS  float64       `json:"server_cpu_us_per_event"`
	ServerRSS      int64         `json:"server_rss_bytes"`
	ServerPeakRSS  int64         `json:"server_peak_rss_bytes"`
	ClientCPU      time.Duration `json:"client_cpu_ns"` // this process, in the window
	ClientCPUKnown bool          `json:"-"`

	// The server's own view of the window's deliveries (its
	// thinkstream_delivery_lag_seconds histogram: publication to write,
	// one observation per write): bucket upper bounds, -1 when unknown.
	ServerLagWrites float64 `json:"server_lag_writes"`

	// Cores is the machine's CPU count; OtherCPU is the CPU time other
	// processes (neither the server nor the viewers) used in the window:
	// on a shared machine it explains latencies.
	Cores        int           `json:"cores"`
	OtherCPU     time.Duration `json:"other_cpu_ns"`
	ServerLagP50 time.Duration `json:"server_lag_p50_ns"`
	ServerLagP99 time.Duration `json:"server_lag_p99_ns"`

	// With Gateways: per server (the run's first), its viewers and its
	// CPU in the window; LogCPU is the shared NATS's (-1: not given).
	GatewayViewers []int           `json:"gateway_viewers,omitempty"`
	GatewayCPU     []time.Duration `json:"gateway_cpu_ns,omitempty"`
	LogCPU         time.Duration   `json:"log_cpu_ns"`
}

func (c *FanoutConfig) defaults() {
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	if c.ConnectParallel <= 0 {
		c.ConnectParallel = 100
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Duration + 10*time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Fanout creates one run on srv, follows it with cfg.Viewers connections
// and measures. The run's pace is the server's (its sim engine's rate).
func Fanout(ctx context.Context, srv Server, cfg FanoutConfig) (FanoutResult, error) {
	cfg.defaults()
	if cfg.Viewers < 1 {
		return FanoutResult{}, errors.New("bench: at least one viewer")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.Viewers + 16,
		MaxIdleConnsPerHost: cfg.Viewers + 16,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	if cfg.RootCAs != nil {
		// A custom TLS config turns HTTP/2 off unless it is forced.
		tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs}
		tr.ForceAttemptHTTP2 = cfg.HTTP2
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	problem := "sim:long 10000000"
	if cfg.Events > 0 {
		problem = "sim:long " + strconv.Itoa(cfg.Events)
	}
	run, err := createRun(ctx, hc, srv.URL(), problem)
	if err != nil {
		return FanoutResult{}, err
	}
	cfg.Logf("run %s created; connecting %d viewers", run.ID, cfg.Viewers)

	var from, to atomic.Int64
	to.Store(1<<63 - 1)
	win := func() window { return window{from.Load(), to.Load()} }
	servers := append([]Server{srv}, cfg.Gateways...)
	res := FanoutResult{Viewers: cfg.Viewers, GatewayViewers: make([]int, len(servers)), LogCPU: -1}
	viewers := make([]*viewer, cfg.Viewers)
	first := newFirstArrivals(1 << 18)
	sem := make(chan struct{}, cfg.ConnectParallel)
	var opened, done sync.WaitGroup
	start := time.Now()
	for i := range viewers {
		v := &viewer{created: run.CreatedAt.UnixNano(), first: first}
		viewers[i] = v
		url := servers[i%len(servers)].URL() + "/v1/runs/" + run.ID + "/events"
		res.GatewayViewers[i%len(servers)]++
		opened.Add(1)
		done.Add(1)
		sem <- struct{}{}
		go func() {
			defer done.Done()
			once := sync.OnceFunc(func() { <-sem; opened.Done() })
			v.run(ctx, hc, url, once, win)
			once()
		}()
	}
	opened.Wait()
	res.ConnectTime = time.Since(start)
	cfg.Logf("viewers connected in %v; settling %v", res.ConnectTime.Round(time.Millisecond), cfg.Settle)
	if err := sleep(ctx, cfg.Settle); err != nil {
		return res, err
	}

	// A server whose process cannot be read (another machine) still gets
	// latency and exactness measured; its resources are left unknown.
	cpu0, cpuErr := cpuOf(servers)
	var log0, log1 time.Duration
	logErr := errors.New("no log server")
	if cfg.Log != nil {
		log0, logErr = cfg.Log.CPU()
	}
	lag0, _ := scrapeLag(ctx, hc, srv.URL())
	busy0, _, merr := machineCPU()
	self := ProcStats{PID: os.Getpid()}
	ccpu0, cerr := self.CPU()
	t0 := time.Now()
	from.Store(t0.UnixNano())
	if cfg.Events == 0 {
		cfg.Logf("measuring for %v", cfg.Duration)
		if err := sleep(ctx, cfg.Duration); err != nil {
			return res, err
		}
		if err := cancelRun(ctx, hc, srv.URL(), run.ID, run.OwnerToken); err != nil {
			return res, err
		}
	} else {
		cfg.Logf("measuring until the run's end")
	}
	done.Wait()
	t1 := time.Now()
	to.Store(t1.UnixNano())
	cpu1, cpuErr2 := cpuOf(servers)
	if logErr == nil {
		log1, logErr = cfg.Log.CPU()
	}
	res.ServerKnown = cpuErr == nil && cpuErr2 == nil
	ccpu1, cerr2 := self.CPU()
	busy1, _, merr2 := machineCPU()
	res.Cores = runtime.NumCPU()
	res.ServerLagP50, res.ServerLagP99 = -1, -1
	if lag1, _ := scrapeLag(ctx, hc, srv.URL()); lag1 != nil {
		res.ServerLagWrites = lag1.observations(lag0)
		res.ServerLagP50, res.ServerLagP99 = lag1.quantile(lag0, 0.5), lag1.quantile(lag0, 0.99)
	}
	res.Window = t1.Sub(t0)
	if res.ServerKnown {
		for i := range servers {
			res.ServerCPU += cpu1[i] - cpu0[i]
			rss, peak, _ := servers[i].Memory()
			res.ServerRSS, res.ServerPeakRSS = res.ServerRSS+rss, res.ServerPeakRSS+peak
			if len(servers) > 1 {
				res.GatewayCPU = append(res.GatewayCPU, cpu1[i]-cpu0[i])
			}
		}
	}
	logCPU := time.Duration(0)
	if logErr == nil {
		logCPU = log1 - log0
		res.LogCPU = logCPU
	}
	if len(servers) == 1 {
		res.GatewayViewers = nil
	}
	if cerr == nil && cerr2 == nil {
		res.ClientCPU, res.ClientCPUKnown = ccpu1-ccpu0, true
		if merr == nil && merr2 == nil && res.ServerKnown {
			res.OtherCPU = max(busy1-busy0-res.ServerCPU-res.ClientCPU-logCPU, 0)
		}
	}
	res.summarize(viewers)
	if fl := first.values(); len(fl) > 0 {
		slices.Sort(fl)
		res.FirstP50, res.FirstP99 = quantile(fl, 0.5), quantile(fl, 0.99)
	}
	if d, err := getRun(ctx, hc, srv.URL(), run.ID); err == nil && d.EndedAt != nil && d.StartedAt != nil {
		res.EventRate = float64(res.Events) / d.EndedAt.Sub(*d.StartedAt).Seconds()
	}
	if res.DeliveredInWindow > 0 && res.ServerKnown {
		res.CPUPerEventUS = float64(res.ServerCPU.Microseconds()) / float64(res.DeliveredInWindow)
	}
	return res, nil
}

// cpuOf reads the CPU time of each server.
func cpuOf(servers []Server) ([]time.Duration, error) {
	out := make([]time.Duration, len(servers))
	for i, s := range servers {
		c, err := s.CPU()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// summarize folds the viewers' counts and latencies into r.
func (r *FanoutResult) summarize(viewers []*viewer) {
	for _, v := range viewers {
		r.Events = max(r.Events, v.endSeq)
	}
	var lat []int32
	for _, v := range viewers {
		if v.err != nil {
			r.Failed++
			if r.FirstError == "" {
				r.FirstError = v.err.Error()
			}
		}
		r.Delivered += v.received
		r.DeliveredInWindow += v.inWindow
		r.Duplicated += v.dups
		r.Reordered += v.reordered
		if l := v.lost(r.Events); l > 0 {
			r.Lost += l
			r.ViewersWithLoss++
		}
		lat = append(lat, v.lat...)
	}
	r.LatencySamples = len(lat)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	r.P50, r.P99, r.P999, r.Max = quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 0.999), quantile(lat, 1)
}

// quantile returns quantile p of sorted latencies in µs (nearest rank below).
func quantile(sorted []int32, p float64) time.Duration {
	i := int(p * float64(len(sorted)-1))
	return time.Duration(sorted[i]) * time.Microsecond
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type createdRun struct {
	ID         string     `json:"id"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	OwnerToken string     `json:"owner_token"`
}

func createRun(ctx context.Context, hc *http.Client, base, problem string) (createdRun, error) {
	var out createdRun
	body, _ := json.Marshal(map[string]any{"problem": problem, "params": map[string]any{"max_tokens": 40960}})
	err := call(ctx, hc, http.MethodPost, base+"/v1/runs", body, nil, http.StatusCreated, &out)
	if err != nil {
		return out, fmt.Errorf("bench: create run: %w", err)
	}
	return out, nil
}

func cancelRun(ctx context.Context, hc *http.Client, base, id, token string) error {
	err := call(ctx, hc, http.MethodPost, base+"/v1/runs/"+id+"/cancel", nil,
		http.Header{"X-Thinkstream-Owner": {token}}, http.StatusAccepted, &struct{}{})
	if err != nil {
		return fmt.Errorf("bench: cancel run: %w", err)
	}
	return nil
}

func getRun(ctx context.Context, hc *http.Client, base, id string) (createdRun, error) {
	var out struct {
		Run createdRun `json:"run"`
	}
	err := call(ctx, hc, http.MethodGet, base+"/v1/runs/"+id, nil, nil, http.StatusOK, &out)
	return out.Run, err
}

func call(ctx context.Context, hc *http.Client, method, url string, body []byte, h http.Header, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
