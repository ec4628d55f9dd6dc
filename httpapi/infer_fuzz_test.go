package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/hub"
	"github.com/thinkstream/thinkstream/sse"
)

// fuzzEvents turns bytes into a run's event sequence: each byte picks an
// event kind, so the fuzzer explores orders the parser rarely makes
// (stats inside a step, code after the answer, errors anywhere).
func fuzzEvents(b []byte) []thinkstream.Event {
	evs := []thinkstream.Event{{Type: thinkstream.EventRunCreated}, {Type: thinkstream.EventRunStarted}}
	step := 0
	for i, c := range b {
		text := "t" + strconv.Itoa(i)
		if c&0x10 != 0 {
			text += "\n"
		}
		switch c % 9 {
		case 0:
			step++
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventStep, Index: step})
		case 1, 2:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventThinking, Text: text, Step: step})
		case 3:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventCode, Text: text, Channel: "thinking", Step: step})
		case 4:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventAnswer, Text: text})
		case 5:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventStats, Stats: &thinkstream.Stats{Tokens: i}})
		case 6:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventResult, Answer: text})
		case 7:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventRunError, Error: &thinkstream.RunError{Message: text}})
		case 8:
			evs = append(evs, thinkstream.Event{Type: thinkstream.EventRunQueued, Position: i})
		}
	}
	end := []string{thinkstream.EventRunCompleted, thinkstream.EventRunCancelled, thinkstream.EventRunFailed}
	evs = append(evs, thinkstream.Event{Type: end[len(b)%3]})
	for i := range evs {
		evs[i].Seq = int64(i + 1)
	}
	return evs
}

// fuzzMsg is one compat message as the article's onmessage sees it, with
// the SSE id EventSource would resume from.
type fuzzMsg struct {
	Event string `json:"event"`
	Data  string `json:"data"`
	ID    int64  `json:"id"`
	SSEID string `json:"-"`
}

// encodeFrom runs a fresh connection's encoder over the events after seq.
func encodeFrom(t *testing.T, evs []thinkstream.Event, after int64, tokens bool) ([]fuzzMsg, string) {
	c := newCompat("run", after, tokens)
	var out []byte
	for _, ev := range evs[after:] {
		data, _ := json.Marshal(ev)
		n := len(out)
		out = c.encode(out, hub.Frame{Seq: ev.Seq, Data: data})
		if len(out) == n {
			t.Fatalf("seq %d: empty write (it would end a chunked response)", ev.Seq)
		}
	}
	r := sse.NewReader(bytes.NewReader(out))
	var msgs []fuzzMsg
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return msgs, r.LastEventID()
		}
		if err != nil {
			t.Fatal(err)
		}
		var m fuzzMsg
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatal(err)
		}
		m.SSEID = ev.ID
		msgs = append(msgs, m)
	}
}

// FuzzCompatResume: whatever the events, resuming after any message's id
// gives exactly the messages after it, and the stream's last id is the
// terminal event's (so EventSource's final reconnect gets 204).
func FuzzCompatResume(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0x11, 0, 3, 5, 1, 4, 4, 6})
	f.Add([]byte{0, 0x11, 5, 0x12, 4, 7})
	f.Add([]byte{8, 0, 1, 4, 0x14, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 200 {
			return
		}
		evs := fuzzEvents(b)
		for _, tokens := range []bool{false, true} {
			full, last := encodeFrom(t, evs, 0, tokens)
			if want := "run:" + strconv.Itoa(len(evs)); last != want {
				t.Fatalf("tokens=%v: last id %q, want %q", tokens, last, want)
			}
			for i, m := range full {
				_, seq, _ := strings.Cut(m.SSEID, ":")
				n, _ := strconv.ParseInt(seq, 10, 64)
				if n != m.ID {
					t.Fatalf("message %+v: SSE id %q", m, m.SSEID)
				}
				rest, _ := encodeFrom(t, evs, n, tokens)
				if diff := cmp.Diff(full[i+1:], rest, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("tokens=%v, resumed after %d: (-want +got):\n%s", tokens, n, diff)
				}
			}
		}
	})
}
