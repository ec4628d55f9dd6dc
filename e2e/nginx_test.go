package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// TestThroughNginx puts a real nginx (default proxy settings, HTTP/1.1 to
// the upstream) in front of the server: events must arrive while the run is
// live, within a few events of the log, and a resume through the proxy must
// be exact. (The server also sends X-Accel-Buffering: no; this nginx passes
// a fast reader's stream through promptly even without it, so the test
// checks liveness, not that header.)
func TestThroughNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and a server process")
	}
	nginx := findNginx(t)
	s := start(t, t.TempDir(), "127.0.0.1:0", "--sim-rate", "40", "--sim-ttft", "-1ms")
	proxy := startNginx(t, nginx, s.url)

	run := s.create(t, "How many ways to choose 3 of 5?")
	resp, err := http.Get(proxy + "/v1/runs/" + run.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	r := sse.NewReader(resp.Body)
	var seen []int64
	for len(seen) < 20 {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("through nginx: %v", err)
		}
		if ev.HasID {
			var e thinkstream.Event
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, e.Seq)
		}
	}
	// A proxy that held frames back until a 4–8 KiB buffer filled would
	// leave the viewer dozens of events behind the log.
	if live := getRun(t, s.url, run.ID); live.State != thinkstream.StateRunning || live.LastSeq-seen[len(seen)-1] > 25 {
		t.Fatalf("viewer at seq %d while the run is %s at seq %d: the proxy buffered the stream", seen[len(seen)-1], live.State, live.LastSeq)
	}
	resp.Body.Close()

	req, _ := http.NewRequest("GET", proxy+"/v1/runs/"+run.ID+"/events", nil)
	req.Header.Set("Last-Event-ID", fmt.Sprint(seen[len(seen)-1]))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r = sse.NewReader(resp.Body)
	for len(seen) < 40 {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.HasID {
			var e thinkstream.Event
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, e.Seq)
		}
	}
	for i, seq := range seen {
		if seq != int64(i+1) {
			t.Fatalf("event %d has seq %d after resuming through nginx", i, seq)
		}
	}
}

// findNginx returns the nginx binary, or skips the test.
func findNginx(t *testing.T) string {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, e := os.Stat(p); e == nil {
				nginx, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("nginx is not installed (.ci/run installs it)")
	}
	return nginx
}

// startNginx runs nginx (default proxy settings, HTTP/1.1 to the upstream)
// in front of upstream and returns its URL.
func startNginx(t *testing.T, nginx, upstream string) string {
	t.Helper()
	port := freePort(t)
	proxy := fmt.Sprintf("http://127.0.0.1:%d", port)
	runNginx(t, nginx, t.TempDir(), fmt.Sprintf(`server {
    listen 127.0.0.1:%d;
    location / {
      proxy_pass %s;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 1h;
    }
  }`, port, upstream), http.DefaultClient, proxy)
	return proxy
}

// runNginx runs nginx in the foreground with the given http-block content
// (its temp files and logs in dir) and waits until base/healthz answers 200
// through client.
func runNginx(t *testing.T, nginx, dir, httpBlock string, client *http.Client, base string) {
	t.Helper()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  %[2]s
}
`, dir, httpBlock)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", confPath, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			el, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not come up: %v\n%s\n%s", err, out.String(), el)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLongStreamThroughNginx: a run that lasts several write timeouts
// reaches viewers through nginx, and straight over HTTP/1.1, whole and on
// one connection each: the write timeout bounds one write, not a stream.
func TestLongStreamThroughNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and a server process")
	}
	nginx := findNginx(t)
	s := start(t, t.TempDir(), "127.0.0.1:0", "--sim-rate", "400", "--sim-ttft", "-1ms",
		"--write-timeout", "1s", "--heartbeat", "300ms")
	proxy := startNginx(t, nginx, s.url)
	run := s.create(t, "sim:long 2200") // about 5.5 s
	begin := time.Now()
	errs := make(chan error, 4)
	for _, base := range []string{proxy, proxy, s.url, s.url} {
		go func() { errs <- followWhole(http.DefaultClient, base+"/v1/runs/"+run.ID+"/events") }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("after %v: %v", time.Since(begin).Round(time.Millisecond), err)
		}
	}
	if d := time.Since(begin); d < 4*time.Second {
		t.Fatalf("the run lasted %v, not several write timeouts: the test proves nothing", d)
	}
}

// followWhole reads a stream on one connection from its first event to
// run.completed; a stream that ends before is an error.
func followWhole(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	r := sse.NewReader(resp.Body)
	want := int64(1)
	for {
		ev, err := r.Next()
		if err != nil {
			return fmt.Errorf("%s over %s: cut after seq %d: %w", url, resp.Proto, want-1, err)
		}
		if !ev.HasID {
			continue
		}
		var e thinkstream.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return err
		}
		if e.Seq != want {
			return fmt.Errorf("%s: seq %d, want %d", url, e.Seq, want)
		}
		want++
		if thinkstream.IsTerminal(e.Type) {
			if e.Type != thinkstream.EventRunCompleted {
				return fmt.Errorf("%s: ended with %s", url, e.Type)
			}
			return nil
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
