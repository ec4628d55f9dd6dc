package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream"
)

// TestConcurrentAnnotationsOnFinishedRun: 50 annotations posted at once on
// a finished run are all stored, each at its own seq, and a replay at the
// original pace still ends (their t counts from the run's creation).
func TestConcurrentAnnotationsOnFinishedRun(t *testing.T) {
	s := newStack(t, &scripted{tokens: []string{"<think>a", "</think>b"}}, Config{})
	c := s.create(t, "p")
	run := s.waitEnded(t, c.ID)

	const n = 50
	var wg sync.WaitGroup
	seqs := make(chan int64, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"step":1,"note":"n%d"}`, i)
			resp, err := http.Post(s.srv.URL+"/v1/runs/"+c.ID+"/annotations", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var ev thinkstream.Event
			if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("status %d, decode %v", resp.StatusCode, err)
				return
			}
			seqs <- ev.Seq
		})
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for seq := range seqs {
		if seq <= run.LastSeq || seq > run.LastSeq+n || seen[seq] {
			t.Fatalf("annotation answered seq %d (run ended at %d)", seq, run.LastSeq)
		}
		seen[seq] = true
	}
	snap, err := s.mgr.Snapshot(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Annotations) != n || snap.LastSeq != run.LastSeq+n {
		t.Fatalf("snapshot: %d annotations, last seq %d; want %d, %d", len(snap.Annotations), snap.LastSeq, n, run.LastSeq+n)
	}

	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(s.srv.URL + "/v1/runs/" + c.ID + "/events?pace=original")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("paced replay did not end: %v", err)
	}
	// The stream ends with the terminal event; later annotations reach
	// viewers through the snapshot.
	if !strings.Contains(string(body), "event: run.completed\n") {
		t.Errorf("paced replay lacks the terminal event:\n%s", body)
	}
}
