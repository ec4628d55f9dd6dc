// Package servertest runs the whole assembled server (server.New) behind a
// real loopback HTTP server for tests, as `thinkstream serve` runs it.
package servertest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	// HTTP is the loopback server; URL is its base URL.
	HTTP *httptest.Server
	URL  string
}

// New assembles a server from cfg (DataDir defaults to a temporary
// directory) and serves it on 127.0.0.1 until the test ends. setup, if
// given, adjusts the HTTP server before it starts (protocols, TLS).
func New(t testing.TB, cfg server.Config, setup ...func(*httptest.Server)) *Server {
	t.Helper()
	if cfg.DataDir == "" && cfg.NATSURL == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Listener = s.Listen(hs.Listener)
	hs.Config = s.HTTPServer()
	for _, f := range setup {
		f(hs)
	}
	hs.Start()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Runs.Shutdown(sctx)
		s.Close()
	})
	return &Server{Server: s, HTTP: hs, URL: hs.URL}
}
