package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/sse"
)

// TestHTTP2OverTLS serves with --tls-cert/--tls-key and follows several
// runs at once over one HTTP/2 connection, as a browser with many tabs does.
func TestHTTP2OverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process")
	}
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := start(t, dir, "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--sim-rate", "2000", "--sim-ttft", "-1ms")
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("listening on %s", s.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	var ids []string
	for range 8 { // more than a browser's six HTTP/1.1 connections per host
		body := strings.NewReader(`{"problem":"sum of the first 100 integers"}`)
		resp, err := client.Post(s.url+"/v1/runs", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		var run thinkstream.Run
		if err := json.NewDecoder(resp.Body).Decode(&run); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ids = append(ids, run.ID)
	}
	type result struct {
		proto string
		last  string
		err   error
	}
	results := make(chan result, len(ids))
	for _, id := range ids {
		go func() {
			resp, err := client.Get(s.url + "/v1/runs/" + id + "/events")
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			r := sse.NewReader(resp.Body)
			var last string
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				last = ev.Type
			}
			results <- result{proto: resp.Proto + " " + resp.Header.Get("Connection"), last: last}
		}()
	}
	for range ids {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.proto != "HTTP/2.0 " || r.last != thinkstream.EventRunCompleted {
				t.Errorf("stream over %q ended with %q", r.proto, r.last)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("streams did not finish")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestLongStreamHTTP2OverTLS: over HTTP/2 the write deadline is a timer
// that resets the stream when it fires, writing or not; a run that lasts
// several write timeouts must still reach every viewer whole.
func TestLongStreamHTTP2OverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process")
	}
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := start(t, dir, "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--sim-rate", "400", "--sim-ttft", "-1ms",
		"--write-timeout", "1s", "--heartbeat", "300ms")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resp, err := client.Post(s.url+"/v1/runs", "application/json", strings.NewReader(`{"problem":"sim:long 2200"}`))
	if err != nil {
		t.Fatal(err)
	}
	var run thinkstream.Run
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("create over %s: %v", resp.Proto, err)
	}
	begin := time.Now()
	errs := make(chan error, 3)
	for range cap(errs) {
		go func() { errs <- followWhole(client, s.url+"/v1/runs/"+run.ID+"/events") }()
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
