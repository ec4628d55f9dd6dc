package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/pause"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ interface {
	thinkstream.Engine
	thinkstream.Describer
	thinkstream.Pauser
} = (*Engine)(nil)

func request(problem string, seed *int64) thinkstream.Request {
	return thinkstream.Request{
		RunID: "run-1",
		Messages: []thinkstream.Message{
			{Role: "system", Content: "You are a careful solver."},
			{Role: "user", Content: problem},
		},
		Params: thinkstream.Params{Seed: seed},
	}
}

func seedOf(v int64) *int64 { return &v }

// timed is a token with the (fake) time since Generate started.
type timed struct {
	Text string
	At   time.Duration
}

// run generates inside a synctest bubble, where timers use a fake clock:
// the tests check real pacing without waiting for it.
func run(t *testing.T, e *Engine, req thinkstream.Request) ([]timed, thinkstream.Result, error) {
	t.Helper()
	var (
		toks []timed
		res  thinkstream.Result
		err  error
	)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		res, err = e.Generate(context.Background(), req, func(tok thinkstream.Token) error {
			if tok.Channel != thinkstream.ChannelRaw || tok.ID != -1 {
				t.Errorf("token %+v: want raw channel and id -1", tok)
			}
			toks = append(toks, timed{tok.Text, time.Since(start)})
			return nil
		})
	})
	return toks, res, err
}

func texts(toks []timed) string {
	var b strings.Builder
	for _, tk := range toks {
		b.WriteString(tk.Text)
	}
	return b.String()
}

func TestGenerateDeterministic(t *testing.T) {
	e := New(Config{})
	for _, problem := range []string{"What is the remainder when 2^100 is divided by 7?", "Explain cricket", "sim:long 500"} {
		a, resA, err := run(t, e, request(problem, seedOf(5)))
		if err != nil {
			t.Fatal(err)
		}
		b, resB, _ := run(t, e, request(problem, seedOf(5)))
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%q: same seed, different tokens or delays (-first +second):\n%s", problem, diff)
		}
		if diff := cmp.Diff(resA, resB); diff != "" {
			t.Errorf("%q: results differ:\n%s", problem, diff)
		}
		c, _, _ := run(t, e, request(problem, seedOf(6)))
		if cmp.Equal(a, c) {
			t.Errorf("%q: seeds 5 and 6 gave identical streams", problem)
		}
	}
}

func TestSeedFromRunID(t *testing.T) {
	e := New(Config{})
	req := request("Explain cricket", nil)
	a, _, _ := run(t, e, req)
	b, _, _ := run(t, e, req)
	if !cmp.Equal(a, b) {
		t.Error("same run id gave different streams")
	}
	req.RunID = "run-2"
	c, _, _ := run(t, e, req)
	if cmp.Equal(a, c) {
		t.Error("different run ids gave identical streams")
	}
}

func TestGenerateText(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	for _, s := range e.scripts {
		toks, res, err := run(t, e, request(s.problem, seedOf(1)))
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(toks); got != s.text {
			t.Errorf("%s: streamed text differs from the script", s.name)
		}
		if res.FinishReason != "stop" || res.Usage.CompletionTokens != len(toks) {
			t.Errorf("%s: result %+v for %d tokens", s.name, res, len(toks))
		}
		// Reasoning tokens are exactly those up to the end of </think>.
		var prefix strings.Builder
		for _, tk := range toks[:res.Usage.ReasoningTokens] {
			prefix.WriteString(tk.Text)
		}
		if !strings.HasSuffix(prefix.String(), "</think>") {
			t.Errorf("%s: %d reasoning tokens end with %q", s.name, res.Usage.ReasoningTokens, prefix.String()[max(0, prefix.Len()-20):])
		}
		if res.Usage.PromptTokens < 10 {
			t.Errorf("%s: prompt tokens %d", s.name, res.Usage.PromptTokens)
		}
	}
}

// TestTagsSplit checks that across seeds the tags arrive both whole and cut
// in two, so the reasoning parser is exercised on both.
func TestTagsSplit(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	whole, split := 0, 0
	for seed := range int64(24) {
		toks, _, _ := run(t, e, request("Explain cricket", seedOf(seed)))
		if toks[0].Text == "<think>" {
			whole++
		} else if toks[0].Text+toks[1].Text == "<think>" {
			split++
		} else {
			t.Fatalf("seed %d: stream starts %q %q", seed, toks[0].Text, toks[1].Text)
		}
	}
	if whole == 0 || split == 0 {
		t.Errorf("opening tag whole %d times, split %d times", whole, split)
	}
}

