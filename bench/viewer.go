package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/thinkstream/thinkstream"
)

// viewer is one SSE client of the benchmark. It parses frames with a few
// byte comparisons instead of the full client so that a few thousand of
// them leave the CPU to the server.
type viewer struct {
	// Set before the viewer starts.
	created int64 // run creation, Unix ns: event creation = created + t ms
	first   *firstArrivals

	// Results.
	received  int64 // frames with an id
	distinct  int64
	dups      int64
	reordered int64
	maxSeq    int64
	endSeq    int64   // seq of the terminal event (0: none seen)
	lat       []int32 // µs, events created in the window
	inWindow  int64   // events that arrived within [from, to)
	seen      []uint64
	err       error
}

// window is the measurement window in Unix ns; from 0 means not started.
type window struct{ from, to int64 }

// record accounts one event.
func (v *viewer) record(seq, t int64, now int64, w window) {
	v.received++
	i, bit := seq/64, uint64(1)<<(seq%64)
	for int64(len(v.seen)) <= i {
		v.seen = append(v.seen, 0)
	}
	if v.seen[i]&bit != 0 {
		v.dups++
		return
	}
	v.seen[i] |= bit
	v.distinct++
	if seq < v.maxSeq {
		v.reordered++
	} else {
		v.maxSeq = seq
	}
	if w.from == 0 {
		return
	}
	if now >= w.from && now < w.to {
		v.inWindow++
	}
	if c := v.created + t*int64(time.Millisecond); c >= w.from && c < w.to {
		v.lat = append(v.lat, int32(min((now-c)/int64(time.Microsecond), 1<<31-1)))
		if v.first != nil {
			v.first.observe(seq, now-c)
		}
	}
}

// firstArrivals keeps, per seq, the latency of the first viewer to get the
// event: how long the server took to get an event out at all (log append,
// publication, one write), as opposed to getting it to everyone.
type firstArrivals struct{ lat []atomic.Int64 }

func newFirstArrivals(n int) *firstArrivals {
	f := &firstArrivals{lat: make([]atomic.Int64, n)}
	for i := range f.lat {
		f.lat[i].Store(math.MaxInt64)
	}
	return f
}

func (f *firstArrivals) observe(seq, lat int64) {
	if seq < 0 || seq >= int64(len(f.lat)) {
		return
	}
	a := &f.lat[seq]
	for {
		cur := a.Load()
		if lat >= cur || a.CompareAndSwap(cur, lat) {
			return
		}
	}
}

// values returns the observed first latencies in µs.
func (f *firstArrivals) values() []int32 {
	var out []int32
	for i := range f.lat {
		if v := f.lat[i].Load(); v != math.MaxInt64 {
			out = append(out, int32(min(v/int64(time.Microsecond), 1<<31-1)))
		}
	}
	return out
}

// lost counts the seqs 1..endSeq never received.
func (v *viewer) lost(last int64) int64 {
	return last - v.distinct
}

// run reads the run's stream until its terminal event. opened is called
// once the server answered; win returns the current window.
func (v *viewer) run(ctx context.Context, hc *http.Client, url string, opened func(), win func() window) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		v.err = err
		opened()
		return
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		v.err = fmt.Errorf("connect: %w", err)
		opened()
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		v.err = fmt.Errorf("connect: status %d", resp.StatusCode)
		opened()
		return
	}
	opened()
	v.err = v.read(resp.Body, win)
}

var (
	prefixID    = []byte("id: ")
	prefixEvent = []byte("event: ")
	prefixData  = []byte("data: ")
	fieldT      = []byte(`"t":`)
)

// read parses frames. It relies on how thinkstream writes them ("id: N",
// "event: type", one "data: {json}" line whose object starts with seq and
// t); a frame of another shape is an error, not a silent miscount.
func (v *viewer) read(r io.Reader, win func() window) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var (
		seq, t         int64
		hasID, hasData bool
		terminal       bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("stream ended before the terminal event")
			}
			return err
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0:
			if hasID && hasData {
				v.record(seq, t, time.Now().UnixNano(), win())
				if terminal {
					v.endSeq = seq
					return nil
				}
			}
			hasID, hasData, terminal = false, false, false
		case bytes.HasPrefix(line, prefixID):
			n, err := strconv.ParseInt(string(line[len(prefixID):]), 10, 64)
			if err != nil {
				return fmt.Errorf("bad id line %q", line)
			}
			seq, hasID = n, true
		case bytes.HasPrefix(line, prefixEvent):
			terminal = thinkstream.IsTerminal(string(line[len(prefixEvent):]))
		case bytes.HasPrefix(line, prefixData):
			hasData = true
			if !hasID {
				continue // stream.open, viewers: no id, not counted
			}
			d := line[len(prefixData):]
			i := bytes.Index(d, fieldT)
			if i < 0 {
				return fmt.Errorf("event %d without t", seq)
			}
			d = d[i+len(fieldT):]
			t = 0
			for _, c := range d {
				if c < '0' || c > '9' {
					break
				}
				t = t*10 + int64(c-'0')
			}
		}
	}
}
