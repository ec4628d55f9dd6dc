package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// lagMetric is the server's histogram of the time from an event's
// publication (after the log acknowledged it) to its write to a viewer.
const lagMetric = "thinkstream_delivery_lag_seconds"

// histogram is a cumulative Prometheus histogram: bucket upper bound →
// count of observations at or below it.
type histogram map[float64]float64

// scrapeLag reads the lag histogram from the server's /metrics (nil when
// the server does not export it).
func scrapeLag(ctx context.Context, hc *http.Client, base string) (histogram, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	return parseHistogram(resp.Body, lagMetric)
}

// parseHistogram reads the buckets of one histogram from the text
// exposition format.
func parseHistogram(r io.Reader, name string) (histogram, error) {
	h := histogram{}
	prefix := name + `_bucket{le="`
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("metrics: bad bucket line %q", sc.Text())
		}
		bound := math.Inf(1)
		if le != "+Inf" {
			b, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return nil, fmt.Errorf("metrics: bucket bound %q: %w", le, err)
			}
			bound = b
		}
		n, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: bucket count %q: %w", val, err)
		}
		h[bound] = n
	}
	if len(h) == 0 {
		return nil, sc.Err()
	}
	return h, sc.Err()
}

// quantile returns the upper bound of the bucket holding quantile q of
// the observations in h minus base (the window's own observations), or -1
// when there are none. A bucket's bound is an upper estimate: the true
// quantile is at most this.
func (h histogram) quantile(base histogram, q float64) time.Duration {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := h[math.Inf(1)] - base[math.Inf(1)]
	if total <= 0 {
		return -1
	}
	for _, b := range bounds {
		if h[b]-base[b] >= q*total {
			if math.IsInf(b, 1) {
				return time.Duration(math.MaxInt64)
			}
			return time.Duration(b * float64(time.Second))
		}
	}
	return -1
}

// observations is the number of observations in h minus base.
func (h histogram) observations(base histogram) float64 {
	return h[math.Inf(1)] - base[math.Inf(1)]
}