func TestPacing(t *testing.T) {
	t.Run("steady", func(t *testing.T) {
		e := New(Config{Rate: 50, TTFT: 200 * time.Millisecond, Jitter: -1})
		toks, res, _ := run(t, e, request("sim:long 1000", seedOf(1)))
		for i, tk := range toks {
			want := 200*time.Millisecond + time.Duration(i)*20*time.Millisecond
			if tk.At != want {
				t.Fatalf("token %d at %v, want %v", i, tk.At, want)
			}
		}
		if got := res.Timings.PredictedPerSecond; math.Abs(got-50) > 0.01 {
			t.Errorf("PredictedPerSecond = %v, want 50", got)
		}
		if got := res.Timings.PromptMS; got != 200 {
			t.Errorf("PromptMS = %v, want 200", got)
		}
	})
	t.Run("jittered", func(t *testing.T) {
		e := New(Config{Rate: 40, Jitter: 0.5})
		toks, _, _ := run(t, e, request("sim:long 2000", seedOf(3)))
		if toks[0].At != DefaultTTFT {
			t.Errorf("first token at %v, want %v", toks[0].At, DefaultTTFT)
		}
		mean := time.Second / 40
		lo, hi := mean/2, mean*3/2
		distinct := map[time.Duration]bool{}
		for i := 1; i < len(toks); i++ {
			d := toks[i].At - toks[i-1].At
			if d < lo || d > hi {
				t.Fatalf("gap %d is %v, outside [%v, %v]", i, d, lo, hi)
			}
			distinct[d] = true
		}
		n := len(toks) - 1
		avg := (toks[n].At - toks[0].At) / time.Duration(n)
		if avg < mean*97/100 || avg > mean*103/100 {
			t.Errorf("average gap %v, want %v ±3%%", avg, mean)
		}
		if len(distinct) < n/2 {
			t.Errorf("only %d distinct gaps in %d", len(distinct), n)
		}
	})
}

// TestPacingCatchUp checks the schedule: a consumer that stalls briefly is
// caught up (tokens keep their slots on average), a long stall restarts the
// schedule instead of releasing a burst.
func TestPacingCatchUp(t *testing.T) {
	const gap = 25 * time.Millisecond
	for _, tt := range []struct {
		name  string
		stall time.Duration
		// slot is where token 20 lands relative to the unstalled schedule.
		slot time.Duration
	}{
		{"short stall caught up", 100 * time.Millisecond, 0},
		{"long stall restarts", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := New(Config{Rate: 40, TTFT: -1, Jitter: -1})
				start := time.Now()
				var at []time.Duration
				_, err := e.Generate(context.Background(), request("sim:long 100", seedOf(1)), func(thinkstream.Token) error {
					at = append(at, time.Since(start))
					if len(at) == 10 {
						time.Sleep(tt.stall)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := 20*gap + tt.slot; at[20] != want {
					t.Errorf("token 20 at %v, want %v", at[20], want)
				}
				for i := 11; i < len(at); i++ {
					if d := at[i] - at[i-1]; d > gap {
						t.Fatalf("gap after the stall %v at token %d", d, i)
					}
				}
			})
		})
	}
}

func TestCancelWithinOneToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{Rate: 1, TTFT: -1}) // one token a second
		ctx, cancel := context.WithCancel(context.Background())
		var n int
		var res thinkstream.Result
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			res, err = e.Generate(ctx, request("sim:long 1000", seedOf(1)), func(thinkstream.Token) error {
				n++
				return nil
			})
		}()
		time.Sleep(3500 * time.Millisecond) // fake time: mid-gap after token 4
		synctest.Wait()
		cancelled := time.Now()
		cancel()
		<-done
		if waited := time.Since(cancelled); waited != 0 {
			t.Errorf("Generate returned %v after cancel, want at once", waited)
		}
		if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" {
			t.Errorf("err %v, finish %q", err, res.FinishReason)
		}
		if n < 3 || n > 5 || res.Usage.CompletionTokens != n {
			t.Errorf("%d tokens emitted, usage %d", n, res.Usage.CompletionTokens)
		}
	})
}

// TestPause holds a run between tokens for as long as it is paused (fake
// time: an hour), then goes on at its pace, not with a burst of the tokens
// the pause delayed.
func TestPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{Rate: 10, TTFT: -1, Jitter: -1}) // a token every 100 ms
		var n atomic.Int64
		done := make(chan error, 1)
		req := request("sim:long 60", seedOf(1))
		go func() {
			_, err := e.Generate(context.Background(), req, func(thinkstream.Token) error {
				n.Add(1)
				return nil
			})
			done <- err
		}()
		time.Sleep(1050 * time.Millisecond)
		synctest.Wait()
		if err := e.Pause(req.RunID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the token in progress
		synctest.Wait()
		held := n.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := n.Load(); got != held {
			t.Fatalf("%d tokens while paused", got-held)
		}
		if err := e.Resume(req.RunID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(450 * time.Millisecond)
		synctest.Wait()
		if got := n.Load() - held; got < 3 || got > 6 {
			t.Errorf("%d tokens in the 450 ms after resuming, want about 4", got)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := e.Pause(req.RunID); !errors.Is(err, pause.ErrUnknownRun) {
			t.Errorf("pause after the end: %v", err)
		}
	})
}

