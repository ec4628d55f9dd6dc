package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

func TestCreateGetListCancel(t *testing.T) {
	srv := newServer(t, 50)
	c := New(srv.URL, srv.Client())
	ctx := context.Background()

	cr, err := c.Create(ctx, CreateRequest{Problem: "sim:long 5000"})
	if err != nil {
		t.Fatal(err)
	}
	if cr.ID == "" || cr.OwnerToken == "" {
		t.Fatalf("created %+v: want an id and an owner token", cr)
	}
	d, err := c.Get(ctx, cr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Run.ID != cr.ID || d.Run.Problem != "sim:long 5000" {
		t.Errorf("get: run %+v", d.Run)
	}
	p, err := c.List(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Runs) != 1 || p.Runs[0].ID != cr.ID {
		t.Errorf("list: %+v, want the one run", p.Runs)
	}

	_, err = c.Cancel(ctx, cr.ID, "not-the-token")
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Type != "/problems/not-owner" {
		t.Fatalf("cancel with a wrong token: %v, want a 403 not-owner *Error", err)
	}
	if _, err := c.Cancel(ctx, cr.ID, cr.OwnerToken); err != nil {
		t.Fatal(err)
	}
	var last thinkstream.Event
	if err := c.Stream(ctx, cr.ID, StreamOptions{Coalesce: true}, func(ev thinkstream.Event) error {
		last = ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last.Type != thinkstream.EventRunCancelled {
		t.Errorf("last event %q, want %q", last.Type, thinkstream.EventRunCancelled)
	}
}

func TestErrors(t *testing.T) {
	srv := newServer(t, 1000)
	c := New(srv.URL, srv.Client())
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want *Error
	}{
		{"empty problem", func() error { _, err := c.Create(ctx, CreateRequest{Problem: "  "}); return err },
			&Error{Status: 422, Type: "/problems/invalid-field", Title: "Invalid field", Detail: "problem: must not be empty",
				Fields: []FieldError{{"problem", "must not be empty"}}}},
		{"unknown run", func() error { _, err := c.Get(ctx, "nope"); return err },
			&Error{Status: 404, Type: "/problems/run-not-found", Title: "Run not found", Detail: "no run has this id"}},
		{"stream of an unknown run", func() error {
			return c.Stream(ctx, "nope", StreamOptions{}, func(thinkstream.Event) error { return nil })
		}, &Error{Status: 404, Type: "/problems/run-not-found", Title: "Run not found", Detail: "no run has this id"}},
		{"bad limit", func() error { _, err := c.List(ctx, 1000, ""); return err },
			&Error{Status: 400, Type: "/problems/invalid-query", Title: "Invalid query", Detail: "limit must be an integer from 1 to 200",
				Fields: []FieldError{{"limit", "must be 1 to 200"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *Error
			if err := tt.call(); !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if diff := cmp.Diff(tt.want, e); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := New("http://"+addr, nil)
	_, err = c.Create(context.Background(), CreateRequest{Problem: "x"})
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("err = %v, want a *net.OpError", err)
	}
	err = c.Stream(context.Background(), "x", StreamOptions{MaxAttempts: 2, MinBackoff: time.Millisecond},
		func(thinkstream.Event) error { return nil })
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("stream err = %v, want ErrGaveUp", err)
	}
}

// collect streams a run and returns the events fn saw.
func collect(t *testing.T, c *Client, id string, opts StreamOptions, each func(ev thinkstream.Event)) []thinkstream.Event {
	t.Helper()
	var got []thinkstream.Event
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Stream(ctx, id, opts, func(ev thinkstream.Event) error {
		got = append(got, ev)
		if each != nil {
			each(ev)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return got
}

// checkExactlyOnce checks that events cover seq 1..last with no gap, no
// repeat and no reordering (a coalesced event covers From..Seq), end with
// the terminal event, and carry the same text as the run's snapshot.
func checkExactlyOnce(t *testing.T, c *Client, id string, got []thinkstream.Event) {
	t.Helper()
	next := int64(1)
	var thinking, answer strings.Builder
	for _, ev := range got {
		from := ev.Seq
		if ev.From != 0 {
			from = ev.From
		}
		if from != next {
			t.Fatalf("event %d (from %d) follows %d: want from %d", ev.Seq, from, next-1, next)
		}
		next = ev.Seq + 1
		switch ev.Type {
		case thinkstream.EventThinking:
			thinking.WriteString(ev.Text)
		case thinkstream.EventAnswer:
			answer.WriteString(ev.Text)
		case thinkstream.EventCode:
			// Code blocks are part of the text of the channel they are in.
			if ev.Channel == "thinking" {
				thinking.WriteString(ev.Text)
			} else {
				answer.WriteString(ev.Text)
			}
		}
	}
	if len(got) == 0 || !thinkstream.IsTerminal(got[len(got)-1].Type) {
		t.Fatalf("stream did not end with the terminal event")
	}
	d, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got[len(got)-1].Seq != d.Run.LastSeq {
		t.Errorf("last seq %d, run's last seq %d", got[len(got)-1].Seq, d.Run.LastSeq)
	}
	if thinking.String() != d.Snapshot.Thinking {
		t.Errorf("thinking differs from the snapshot's (%d vs %d bytes)", thinking.Len(), len(d.Snapshot.Thinking))
	}
	if answer.String() != d.Snapshot.Answer {
		t.Errorf("answer %q, snapshot %q", answer.String(), d.Snapshot.Answer)
	}
}

func TestStreamExactlyOnceAcrossCuts(t *testing.T) {
	for _, coalesce := range []bool{false, true} {
		name := "plain"
		if coalesce {
			name = "coalesce"
		}
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, 2000)
			proxy := newCutProxy(t, srv.Listener.Addr().String())
			// A transport of its own: cut connections must not be
			// reused, and idle ones of one subtest stay out of another.
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c := New(proxy.URL(), &http.Client{Transport: tr})
			cr, err := c.Create(context.Background(), CreateRequest{Problem: "sim:long 600"})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var states []State
			opts := StreamOptions{Coalesce: coalesce, MinBackoff: time.Millisecond, OnState: func(s State, err error) {
				mu.Lock()
				states = append(states, s)
				mu.Unlock()
			}}
			cuts := map[int]bool{40: true, 200: true, 201: true, 450: true}
			n := 0
			got := collect(t, c, cr.ID, opts, func(ev thinkstream.Event) {
				n++
				if cuts[n] {
					proxy.cut()
				}
			})
			checkExactlyOnce(t, c, cr.ID, got)
			if proxy.connections() < 2 {
				t.Errorf("%d connections through the proxy: the cuts did not force a reconnect", proxy.connections())
			}
			mu.Lock()
			defer mu.Unlock()
			if states[0] != StateConnecting || states[1] != StateLive {
				t.Errorf("states start %v, want connecting, live", states[:2])
			}
			resumed := 0
			for _, s := range states {
				if s == StateResumed {
					resumed++
				}
			}
			if resumed == 0 {
				t.Errorf("states %v: no resume", states)
			}
		})
	}
}

func TestStreamAfterAndEnd(t *testing.T) {
	srv := newServer(t, 5000)
	c := New(srv.URL, srv.Client())
	cr, err := c.Create(context.Background(), CreateRequest{Problem: "sim:long 100"})
	if err != nil {
		t.Fatal(err)
	}
	all := collect(t, c, cr.ID, StreamOptions{}, nil)
	checkExactlyOnce(t, c, cr.ID, all)
	last := all[len(all)-1].Seq

	// Resuming in the middle gives exactly the rest.
	rest := collect(t, c, cr.ID, StreamOptions{After: 10}, nil)
	if diff := cmp.Diff(all[10:], rest); diff != "" {
		t.Errorf("after 10 (-want +got):\n%s", diff)
	}
	// After the terminal event there is nothing more (204): fn is not called.
	if got := collect(t, c, cr.ID, StreamOptions{After: last}, nil); len(got) != 0 {
		t.Errorf("after the terminal event got %d events", len(got))
	}
}

func TestStreamFnErrorAndCancel(t *testing.T) {
	srv := newServer(t, 100)
	c := New(srv.URL, srv.Client())
	cr, err := c.Create(context.Background(), CreateRequest{Problem: "sim:long 100000"})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	err = c.Stream(context.Background(), cr.ID, StreamOptions{}, func(ev thinkstream.Event) error {
		if ev.Seq == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want fn's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = c.Stream(ctx, cr.ID, StreamOptions{}, func(ev thinkstream.Event) error {
		if ev.Seq == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		retry    time.Duration
		n        int
		min, max time.Duration
	}{
		{0, 1, 100 * time.Millisecond, 150 * time.Millisecond},
		{0, 3, 400 * time.Millisecond, 600 * time.Millisecond},
		{0, 20, time.Second, 1500 * time.Millisecond},
		{300 * time.Millisecond, 1, 300 * time.Millisecond, 450 * time.Millisecond},
		{2 * time.Second, 1, 2 * time.Second, 3 * time.Second}, // the server's hint beats MaxBackoff
	}
	for _, tt := range tests {
		s := &streamer{retry: tt.retry, opts: StreamOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
		for range 50 {
			if d := s.backoff(tt.n); d < tt.min || d > tt.max {
				t.Errorf("retry %v attempt %d: backoff %v, want %v..%v", tt.retry, tt.n, d, tt.min, tt.max)
			}
		}
	}
}
