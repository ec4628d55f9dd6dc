package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deployNginx runs deploy/nginx.conf itself — names, ports and certificate
// paths replaced, nothing else — in front of upstream, and returns its
// HTTPS base URL and a client that trusts its certificate.
func deployNginx(t *testing.T, nginx, upstream string, h2 bool) (string, *http.Client) {
	t.Helper()
	b, err := os.ReadFile("../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	httpsPort, httpPort := freePort(t), freePort(t)
	site := string(b)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;", "server " + strings.TrimPrefix(upstream, "http://") + ";"},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort)},
		{"listen 443 ssl", fmt.Sprintf("listen 127.0.0.1:%d ssl", httpsPort)},
		{"/etc/letsencrypt/live/thinkstream.example.org/fullchain.pem", cert},
		{"/etc/letsencrypt/live/thinkstream.example.org/privkey.pem", key},
	} {
		if !strings.Contains(site, r[0]) {
			t.Fatalf("deploy/nginx.conf no longer has %q: update the test with it", r[0])
		}
		site = strings.ReplaceAll(site, r[0], r[1])
	}
	sitePath := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr}
	base := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	runNginx(t, nginx, dir, "include "+sitePath+";", client, base)
	return base, client
}

// The documented nginx recipe carries streams that last several write
// timeouts whole, over HTTP/2 and HTTP/1.1, and passes the host through so
// that the page's own POSTs are not taken for cross-site ones.
func TestDeployNginxConf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and a server process")
	}
	nginx := findNginx(t)
	s := start(t, t.TempDir(), "127.0.0.1:0", "--sim-rate", "400", "--sim-ttft", "-1ms",
		"--write-timeout", "1s", "--heartbeat", "300ms")
	for _, h2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			base, client := deployNginx(t, nginx, s.url, h2)
			req, _ := http.NewRequest("POST", base+"/v1/runs", strings.NewReader(`{"problem":"sim:long 2200"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var id string
			if resp.StatusCode == 201 {
				var body struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&body)
				id = body.ID
			}
			resp.Body.Close()
			if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
				t.Errorf("through nginx over %s, want HTTP/%d", resp.Proto, want)
			}
			if id == "" {
				t.Fatalf("the page's own POST through nginx = %d, want 201 (is Host passed through?)", resp.StatusCode)
			}
			begin := time.Now()
			if err := followWhole(client, base+"/v1/runs/"+id+"/events"); err != nil {
				t.Fatalf("after %v: %v", time.Since(begin).Round(time.Millisecond), err)
			}
			if d := time.Since(begin); d < 4*time.Second {
				t.Fatalf("the run lasted %v, not several write timeouts: the test proves nothing", d)
			}
		})
	}
}
