package hub

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thinkstream/thinkstream"
)

// slowConn takes every write whole but each write costs perWrite of
// (fake) time, like a round over thousands of sockets.
type slowConn struct {
	perWrite time.Duration
	mu       sync.Mutex
	writes   []slowWrite
}

type slowWrite struct {
	at   time.Time
	seqs []int64
}

func (c *slowConn) TryWrite(b []byte) (int, error) {
	time.Sleep(c.perWrite)
	var w slowWrite
	w.at = time.Now()
	for line := range bytes.Lines(b) {
		seq, _, _ := bytes.Cut(line, []byte(" "))
		n, _ := strconv.ParseInt(string(seq), 10, 64)
		w.seqs = append(w.seqs, n)
	}
	c.mu.Lock()
	c.writes = append(c.writes, w)
	c.mu.Unlock()
	return len(b), nil
}

// TestFanoutPacesLongRounds: when a round over the parked viewers takes
// longer than PaceAfter, the fan-out pauses as long again, so events
// published meanwhile share writes (fewer writes than events) while every
// event still reaches every viewer, in order, within about two rounds.
func TestFanoutPacesLongRounds(t *testing.T) {
	for _, tt := range []struct {
		name      string
		pace      time.Duration
		minWrites int // per viewer, for 21 events
		maxWrites int
	}{
		// Unpaced, a 20ms round already carries the four events of its
		// own duration; paced, the 10ms pause after each round makes
		// rounds rarer still. (Deterministic: synctest's clock.)
		{"paced", 2 * time.Millisecond, 1, 5},
		{"unpaced", -1, 6, 21},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const viewers, perWrite, gap, events = 4, 5 * time.Millisecond, 5 * time.Millisecond, 21
				round := viewers * perWrite // 20ms: four events per round
				h := New(nil, Config{ViewersEvery: time.Hour, Tick: time.Hour, PaceAfter: tt.pace})
				h.Open("p", 0)
				publishOne(t, h, "p", 1, thinkstream.EventRunStarted)
				ctx := context.Background()
				conns := make([]*slowConn, viewers)
				var wg sync.WaitGroup
				for i := range conns {
					s := h.Subscribe("p", 1, Options{})
					defer s.Close()
					conns[i] = &slowConn{perWrite: perWrite}
					wg.Go(func() {
						for {
							if _, err := s.Park(ctx, conns[i]); err != nil {
								t.Error(err)
								return
							}
							if s.ended {
								return
							}
						}
					})
				}
				synctest.Wait()
				published := map[int64]time.Time{}
				for seq := int64(2); seq <= events+1; seq++ {
					typ := thinkstream.EventThinking
					if seq == events+1 {
						typ = thinkstream.EventRunCompleted
					}
					published[seq] = time.Now()
					publishOne(t, h, "p", seq, typ)
					time.Sleep(gap)
				}
				wg.Wait()
				for i, c := range conns {
					next, worst := int64(2), time.Duration(0)
					for _, w := range c.writes {
						for _, seq := range w.seqs {
							if seq != next {
								t.Fatalf("viewer %d: seq %d, want %d", i, seq, next)
							}
							next++
							worst = max(worst, w.at.Sub(published[seq]))
						}
					}
					if next != events+2 {
						t.Errorf("viewer %d got events up to %d, want %d", i, next-1, events+1)
					}
					t.Logf("viewer %d: %d writes, worst wait %v", i, len(c.writes), worst)
					if len(c.writes) < tt.minWrites || len(c.writes) > tt.maxWrites {
						t.Errorf("viewer %d: %d writes for %d events, want %d..%d", i, len(c.writes), events, tt.minWrites, tt.maxWrites)
					}
					// At worst an event just misses a round: the rest of
					// it, the pause (half a round), then its place in the
					// next one.
					if bound := round * 5 / 2; worst > bound {
						t.Errorf("viewer %d: an event waited %v, more than 2.5 rounds (%v)", i, worst, bound)
					}
				}
			})
		})
	}
}
