package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// cpuTime is the CPU (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadEndpoints measures the CPU per request of the endpoints a
// flood of readers hits — GET /v1/runs?limit=20 and GET /v1/runs/{id} of a
// finished run of over 10,000 events — over real loopback HTTP against the
// whole server in token mode (embedded JetStream underneath). cpu-µs/op is
// the process's CPU (server and the benchmark's client together) per
// request: what a flood of them takes from generation.
func BenchmarkReadEndpoints(b *testing.B) {
	const events = 12000
	toks := make([]string, events)
	toks[0] = "<think>"
	for i := 1; i < events; i++ {
		toks[i] = " word"
		if i%100 == 0 {
			toks[i] = ".\n\nNext"
		}
	}
	store, tokens := classTokens(b)
	s := newStack(b, bigOrSmall{big: &scripted{tokens: toks}, small: &scripted{tokens: []string{"<think>a", "</think>b"}}}, Config{Access: &Access{Tokens: store, RunsPerMinute: -1}})
	ctx := context.Background()
	big, err := s.mgr.Create(ctx, thinkstream.RunRequest{Problem: "big", Owner: "alice", Visibility: thinkstream.VisibilityPublic})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s.waitEnded(b, big.ID)
	b.Logf("the %d-token run took %v", events, time.Since(start))
	// 40 runs of bob's, then 2,000 private ones of alice's (newer): bob's
	// list of 20 passes over all of hers.
	for i := range 2040 {
		owner := "bob"
		if i >= 40 {
			owner = "alice"
		}
		c, err := s.mgr.Create(ctx, thinkstream.RunRequest{Problem: fmt.Sprintf("p%d", i), Owner: owner})
		if err != nil {
			b.Fatal(err)
		}
		s.waitEnded(b, c.ID)
	}
	b.Logf("2040 small runs done after %v", time.Since(start))
	run, err := s.mgr.Get(ctx, big.ID)
	if err != nil || run.LastSeq < 10000 {
		b.Fatalf("big run has %d events (%v)", run.LastSeq, err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, bm := range []struct{ name, path, tok string }{
		{"list20/admin", "/v1/runs?limit=20", tokens["teacher"]},
		{"list20/student", "/v1/runs?limit=20", tokens["bob"]},
		{"run/12k-events", "/v1/runs/" + big.ID, tokens["bob"]},
	} {
		b.Run(bm.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", s.srv.URL+bm.path, nil)
			req.Header.Set("Authorization", "Bearer "+bm.tok)
			var bytes int64
			do := func() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s = %d", bm.path, resp.StatusCode)
				}
				bytes = n
			}
			do()         // warm: the first read of a finished run folds its log
			runtime.GC() // the set-up's garbage is not the requests' cost
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				do()
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(bytes), "resp-B")
		})
	}
}

// bigOrSmall answers the problem "big" with its big script, others with
// the small one.
type bigOrSmall struct{ big, small *scripted }

func (e bigOrSmall) Name() string { return "scripted" }
func (e bigOrSmall) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	if m := req.Messages; len(m) > 0 && strings.HasPrefix(m[len(m)-1].Content, "big") {
		return e.big.Generate(ctx, req, emit)
	}
	return e.small.Generate(ctx, req, emit)
}
