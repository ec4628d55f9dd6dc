package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/sse"
)

// TestAllEventsGone: a run whose events are all gone answers 410, where
// EventSource stops, not a stream it would reconnect to forever.
func TestAllEventsGone(t *testing.T) {
	s := newStack(t, sim.New(sim.Config{}), Config{})
	run := thinkstream.Run{ID: "gone", State: thinkstream.StateCompleted, CreatedAt: time.Now(), LastSeq: 5}
	if err := s.log.PutRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	resp := get(t, s.srv.URL+"/v1/runs/gone/events", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("status %d %s, want 410 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestIncompleteStreamEndsWithRunError: a stream that cannot be completed
// (the log ends before the run's terminal event) ends with a run.error
// frame, never with a clean end a client would take for the run's end.
// retryable says whether reconnecting can help: not when the run is over
// and its remaining events are gone, yes while the run is not over.
func TestIncompleteStreamEndsWithRunError(t *testing.T) {
	tests := []struct {
		name      string
		state     thinkstream.RunState
		retryable bool
	}{
		{"over, events gone", thinkstream.StateCompleted, false},
		{"not over", thinkstream.StateRunning, true},
	}
	s := newStack(t, sim.New(sim.Config{}), Config{})
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A run only the log knows (as after a restart), whose log
			// lacks the last events: three logged of five.
			id := fmt.Sprintf("incomplete%d", i)
			run := thinkstream.Run{ID: id, State: tc.state, CreatedAt: time.Now(), LastSeq: 5}
			if err := s.log.PutRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			var recs []thinkstream.Record
			for seq := int64(1); seq <= 3; seq++ {
				data, _ := json.Marshal(thinkstream.Event{Seq: seq, Type: thinkstream.EventThinking, Text: "x"})
				recs = append(recs, thinkstream.Record{Seq: seq, Type: thinkstream.EventThinking, Data: data})
			}
			if err := s.log.Append(ctx, id, recs); err != nil {
				t.Fatal(err)
			}
			resp := get(t, s.srv.URL+"/v1/runs/"+id+"/events", nil)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			r := sse.NewReader(resp.Body)
			var types []string
			var last thinkstream.Event
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				if ev.Type == thinkstream.EventViewers {
					continue // the count can come at any point of a live topic
				}
				types = append(types, ev.Type)
				if ev.Type == thinkstream.EventRunError {
					if ev.HasID {
						t.Errorf("run.error frame has id %s: it is the connection's, not a logged event", ev.ID)
					}
					if err := json.Unmarshal([]byte(ev.Data), &last); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := []string{thinkstream.EventStreamOpen, "thinking", "thinking", "thinking", thinkstream.EventRunError}
			if len(types) < len(want) {
				t.Fatalf("frames %v, want %v", types, want)
			}
			if diff := cmp.Diff(want, types[len(types)-len(want):]); diff != "" || len(types) > len(want)+1 {
				t.Errorf("frames %v (-want +got):\n%s", types, diff)
			}
			if last.Error == nil || last.Error.Retryable != tc.retryable {
				t.Errorf("run.error %+v, want retryable %v", last.Error, tc.retryable)
			}
			// A reconnect from the last event still has nothing to give.
			resp2 := get(t, s.srv.URL+"/v1/runs/"+id+"/events", http.Header{"Last-Event-Id": {"3"}})
			resp2.Body.Close()
			if resp2.StatusCode != http.StatusOK {
				t.Errorf("reconnect: status %d", resp2.StatusCode)
			}
		})
	}
}
