package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

// frame is an SSE frame as the server writes it.
func frame(seq int64, typ string) string {
	return fmt.Sprintf("id: %d\nevent: %s\ndata: {\"seq\":%d,\"t\":0,\"type\":%q}\n\n", seq, typ, seq, typ)
}

const streamOpen = "retry: 10\n\nevent: stream.open\ndata: {\"type\":\"stream.open\"}\n\n"

// connection scripts one connection of a fake server: what the client
// must send as Last-Event-ID, and what to answer.
type connection struct {
	wantLastID string
	status     int    // 0: 200 and body
	body       string // written and flushed
	stall      bool   // then hang until the client goes
}

// TestStreamEdges covers what a real server rarely does on cue: a stalled
// connection, a temporary error answer, a retryable run.error frame without
// id (the server could not complete the stream), a server
// that repeats events after a resume.
func TestStreamEdges(t *testing.T) {
	tests := []struct {
		name  string
		conns []connection
		want  []int64
	}{
		{"stalled connection", []connection{
			{body: streamOpen + frame(1, "run.created") + frame(2, "thinking"), stall: true},
			{wantLastID: "2", body: streamOpen + frame(3, "run.completed")},
		}, []int64{1, 2, 3}},
		{"503 then open", []connection{
			{status: http.StatusServiceUnavailable},
			{body: streamOpen + frame(1, "run.created") + frame(2, "run.failed")},
		}, []int64{1, 2}},
		{"run.error frame", []connection{
			{body: streamOpen + frame(1, "run.created") + "event: run.error\ndata: {\"type\":\"run.error\",\"error\":{\"code\":\"stream_failed\",\"message\":\"x\",\"retryable\":true}}\n\n", stall: true},
			{wantLastID: "1", body: streamOpen + frame(2, "run.cancelled")},
		}, []int64{1, 2}},
		{"server repeats events", []connection{
			{body: streamOpen + frame(1, "run.created") + frame(2, "thinking")},
			{wantLastID: "2", body: streamOpen + frame(1, "run.created") + frame(2, "thinking") + frame(3, "thinking") + frame(4, "run.completed")},
		}, []int64{1, 2, 3, 4}},
		{"204 after the end", []connection{
			{body: streamOpen + frame(1, "run.created")},
			{wantLastID: "1", status: http.StatusNoContent},
		}, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				if i >= len(tt.conns) {
					t.Errorf("connection %d: the script has %d", i+1, len(tt.conns))
					w.WriteHeader(http.StatusGone)
					return
				}
				c := tt.conns[i]
				if got := r.Header.Get("Last-Event-ID"); got != c.wantLastID {
					t.Errorf("connection %d: Last-Event-ID %q, want %q", i+1, got, c.wantLastID)
				}
				if c.status != 0 {
					w.Header().Set("Content-Type", "application/problem+json")
					w.WriteHeader(c.status)
					fmt.Fprint(w, `{"type":"/problems/x","title":"X","status":`+fmt.Sprint(c.status)+`}`)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, c.body)
				w.(http.Flusher).Flush()
				if c.stall {
					<-r.Context().Done()
				}
			}))
			defer srv.Close()
			var got []int64
			opts := StreamOptions{MinBackoff: time.Millisecond, IdleTimeout: 100 * time.Millisecond, MaxAttempts: 3}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := New(srv.URL, srv.Client()).Stream(ctx, "r1", opts, func(ev thinkstream.Event) error {
				got = append(got, ev.Seq)
				return nil
			})
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("seqs (-want +got):\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if n != len(tt.conns) {
				t.Errorf("%d connections, want %d", n, len(tt.conns))
			}
		})
	}
}
