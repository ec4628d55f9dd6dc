package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/thinkstream/thinkstream"
)

// BenchmarkFollowedRun is the price of serving a run from another node:
// one op is one event logged, published by the run's node and delivered
// to every one of `viewers` subscribers, either on that node (local) or
// on a second node that follows the run from the log (followed). The
// difference is what the follower's JetStream consumer adds per event.
func BenchmarkFollowedRun(b *testing.B) {
	for _, mode := range []string{"local", "followed"} {
		for _, viewers := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/viewers=%d", mode, viewers), func(b *testing.B) {
				benchFollow(b, mode == "followed", viewers)
			})
		}
	}
}

func benchFollow(b *testing.B, followed bool, viewers int) {
	ctx := context.Background()
	l := newLog(b)
	src := New(l, Config{})
	dst := src
	if followed {
		dst = New(l, Config{Follower: l})
	}
	id := "bench"
	if err := l.PutRun(ctx, thinkstream.Run{ID: id, State: thinkstream.StateRunning}); err != nil {
		b.Fatal(err)
	}
	src.Open(id, 0)
	publish := func(seq int64) {
		data, _ := json.Marshal(thinkstream.Event{Seq: seq, Type: thinkstream.EventThinking, Text: "token", Step: 1})
		rec := thinkstream.Record{Seq: seq, Type: thinkstream.EventThinking, Data: data}
		if err := l.Append(ctx, id, []thinkstream.Record{rec}); err != nil {
			b.Fatal(err)
		}
		if err := src.Publish(id, []Frame{{Seq: seq, Type: rec.Type, Data: data}}); err != nil {
			b.Fatal(err)
		}
	}
	publish(1)
	var reached atomic.Int64 // viewers that have the latest event
	var target atomic.Int64
	target.Store(1)
	step := make(chan struct{}, 1)
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range viewers {
		s := dst.Subscribe(id, 0, Options{})
		wg.Go(func() {
			defer s.Close()
			for {
				frames, _, err := s.Next(cctx)
				if err != nil {
					return
				}
				if len(frames) > 0 && frames[len(frames)-1].Seq == target.Load() {
					if reached.Add(1) == int64(viewers) {
						step <- struct{}{}
					}
				}
			}
		})
	}
	<-step
	b.ResetTimer()
	for i := range b.N {
		seq := int64(i) + 2
		reached.Store(0)
		target.Store(seq)
		publish(seq)
		<-step
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}
