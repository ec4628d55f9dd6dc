package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/engine/sim"
	"github.com/thinkstream/thinkstream/server"
	"github.com/thinkstream/thinkstream/server/servertest"
)

// eventTypes returns the event names of a transcript's frames.
func eventTypes(tr []string) []string {
	var out []string
	for _, f := range tr {
		_, rest, _ := strings.Cut(f, "\nevent: ")
		typ, _, _ := strings.Cut(rest, "\n")
		out = append(out, typ)
	}
	return out
}

func runState(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := http.Get(base + "/v1/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Run struct {
			State string `json:"state"`
		} `json:"run"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got.Run.State
}

// TestCancelInWorkQueue: a run that waits in the work queue, taken by no
// worker yet, is cancelled from the gateway with its owner token (202, not
// 409): it ends with run.cancelled and the worker that later takes its job
// leaves it as it is. A cancel racing a worker that is taking the run ends
// it cancelled either way, with exactly one terminal event.
func TestCancelInWorkQueue(t *testing.T) {
	const lease = 2 * time.Second
	url := startNATS(t)
	g := gateway(t, url, lease)
	c := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	if c.Run.State != "queued" {
		t.Fatalf("run on a gateway without workers is %s, want queued", c.Run.State)
	}
	base := g.URL + "/v1/runs/" + c.ID
	if code, body := post(t, base+"/cancel", "wrong", nil); code != http.StatusForbidden {
		t.Errorf("cancel with a wrong token: %d %s, want 403", code, body)
	}
	if code, body := post(t, base+"/cancel", c.OwnerToken, nil); code != http.StatusAccepted {
		t.Fatalf("cancel of the queued run: %d %s, want 202", code, body)
	}
	if got := strings.Join(eventTypes(transcript(t, base+"/events", "", 0)), " "); got != "run.created run.cancelled" {
		t.Errorf("cancelled queued run's events: %s", got)
	}
	if s := runState(t, g.URL, c.ID); s != "cancelled" {
		t.Errorf("state %s, want cancelled", s)
	}
	if code, body := post(t, base+"/cancel", c.OwnerToken, nil); code != http.StatusConflict {
		t.Errorf("second cancel: %d %s, want 409", code, body)
	}

	// A worker now takes the cancelled run's job first (one slot, queue
	// order), then generates the next run.
	startWorker(t, url, 2000, lease)
	next := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	if tr := transcript(t, g.URL+"/v1/runs/"+next.ID+"/events", "", 0); !strings.Contains(tr[len(tr)-1], "run.completed") {
		t.Fatalf("next run ends %q", tr[len(tr)-1:])
	}
	if got := strings.Join(eventTypes(transcript(t, base+"/events", "", 0)), " "); got != "run.created run.cancelled" {
		t.Errorf("after a worker took its job, the cancelled run's events are: %s", got)
	}

	// Races between the cancel and the worker taking the run: whoever
	// wins, the run ends cancelled once.
	for i := range 6 {
		r := createRun(t, g.URL, fmt.Sprint("race ", i))
		if code, body := post(t, g.URL+"/v1/runs/"+r.ID+"/cancel", r.OwnerToken, nil); code != http.StatusAccepted {
			t.Fatalf("race %d: cancel %d %s", i, code, body)
		}
		types := eventTypes(transcript(t, g.URL+"/v1/runs/"+r.ID+"/events", "", 0))
		terminal := 0
		for _, typ := range types {
			if typ == "run.cancelled" || typ == "run.completed" || typ == "run.failed" || typ == "run.interrupted" {
				terminal++
			}
		}
		if terminal != 1 || types[len(types)-1] != "run.cancelled" {
			t.Errorf("race %d: events %v, want one terminal event, run.cancelled", i, types)
		}
	}
}

// TestServerLeavesWorkQueueRuns: a server that starts on the cluster's
// NATS (role all) while a run waits in the work queue does not take it
// for one that a crash cut short: the run stays queued and a worker
// generates it, from run.started on.
func TestServerLeavesWorkQueueRuns(t *testing.T) {
	const lease = 2 * time.Second
	url := startNATS(t)
	g := gateway(t, url, lease)
	c := createRun(t, g.URL, "How many ways to choose 3 of 5?")
	late := servertest.New(t, server.Config{Engine: sim.New(sim.Config{}), NATSURL: url, NoUI: true})
	if late.Recovered != 0 {
		t.Errorf("a server starting beside the work queue recovered %d runs", late.Recovered)
	}
	if s := runState(t, late.URL, c.ID); s != "queued" {
		t.Fatalf("the queued run is %s after another server started, want queued", s)
	}
	startWorker(t, url, 2000, lease)
	types := eventTypes(transcript(t, g.URL+"/v1/runs/"+c.ID+"/events", "", 0))
	if len(types) < 3 || types[1] != "run.started" || types[len(types)-1] != "run.completed" {
		t.Errorf("events %v, want run.created, run.started … run.completed", types)
	}
}
