package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// proc is a process of the cluster test: a NATS node, a gateway or a
// worker.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts a process; with ready set it waits for a stdout line
// with that prefix and returns the rest of the line.
func startProc(t *testing.T, name, ready string, bin string, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &proc{name: name, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		// The scanner's own copy of ready: the test goroutine reads ready
		// below. Wait only after the last read of stdout (os/exec's rule).
		want := ready
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if want != "" && strings.HasPrefix(sc.Text(), want) {
				lines <- strings.TrimPrefix(sc.Text(), want)
				want = ""
			}
		}
		close(lines)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, lastLines(p.logs.String(), 30))
		}
	})
	if ready == "" {
		return p, ""
	}
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("%s did not start:\n%s", name, p.logs)
		}
		return p, line
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start in time:\n%s", name, p.logs)
	}
	return p, ""
}

// kill ends the process with SIGKILL: nothing of it runs a clean-up.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// natsCluster builds nats-server from the module and runs a 3-node
// JetStream cluster on loopback ports; it returns the client URLs.
func natsCluster(t *testing.T) ([]*proc, []string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	ports := freePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	var nodes []*proc
	var urls []string
	for i := range 3 {
		p, _ := startProc(t, fmt.Sprintf("nats-%d", i+1), "", bin,
			"-a", "127.0.0.1", "-p", fmt.Sprint(ports[i]), "-js", "-sd", t.TempDir(), "-n", fmt.Sprintf("n%d", i+1),
			"--cluster_name", "thinkstream", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		nodes = append(nodes, p)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	// Ready when JetStream answers on every node (the cluster has a meta
	// leader).
	deadline := time.Now().Add(60 * time.Second)
	for _, u := range urls {
		for {
			if jsReady(u) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats cluster not ready at %s", u)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nodes, urls
}

func jsReady(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// viewer follows a run's stream like EventSource: when its connection
// breaks before the terminal event, it reconnects to the next gateway
// with Last-Event-ID. It returns the frames with an id, in order.
func viewer(ctx context.Context, gateways []string, first int, id string) ([]string, error) {
	var out []string
	for try := 0; ; try++ {
		if ctx.Err() != nil {
			return out, fmt.Errorf("run %s not finished: %d frames", id, len(out))
		}
		base := gateways[(first+try)%len(gateways)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/runs/"+id+"/events", nil)
		if len(out) > 0 {
			last, _, _ := strings.Cut(strings.TrimPrefix(out[len(out)-1], "id: "), "\n")
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			return out, nil
		}
		ended := false
		br := bufio.NewReader(resp.Body)
		var frame strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if line != "\n" {
				frame.WriteString(line)
				continue
			}
			f := frame.String()
			frame.Reset()
			if strings.HasPrefix(f, "id: ") {
				out = append(out, f)
				ended = ended || isTerminalFrame(f)
			}
		}
		resp.Body.Close()
		if ended {
			return out, nil
		}
	}
}

// frameT is an event's t (ms since the run was created).
func frameT(t *testing.T, f string) int64 {
	t.Helper()
	_, data, _ := strings.Cut(f, "\ndata: ")
	var ev struct {
		T int64 `json:"t"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
		t.Fatalf("frame %q: %v", f, err)
	}
	return ev.T
}

func isTerminalFrame(f string) bool {
	for _, typ := range []string{"run.completed", "run.failed", "run.cancelled", "run.interrupted"} {
		if strings.Contains(f, "\nevent: "+typ+"\n") {
			return true
		}
	}
	return false
}

func lastSeq(base, id string) int64 {
	resp, err := http.Get(base + "/v1/runs/" + id)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var got struct {
		Run struct {
			LastSeq int64 `json:"last_seq"`
		} `json:"run"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got) // 0 when it failed (a node just went): callers poll
	return got.Run.LastSeq
}

func waitSeq(t *testing.T, base, id string, seq int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for lastSeq(base, id) < seq {
		if time.Now().After(deadline) {
			t.Fatalf("run %s never reached seq %d", id, seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createSeeded(t *testing.T, base string, seed int) string {
	t.Helper()
	id, _ := createOwned(t, base, seed)
	return id
}

// createOwned creates a seeded run and returns its id and owner token.
func createOwned(t *testing.T, base string, seed int) (id, owner string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"problem": "How many ways to choose 3 of 5?", "params": map[string]any{"seed": seed}})
	resp, err := http.Post(base+"/v1/runs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var c struct {
		ID    string `json:"id"`
		Owner string `json:"owner_token"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.ID, c.Owner
}

// modelOutput is the parser's events of a transcript without seq and t.
func modelOutput(t *testing.T, tr []string) []string {
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

// TestClusterSurvivesKills runs the cluster as it is deployed: a 3-node
// NATS JetStream cluster (separate processes, streams with 3 replicas), 2
// gateways and 2 workers, all real processes on loopback. While viewers
// split over both gateways watch a run, kill -9 takes out the run's worker,
// then one NATS node, then one gateway (its viewers reconnect to the other
// with Last-Event-ID). Every viewer must end with the same dense
// transcript, the run must complete, and its model output must be that
// of an uninterrupted run of the same script.
func TestClusterSurvivesKills(t *testing.T) {
	viewersPer := 100
	if testing.Short() {
		viewersPer = 10
	}
	nodes, urls := natsCluster(t)
	natsURL := strings.Join(urls, ",")
	common := []string{"--nats-url", natsURL, "--nats-replicas", "3", "--lease", "2s", "--log-level", "info",
		"--sim-rate", "120", "--sim-jitter", "-1", "--sim-ttft", "-1ms"}
	var gws []*proc
	var gwURLs []string
	for i := range 2 {
		dir := t.TempDir()
		p, url := startProc(t, fmt.Sprintf("gateway-%d", i+1), "listening on ", binary,
			append([]string{"serve", "--role", "gateway", "--addr", "127.0.0.1:0", "--data-dir", dir, "--shutdown-grace", "0s"}, common...)...)
		gws, gwURLs = append(gws, p), append(gwURLs, url)
	}
	var workers []*proc
	for i := range 2 {
		p, _ := startProc(t, fmt.Sprintf("worker-%d", i+1), "worker taking runs", binary,
			append([]string{"worker", "--max-concurrent", "1"}, common...)...)
		workers = append(workers, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	refID := createSeeded(t, gwURLs[0], 7)
	ref, err := viewer(ctx, gwURLs, 0, refID)
	if err != nil || len(ref) < 100 || !strings.Contains(ref[len(ref)-1], "event: run.completed") {
		t.Fatalf("reference run: %d frames, %v", len(ref), err)
	}

	id := createSeeded(t, gwURLs[1], 7)
	got := make([][]string, 2*viewersPer)
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i], errs[i] = viewer(ctx, gwURLs, i%2, id) })
	}

	waitSeq(t, gwURLs[1], id, 100)
	victim := -1
	for i, w := range workers {
		if strings.Contains(w.logs.String(), "run="+id) {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no worker says it took the run")
	}
	at := lastSeq(gwURLs[1], id)
	for at == 0 { // a GET that failed under load
		at = lastSeq(gwURLs[1], id)
	}
	workers[victim].kill()
	t.Logf("killed worker-%d at about seq %d", victim+1, at)
	waitSeq(t, gwURLs[1], id, at+60) // resumed on the other worker
	nodes[2].kill()
	t.Logf("killed nats-3 after seq %d", at+60)
	waitSeq(t, gwURLs[1], id, at+150)
	gws[0].kill()
	t.Logf("killed gateway-1 after seq %d", at+150)
	wg.Wait()

	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	want, err := viewer(wctx, gwURLs[1:], 0, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want[len(want)-1], "event: run.completed") {
		t.Fatalf("run ends %q, want run.completed", want[len(want)-1])
	}
	resumed := 0
	for i, f := range want {
		if !strings.HasPrefix(f, fmt.Sprintf("id: %d\n", i+1)) {
			t.Fatalf("frame %d is %q: seqs not dense", i, f)
		}
		if strings.Contains(f, "\nevent: run.resumed\n") {
			resumed++
			if i > 0 {
				// The hand-over's cost as viewers see it: the lease the
				// dead worker held, then the new worker's start.
				t.Logf("hand-over: %d ms between the dead worker's last event and run.resumed (lease 2s)",
					frameT(t, f)-frameT(t, want[i-1]))
			}
		}
	}
	if resumed != 1 {
		t.Errorf("%d run.resumed events, want 1 (one worker died)", resumed)
	}
	if diff := cmp.Diff(modelOutput(t, ref), modelOutput(t, want)); diff != "" {
		t.Errorf("model output (-uninterrupted +survived):\n%s", diff)
	}
	bad := 0
	for i := range got {
		if errs[i] != nil || !cmp.Equal(want, got[i]) {
			bad++
			if bad <= 3 {
				t.Errorf("viewer %d (err %v): %d frames, want %d: %s", i, errs[i], len(got[i]), len(want), cmp.Diff(want, got[i]))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d viewers did not get the exact transcript", bad, len(got))
	}
}

// TestServerResumesAfterKill: a single server with default flags, killed
// with SIGKILL mid-run and started again on its data dir, continues the
// run instead of ending it: one transcript, run.resumed at the seam, the
// model output of an uninterrupted run.
func TestServerResumesAfterKill(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--sim-rate", "300", "--sim-jitter", "-1", "--sim-ttft", "-1ms", "--max-concurrent", "1"}
	s := start(t, dir, "127.0.0.1:0", flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref, err := viewer(ctx, []string{s.url}, 0, createSeeded(t, s.url, 7))
	if err != nil {
		t.Fatal(err)
	}
	id := createSeeded(t, s.url, 7)
	// Two more wait in the queue behind it when the server dies.
	queued := createSeeded(t, s.url, 7)
	dropped, owner := createOwned(t, s.url, 8)
	waitSeq(t, s.url, id, 150)
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s2 := start(t, dir, "127.0.0.1:0", flags...)
	// The owner token outlives the process that made it.
	req, _ := http.NewRequest(http.MethodPost, s2.url+"/v1/runs/"+dropped+"/cancel", nil)
	req.Header.Set("X-Thinkstream-Owner", owner)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel a queued run with its owner token after the restart: status %d", resp.StatusCode)
	}
	got, err := viewer(ctx, []string{s2.url}, 0, id)
	if err != nil {
		t.Fatal(err)
	}
	// The queued run keeps its place and runs once the slot is free, as
	// if nothing had happened: run.started, not run.resumed.
	after, err := viewer(ctx, []string{s2.url}, 0, queued)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(modelOutput(t, ref), modelOutput(t, after)); diff != "" {
		t.Errorf("model output of the run queued at the crash (-uninterrupted +after):\n%s", diff)
	}
	for i, f := range after {
		if !strings.HasPrefix(f, fmt.Sprintf("id: %d\n", i+1)) || strings.Contains(f, "\nevent: run.resumed\n") {
			t.Fatalf("run queued at the crash, frame %d: %q", i, f)
		}
	}
	if run := getRun(t, s2.url, dropped); run.State != thinkstream.StateCancelled {
		t.Errorf("run cancelled after the restart is %s", run.State)
	}
	if !strings.Contains(got[len(got)-1], "event: run.completed") {
		t.Fatalf("run ends %q, want run.completed", got[len(got)-1])
	}
	resumed := 0
	for i, f := range got {
		if !strings.HasPrefix(f, fmt.Sprintf("id: %d\n", i+1)) {
			t.Fatalf("frame %d is %q: seqs not dense", i, f)
		}
		if strings.Contains(f, "\nevent: run.resumed\n") {
			resumed++
		}
	}
	if resumed != 1 {
		t.Errorf("%d run.resumed, want 1", resumed)
	}
	if diff := cmp.Diff(modelOutput(t, ref), modelOutput(t, got)); diff != "" {
		t.Errorf("model output (-uninterrupted +resumed):\n%s", diff)
	}
}