func TestCancelledBeforeStart(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	_, err := e.Generate(ctx, request("sim:long 100", nil), func(thinkstream.Token) error { n++; return nil })
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("err %v after %d tokens", err, n)
	}
}

func TestMaxTokens(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	for _, problem := range []string{"How many zeros does 100! end with?", "sim:long 5000"} {
		req := request(problem, seedOf(1))
		full, res, _ := run(t, e, req)
		if res.FinishReason != "stop" {
			t.Fatalf("%q: unclipped finish %q", problem, res.FinishReason)
		}
		req.Params.MaxTokens = 100
		toks, res, err := run(t, e, req)
		if err != nil || res.FinishReason != "length" || len(toks) != 100 || res.Usage.CompletionTokens != 100 {
			t.Errorf("%q: %d tokens, %+v, %v", problem, len(toks), res, err)
		}
		if !cmp.Equal(toks, full[:100]) {
			t.Errorf("%q: clipped stream is not a prefix of the full one", problem)
		}
		// A limit at the exact length is not a clip.
		req.Params.MaxTokens = len(full)
		if _, res, _ := run(t, e, req); res.FinishReason != "stop" {
			t.Errorf("%q: limit equal to the length finished %q", problem, res.FinishReason)
		}
	}
}

func TestLongRun(t *testing.T) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	toks, res, err := run(t, e, request("sim:long 40000", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.ReasoningTokens != 40000 || res.Usage.CompletionTokens != len(toks) {
		t.Errorf("usage %+v for %d tokens", res.Usage, len(toks))
	}
	if !strings.Contains(texts(toks[40000:]), `\boxed{`) {
		t.Error("no boxed answer after the reasoning")
	}
}

func TestGenerateErrors(t *testing.T) {
	e := New(Config{})
	req := request("x", nil)
	req.Prefix = "<think>\nOkay"
	if _, err := e.Generate(context.Background(), req, nil); !errors.Is(err, thinkstream.ErrUnsupported) {
		t.Errorf("prefix: err = %v", err)
	}

	var engErr *thinkstream.EngineError
	_, err := e.Generate(context.Background(), request("sim:long lots", nil), nil)
	if !errors.As(err, &engErr) || engErr.Code != "invalid_problem" {
		t.Errorf("bad sim:long: err = %v", err)
	}

	boom := errors.New("viewer gone")
	fast := New(Config{Rate: math.Inf(1), TTFT: -1})
	n := 0
	_, err = fast.Generate(context.Background(), request("x", nil), func(thinkstream.Token) error {
		if n++; n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 3 {
		t.Errorf("emit error: err = %v after %d tokens", err, n)
	}
}

func TestInfo(t *testing.T) {
	e := New(Config{})
	want := thinkstream.EngineInfo{Model: "sim", Simulated: true, MaxParallel: DefaultMaxParallel}
	if diff := cmp.Diff(want, e.Info()); diff != "" {
		t.Error(diff)
	}
	if e.Name() != "sim" {
		t.Errorf("Name = %q", e.Name())
	}
	if got := New(Config{MaxParallel: 8}).Info().MaxParallel; got != 8 {
		t.Errorf("MaxParallel = %d", got)
	}
}

// BenchmarkGenerate measures the engine's own cost per token with pacing
// off: what a load test at thousands of tokens per second spends on the sim.
func BenchmarkGenerate(b *testing.B) {
	e := New(Config{Rate: math.Inf(1), TTFT: -1})
	req := request("sim:long 10000", seedOf(1))
	b.ReportAllocs()
	tokens := 0
	for b.Loop() {
		res, err := e.Generate(context.Background(), req, func(thinkstream.Token) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		tokens += res.Usage.CompletionTokens
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkGeneratePaced runs at a real 2,000 tokens/s to check that
// pacing costs no CPU while waiting: compare the CPU time with the wall
// time (go test -bench GeneratePaced -cpuprofile).
func BenchmarkGeneratePaced(b *testing.B) {
	e := New(Config{Rate: 2000, TTFT: -1, Jitter: -1})
	req := request("sim:long 200", seedOf(1))
	for b.Loop() {
		start := time.Now()
		res, err := e.Generate(context.Background(), req, func(thinkstream.Token) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rate := float64(res.Usage.CompletionTokens-1) / time.Since(start).Seconds()
		if rate < 1000 || rate > 2100 {
			b.Errorf("paced at %.0f tokens/s, want about 2000", rate)
		}
	}
}
