package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/sse"
)

// viewer follows a run like a browser would: it reads the stream, drops the
// connection at random points, and reconnects with Last-Event-ID. It
// returns every logged event it saw, in order.
func viewer(ctx context.Context, url string, rng *rand.Rand, dropEvery int) ([]thinkstream.Event, int, error) {
	var got []thinkstream.Event
	last := ""
	reconnects := 0
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return got, reconnects, err
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			return got, reconnects, nil
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return got, reconnects, fmt.Errorf("status %d", resp.StatusCode)
		}
		r := sse.NewReader(resp.Body)
		budget := -1
		if dropEvery > 0 {
			budget = rng.IntN(dropEvery) + 1
		}
		ended := false
		for budget != 0 {
			ev, err := r.Next()
			if err != nil {
				break // server closed (after the terminal event) or dropped
			}
			if !ev.HasID {
				continue // stream.open, viewers
			}
			var e thinkstream.Event
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				resp.Body.Close()
				return got, reconnects, err
			}
			if strconv.FormatInt(e.Seq, 10) != ev.ID {
				resp.Body.Close()
				return got, reconnects, fmt.Errorf("id %s carries seq %d", ev.ID, e.Seq)
			}
			got = append(got, e)
			last = ev.ID
			budget--
			if thinkstream.IsTerminal(e.Type) {
				ended = true
				break
			}
		}
		resp.Body.Close()
		if ended {
			return got, reconnects, nil
		}
		reconnects++
	}
}

func TestManyViewersResumeExactly(t *testing.T) {
	viewers := 200
	if testing.Short() || raceEnabled {
		viewers = 40
	}
	eng := sim.New(sim.Config{Rate: 1500, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{})
	c := s.create(t, "sim:long 1500")
	url := s.srv.URL + "/v1/runs/" + c.ID + "/events"

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		evs        []thinkstream.Event
		reconnects int
		err        error
	}
	results := make([]result, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			evs, n, err := viewer(ctx, url, rng, 300)
			results[i] = result{evs, n, err}
		}()
	}
	wg.Wait()
	// The log is the truth each viewer must have reconstructed.
	var want []thinkstream.Event
	for ev, err := range s.mgr.Follow(ctx, c.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	if len(want) < 1500 {
		t.Fatalf("run logged only %d events", len(want))
	}
	totalReconnects := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("viewer %d: %v", i, r.err)
		}
		totalReconnects += r.reconnects
		if len(r.evs) != len(want) {
			t.Fatalf("viewer %d saw %d events, want %d (lost or duplicated)", i, len(r.evs), len(want))
		}
		for j := range want {
			if r.evs[j].Seq != want[j].Seq || r.evs[j].Text != want[j].Text || r.evs[j].Type != want[j].Type {
				t.Fatalf("viewer %d event %d: got %d/%s, want %d/%s", i, j, r.evs[j].Seq, r.evs[j].Type, want[j].Seq, want[j].Type)
			}
		}
	}
	if totalReconnects < viewers {
		t.Errorf("only %d reconnects across %d viewers: the test did not exercise resume", totalReconnects, viewers)
	}
	t.Logf("%d viewers, %d events each, %d reconnects, 0 lost, 0 duplicated, 0 reordered", viewers, len(want), totalReconnects)
}

// A viewer that never reads must not delay the run or the other viewers,
// and is let go once a write to it times out.
func TestStalledViewer(t *testing.T) {
	eng := sim.New(sim.Config{Rate: 5000, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{WriteTimeout: 300 * time.Millisecond})
	// Big frames fill the stalled socket's buffers quickly.
	c := s.create(t, "sim:long 8000")
	addr := strings.TrimPrefix(s.srv.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /v1/runs/%s/events HTTP/1.1\r\nHost: x\r\n\r\n", c.ID)
	// Read only the status line, then never again.
	line, err := bufio.NewReader(io.LimitReader(conn, 64)).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stalled viewer got %q, %v", line, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	evs, _, err := viewer(ctx, s.srv.URL+"/v1/runs/"+c.ID+"/events", rand.New(rand.NewPCG(1, 2)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != thinkstream.EventRunCompleted {
		t.Fatalf("reader ended with %s", last.Type)
	}
	// The stalled viewer is dropped by the write timeout: the viewer count
	// falls to zero.
	for s.hub.Viewers(c.ID) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("stalled viewer still attached: %d viewers", s.hub.Viewers(c.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDepartedViewersLeave: viewers that close their connection mid-run
// are dropped (the next write to them fails), so the run's viewer count
// falls back while it is still generating.
func TestDepartedViewersLeave(t *testing.T) {
	eng := sim.New(sim.Config{Rate: 200, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{})
	c := s.create(t, "sim:long 100000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bodies []io.Closer
	for range 20 {
		resp := get(t, s.srv.URL+"/v1/runs/"+c.ID+"/events", nil)
		r := sse.NewReader(resp.Body)
		for n := 0; n < 3; {
			ev, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.HasID {
				n++
			}
		}
		bodies = append(bodies, resp.Body)
	}
	if n := s.hub.Viewers(c.ID); n != 20 {
		t.Fatalf("%d viewers, want 20", n)
	}
	for _, b := range bodies {
		b.Close()
	}
	for s.hub.Viewers(c.ID) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d departed viewers still counted", s.hub.Viewers(c.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if run, _ := s.mgr.Get(ctx, c.ID); run.State != thinkstream.StateRunning {
		t.Fatalf("run is %s; the test needs it still running", run.State)
	}
}
