package httpapi_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/sse"
)

// followOnce reads one stream from its start to its terminal event on a
// single connection: a stream that ends before it (the server cut it) is an
// error, not a reason to reconnect.
func followOnce(ctx context.Context, client *http.Client, url string) (proto string, n int, err error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.Proto, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	r := sse.NewReader(resp.Body)
	next := int64(1)
	for {
		ev, err := r.Next()
		if err != nil {
			return resp.Proto, n, fmt.Errorf("stream cut after seq %d: %w", next-1, err)
		}
		if !ev.HasID {
			continue
		}
		var e thinkstream.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return resp.Proto, n, err
		}
		if e.Seq != next {
			return resp.Proto, n, fmt.Errorf("seq %d, want %d", e.Seq, next)
		}
		next++
		n++
		if thinkstream.IsTerminal(e.Type) {
			if e.Type != thinkstream.EventRunCompleted {
				return resp.Proto, n, fmt.Errorf("run ended with %s", e.Type)
			}
			return resp.Proto, n, nil
		}
	}
}

// TestStreamOutlivesWriteTimeout: the write timeout bounds one write, not
// the stream. A run lasting about five write timeouts reaches viewers on
// HTTP/1.1 (taken-over connections, fed by the direct fan-out), h2c and
// HTTP/2 over TLS whole, each on one connection.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	const timeout = time.Second
	eng := sim.New(sim.Config{Rate: 400, TTFT: -1, Jitter: -1})
	s := newStack(t, eng, Config{WriteTimeout: timeout, Heartbeat: 300 * time.Millisecond}, func(srv *httptest.Server) {
		// h2c (prior knowledge) beside HTTP/1.1 on the same server.
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	})

	tlsSrv := httptest.NewUnstartedServer(s.api)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(func() { tlsSrv.CloseClientConnections(); tlsSrv.Close() })

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h1 := &http.Transport{}
	h2tls := tlsSrv.Client().Transport.(*http.Transport).Clone()
	h2tls.TLSClientConfig = &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	h2tls.ForceAttemptHTTP2 = true
	t.Cleanup(func() { h1.CloseIdleConnections(); h2c.CloseIdleConnections(); h2tls.CloseIdleConnections() })

	c := s.create(t, "sim:long 2200") // about 5.5 s
	viewers := []struct {
		name, base, proto string
		client            *http.Client
	}{
		{"http1", s.srv.URL, "HTTP/1.1", &http.Client{Transport: h1}},
		{"h2c", s.srv.URL, "HTTP/2.0", &http.Client{Transport: h2c}},
		{"h2-tls", tlsSrv.URL, "HTTP/2.0", &http.Client{Transport: h2tls}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	type result struct {
		name, proto string
		n           int
		err         error
	}
	results := make(chan result, len(viewers)*2)
	for _, v := range viewers {
		for range 2 {
			go func() {
				proto, n, err := followOnce(ctx, v.client, v.base+"/v1/runs/"+c.ID+"/events")
				if err == nil && proto != v.proto {
					err = fmt.Errorf("served over %s, want %s", proto, v.proto)
				}
				results <- result{v.name, proto, n, err}
			}()
		}
	}
	for range cap(results) {
		r := <-results
		if r.err != nil {
			t.Errorf("%s viewer after %v (%d events): %v", r.name, time.Since(start).Round(time.Millisecond), r.n, r.err)
		}
	}
	if d := time.Since(start); d < 4*timeout {
		t.Fatalf("the run lasted %v, not several write timeouts: the test proves nothing", d)
	}
}
