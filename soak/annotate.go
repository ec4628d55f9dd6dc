package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const annotations = 50

// runAnnotate posts 50 annotations at once to a finished run and to a live
// one. All must be stored with distinct seqs, the finished run's dense
// after its terminal event, the live run's seen by its viewers exactly
// once; and a replay at the original pace must end.
func runAnnotate(ctx context.Context, e *env, r *Result) {
	args := append(baseArgs(filepath.Join(e.dir, "data"), "127.0.0.1:0"),
		"--sim-rate", "100", "--sim-ttft", "-1s")
	srv := e.serve(ctx, r, "server", args...)
	if srv == nil {
		return
	}
	defer srv.close()
	hc, closeIdle := e.client()
	defer closeIdle()
	a := api{hc: hc, base: srv.url}
	base := func() string { return srv.url }

	fin, err := a.create(ctx, 100)
	if err != nil {
		r.fail("create a run: %v", err)
		return
	}
	finDetail, err := a.waitEnded(ctx, fin.ID)
	if err != nil {
		r.fail("finished run: %v", err)
		return
	}
	lastBefore := finDetail.Run.LastSeq

	live, err := a.create(ctx, 1000) // 10 s at 100 tokens/s
	if err != nil {
		r.fail("create a run: %v", err)
		return
	}
	var mu sync.Mutex
	liveSeen := make([]map[string]int64, 5) // note → seq, per viewer
	var viewers []*follower
	for i := range liveSeen {
		liveSeen[i] = map[string]int64{}
		seen := liveSeen[i]
		viewers = append(viewers, &follower{hc: hc, base: base, runID: live.ID,
			onEvent: func(seq int64, typ string, data []byte) {
				if typ != "annotation" {
					return
				}
				var ev annotated
				if json.Unmarshal(data, &ev) == nil {
					mu.Lock()
					if _, dup := seen[ev.Annotation.Note]; dup {
						seen[ev.Annotation.Note] = -1
					} else {
						seen[ev.Annotation.Note] = seq
					}
					mu.Unlock()
				}
			}})
	}
	wait := startAll(ctx, viewers, 10)
	for {
		d, err := a.get(ctx, live.ID)
		if err != nil {
			r.fail("live run: %v", err)
			wait()
			return
		}
		if d.Run.LastSeq >= 50 && d.Run.State == "running" {
			break
		}
		if d.Run.State != "running" && d.Run.State != "queued" {
			r.fail("live run ended (%s) before the annotations", d.Run.State)
			wait()
			return
		}
		select {
		case <-ctx.Done():
			wait()
			return
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Both bursts at once, 100 requests in flight.
	var finRes, liveRes []postResult
	var wg sync.WaitGroup
	wg.Go(func() { finRes = postAnnotations(ctx, a, fin.ID, "finished") })
	wg.Go(func() { liveRes = postAnnotations(ctx, a, live.ID, "live") })
	wg.Wait()
	postedAt := time.Now()

	// Finished run.
	seqs := checkPosts(r, "finished run", finRes, fin.CreatedAt, postedAt)
	want := make([]int64, 0, annotations)
	for i := range int64(annotations) {
		want = append(want, lastBefore+1+i)
	}
	if len(seqs) == annotations && !slices.Equal(seqs, want) {
		r.fail("finished run: POST answered seqs %s, want %d..%d (dense after the terminal event at %d)", spans(seqs), want[0], want[len(want)-1], lastBefore)
	}
	checkStored(ctx, r, a, "finished run", fin.ID, "finished", fin.CreatedAt, want)
	// Its replay, plain and at the original pace, ends at the terminal.
	for _, q := range []string{"", "pace=original&speed=8"} {
		v := &follower{hc: hc, base: base, runID: fin.ID, query: q}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		v.run(rctx)
		cancel()
		if !v.exact() || v.lastSeq != lastBefore || !v.closedClean {
			r.fail("finished run: replay %q: %s (terminal at %d, stream closed after it: %v)", q, describe(v), lastBefore, v.closedClean)
		}
	}

	// Live run.
	liveSeqs := checkPosts(r, "live run", liveRes, live.CreatedAt, postedAt)
	wait()
	t := tallyOf(viewers)
	t.exactness(r, "viewers of the live run")
	okViewers := 0
	for i, seen := range liveSeen {
		got := 0
		for _, p := range liveRes {
			if p.err == nil && seen[p.note] == p.ev.Seq {
				got++
			}
		}
		if got == len(liveSeqs) && len(seen) == len(liveSeqs) {
			okViewers++
		} else if okViewers == i {
			r.fail("live run: viewer %d saw %d distinct annotations, %d of them once at the seq the POST answered with", i, len(seen), got)
		}
	}
	r.fig("live viewers that saw every annotation once", okViewers, "")
	checkStored(ctx, r, a, "live run", live.ID, "live", live.CreatedAt, nil)
	v := &follower{hc: hc, base: base, runID: live.ID, query: "pace=original&speed=16"}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v.run(rctx)
	cancel()
	if !v.exact() || !v.closedClean {
		r.fail("live run: replay at the original pace: %s (stream closed after the terminal: %v)", describe(v), v.closedClean)
	}
}

type postResult struct {
	note string
	ev   annotated
	err  error
	took time.Duration
}

func postAnnotations(ctx context.Context, a api, id, tag string) []postResult {
	out := make([]postResult, annotations)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		out[i].note = fmt.Sprintf("soak %s %d", tag, i)
		wg.Go(func() {
			<-start
			t0 := time.Now()
			out[i].ev, out[i].err = a.annotate(ctx, id, annotation{Step: 1 + i%5, Note: out[i].note, By: "soak"})
			out[i].took = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// checkPosts checks the answers to one burst and returns the stored seqs,
// sorted.
func checkPosts(r *Result, what string, res []postResult, created, postedAt time.Time) []int64 {
	var seqs []int64
	var lat hist
	var firstErr error
	failed := 0
	maxT := postedAt.Sub(created).Milliseconds() + 1000
	badT := 0
	for _, p := range res {
		lat.add(p.took)
		if p.err != nil {
			failed++
			if firstErr == nil {
				firstErr = p.err
			}
			continue
		}
		seqs = append(seqs, p.ev.Seq)
		if p.ev.T < 0 || p.ev.T > maxT {
			badT++
		}
	}
	slices.Sort(seqs)
	distinct := len(slices.Compact(slices.Clone(seqs)))
	r.fig(what+": answered 201", len(seqs), "")
	r.fig(what+": distinct seqs", distinct, "")
	r.fig(what+": POST p50 / max", fmt.Sprintf("%v / %v", lat.quantile(0.5).Round(time.Microsecond), lat.max.Round(time.Microsecond)), "")
	if failed > 0 {
		r.fail("%s: %d of %d annotations failed: %v", what, failed, len(res), firstErr)
	}
	if distinct != len(seqs) {
		r.fail("%s: %d annotations answered with only %d distinct seqs (%s)", what, len(seqs), distinct, spans(seqs))
	}
	if badT > 0 {
		r.fail("%s: %d annotations have a t outside the run's lifetime (0..%d ms)", what, badT, maxT)
	}
	return seqs
}

// checkStored reads the run back: its snapshot must hold every note, each
// as one logged annotation event with a distinct seq and a t within the
// run's lifetime; dense, when want is set, its seqs must be exactly want.
func checkStored(ctx context.Context, r *Result, a api, what, id, tag string, created time.Time, want []int64) {
	d, err := a.get(ctx, id)
	if err != nil {
		r.fail("%s: %v", what, err)
		return
	}
	notes := map[string]bool{}
	for _, an := range d.Snapshot.Annotations {
		notes[an.Note] = true
	}
	stored := 0
	for i := range annotations {
		if notes[fmt.Sprintf("soak %s %d", tag, i)] {
			stored++
		}
	}
	r.fig(what+": stored (snapshot)", stored, "")
	if stored != annotations {
		r.fail("%s: %d of %d annotations stored (GET /v1/runs/{id} snapshot)", what, stored, annotations)
	}
	var seqs []int64
	maxT := time.Since(created).Milliseconds() + 1000
	var badT int64
	hasBadT := false
	for _, ev := range d.Snapshot.Events {
		if ev.Type != "annotation" || !strings.HasPrefix(ev.Annotation.Note, "soak "+tag+" ") {
			continue
		}
		seqs = append(seqs, ev.Seq)
		if ev.T < 0 || ev.T > maxT {
			badT, hasBadT = ev.T, true
		}
	}
	slices.Sort(seqs)
	r.fig(what+": logged annotation seqs", spans(seqs), "")
	if hasBadT {
		r.fail("%s: a logged annotation has t = %d ms, outside the run's lifetime (0..%d ms)", what, badT, maxT)
	}
	if want != nil && !slices.Equal(seqs, want) {
		r.fail("%s: logged annotation seqs %s, want %d..%d (dense after the terminal event)", what, spans(seqs), want[0], want[len(want)-1])
	}
	if want != nil && d.Run.LastSeq != want[len(want)-1] {
		r.fail("%s: the run's last_seq is %d, want %d (next_seq %d)", what, d.Run.LastSeq, want[len(want)-1], d.NextSeq)
	}
}

// spans writes sorted seqs as ranges, repeats counted: "12-30 32×3 35-40".
func spans(seqs []int64) string {
	var parts []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[i] {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d×%d", seqs[i], j-i+1))
			i = j + 1
			continue
		}
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 && (j+2 >= len(seqs) || seqs[j+2] != seqs[j+1]) {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		} else {
			parts = append(parts, fmt.Sprint(seqs[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, " ")
}
