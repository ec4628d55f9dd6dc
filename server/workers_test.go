package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream/cluster"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/runs"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// startWorker runs a worker on the cluster's NATS until the test ends or
// stop is called; stop hands its runs back.
func startWorker(t *testing.T, url string, rate float64, lease time.Duration, maxAttempts ...int) (w *server.Worker, stop func()) {
	t.Helper()
	attempts := 0
	if len(maxAttempts) > 0 {
		attempts = maxAttempts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := server.NewWorker(ctx, server.WorkerConfig{
		Engine: sim.New(sim.Config{Rate: rate, TTFT: -1, Jitter: -1}), NATSURL: url, Slots: 1,
		Work: cluster.WorkConfig{Lease: lease}, MaxAttempts: attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(rctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			rcancel()
			<-done
			w.Close()
		})
	}
	t.Cleanup(stop)
	return w, stop
}

func gateway(t *testing.T, url string, lease time.Duration) *servertest.Server {
	t.Helper()
	return servertest.New(t, server.Config{
		Engine: sim.New(sim.Config{}), NATSURL: url, Gateway: true, NoUI: true,
		Work: cluster.WorkConfig{Lease: lease},
	})
}

// TestWorkersGenerateGatewayRuns: a gateway only admits and queues; two
// workers take one run each (one slot apiece) and generate them; viewers
// on the gateway get every run complete and dense, and a cancel from the
// gateway reaches the worker that writes the run.
func TestWorkersGenerateGatewayRuns(t *testing.T) {
	url := startNATS(t)
	g := gateway(t, url, 2*time.Second)
	w1, _ := startWorker(t, url, 200, 2*time.Second)
	w2, _ := startWorker(t, url, 200, 2*time.Second)
	r1 := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	r2 := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	var wg sync.WaitGroup
	var t1, t2 []string
	wg.Go(func() { t1 = transcript(t, g.URL+"/v1/runs/"+r1.ID+"/events", "", 0) })
	wg.Go(func() { t2 = transcript(t, g.URL+"/v1/runs/"+r2.ID+"/events", "", 0) })
	// Both run at once, one on each worker.
	deadline := time.Now().Add(20 * time.Second)
	for {
		q1, n1 := w1.Runs.Active()
		q2, n2 := w2.Runs.Active()
		if q1+q2 == 0 && n1 == 1 && n2 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers generate %d and %d runs, want 1 each", n1, n2)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if code, body := post(t, g.URL+"/v1/runs/"+r2.ID+"/cancel", r2.OwnerToken, nil); code != http.StatusAccepted {
		t.Fatalf("cancel from the gateway: %d %s", code, body)
	}
	wg.Wait()
	for name, tr := range map[string][]string{"r1": t1, "r2": t2} {
		for i, f := range tr {
			if frameID(f) != fmt.Sprint(i+1) {
				t.Fatalf("%s: frame %d has id %s", name, i, frameID(f))
			}
		}
	}
	if len(t1) < 100 || !strings.Contains(t1[len(t1)-1], "event: run.completed") {
		t.Errorf("r1: %d frames, last %q", len(t1), t1[len(t1)-1:])
	}
	if !strings.Contains(t2[len(t2)-1], "event: run.cancelled") {
		t.Errorf("r2 ends %q, want run.cancelled", t2[len(t2)-1:])
	}
	for _, f := range append(t1, t2...) {
		if strings.Contains(f, "event: run.started") && !strings.HasPrefix(f, "id: 2\n") {
			t.Errorf("run.started at %q: the gateway should log run.created only", frameID(f))
		}
	}
}

func createSeeded(t *testing.T, base, problem string, seed int64) runs.Created {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"problem": problem, "params": map[string]any{"seed": seed}})
	resp, err := http.Post(base+"/v1/runs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var c runs.Created
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// generated returns the model's part of a transcript: the parser's events
// as they were logged, without their seq and time (which differ between
// two runs of one script).
func generated(t *testing.T, tr []string) []string {
	t.Helper()
	var out []string
	for _, f := range tr {
		_, data, ok := strings.Cut(f, "\ndata: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		switch ev["type"] {
		case "step", "thinking", "code", "answer", "result":
			delete(ev, "seq")
			delete(ev, "t")
			b, _ := json.Marshal(ev)
			out = append(out, string(b))
		}
	}
	return out
}

// TestRunSurvivesItsWorker: a worker dies mid-run (its NATS connection is
// gone at once: no ack, no heartbeat, no event more); after the lease the
// run goes to the other worker, which continues it from the logged output:
// the gateway's viewer sees one dense transcript with run.resumed at the
// seam and exactly the model output of an uninterrupted run of the same
// script, no token twice and none missing.
func TestRunSurvivesItsWorker(t *testing.T) {
	const lease = time.Second
	url := startNATS(t)
	g := gateway(t, url, lease)
	w1, _ := startWorker(t, url, 300, lease)
	problem := "How many ways to choose 3 of 5?"
	ref := createSeeded(t, g.URL, problem, 7)
	want := transcript(t, g.URL+"/v1/runs/"+ref.ID+"/events", "", 0)

	victim := createSeeded(t, g.URL, problem, 7)
	var got []string
	var wg sync.WaitGroup
	wg.Go(func() { got = transcript(t, g.URL+"/v1/runs/"+victim.ID+"/events", "", 0) })
	waitLastSeq(t, g.URL, victim.ID, 150)
	w1.Close() // dies
	startWorker(t, url, 300, lease)
	wg.Wait()

	if len(got) == 0 || !strings.Contains(got[len(got)-1], "event: run.completed") {
		t.Fatalf("resumed run ends %q, want run.completed", got[len(got)-1:])
	}
	resumedAt := 0
	for i, f := range got {
		if frameID(f) != fmt.Sprint(i+1) {
			t.Fatalf("frame %d has id %s: seqs not dense", i, frameID(f))
		}
		if strings.Contains(f, "event: run.resumed") {
			if resumedAt != 0 {
				t.Errorf("run.resumed twice")
			}
			resumedAt = i + 1
			if !strings.Contains(f, `"attempt":2`) {
				t.Errorf("seam %q does not say attempt 2", f)
			}
		}
	}
	if resumedAt < 150 {
		t.Errorf("run.resumed at seq %d, want after the 150 events of the first worker", resumedAt)
	}
	if diff := cmp.Diff(generated(t, want), generated(t, got)); diff != "" {
		t.Errorf("model output of the resumed run (-uninterrupted +resumed):\n%s", diff)
	}
}

// TestAttemptsLimit: a run that lost its worker more often than allowed
// ends failed, and its events say why.
func TestAttemptsLimit(t *testing.T) {
	const lease = time.Second
	url := startNATS(t)
	g := gateway(t, url, lease)
	w1, _ := startWorker(t, url, 300, lease, 1)
	c := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	var got []string
	var wg sync.WaitGroup
	wg.Go(func() { got = transcript(t, g.URL+"/v1/runs/"+c.ID+"/events", "", 0) })
	waitLastSeq(t, g.URL, c.ID, 20)
	w1.Close() // dies
	startWorker(t, url, 300, lease, 1)
	wg.Wait()
	if len(got) < 2 || !strings.Contains(got[len(got)-1], "event: run.failed") ||
		!strings.Contains(got[len(got)-2], `"code":"attempts_exhausted"`) {
		t.Fatalf("run ends %q, want run.error attempts_exhausted and run.failed", got[max(len(got)-2, 0):])
	}
}
