package modelstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// download fetches f into part, resuming what part already holds, and
// returns the sha256 of the whole file. A failed download leaves part for
// the next attempt to resume.
func (p *Puller) download(ctx context.Context, h *hub, ref Ref, f fileEntry, part string) (string, error) {
	u := h.repoURL("", ref.Repo, "resolve", ref.Revision, f.Path)
	sum, err := p.fetch(ctx, h, u, f, part)
	if errors.Is(err, errRestart) {
		sum, err = p.fetch(ctx, h, u, f, part)
	}
	if err != nil {
		return "", fmt.Errorf("modelstore: downloading %s: %w", f.Path, err)
	}
	return sum, nil
}

func (p *Puller) fetch(ctx context.Context, h *hub, u string, f fileEntry, part string) (string, error) {
	fd, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	// Two pulls of one file would interleave their writes. The lock goes
	// away with the process, so a crash leaves nothing stale behind.
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return "", fmt.Errorf("another pull is downloading %s", part)
		}
		return "", fmt.Errorf("locking %s: %w", part, err)
	}
	have, err := fd.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	if f.Size >= 0 && have > f.Size {
		if have, err = restart(fd); err != nil {
			return "", err
		}
	}
	sum := sha256.New()
	if _, err := fd.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := io.CopyN(sum, fd, have); err != nil {
		return "", fmt.Errorf("hashing the partial download: %w", err)
	}
	if f.Size >= 0 && have == f.Size {
		return hex.EncodeToString(sum.Sum(nil)), nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	h.authorize(req)
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	total := f.Size
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// Not the bytes asked for: start over rather than splice.
			if _, err := restart(fd); err != nil {
				return "", err
			}
			return "", errRestart
		}
		if total < 0 {
			total = size
		}
		p.say("resuming %s at %s\n", filepath.Base(f.Path), formatBytes(have))
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if _, err := restart(fd); err != nil {
			return "", err
		}
		return "", errRestart
	case resp.StatusCode == http.StatusOK:
		if have > 0 {
			if have, err = restart(fd); err != nil {
				return "", err
			}
			sum.Reset()
		}
		if total < 0 && resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	default:
		return "", statusError(resp, u)
	}

	pr := &progress{w: p.Progress, tty: p.Terminal, name: filepath.Base(f.Path), total: total, done: have, from: have, now: p.now, on: p.OnProgress}
	pr.begin()
	n, err := copyHashing(fd, sum, resp.Body, pr)
	have += n
	pr.end(err == nil)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("interrupted after %s: %w (run the same command again to resume)", formatBytes(have), err)
	}
	if total >= 0 && have != total {
		return "", fmt.Errorf("the server sent %s of %s (run the same command again to resume)", formatBytes(have), formatBytes(total))
	}
	if err := fd.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// restart empties a partial download.
func restart(fd *os.File) (int64, error) {
	if err := fd.Truncate(0); err != nil {
		return 0, err
	}
	_, err := fd.Seek(0, io.SeekStart)
	return 0, err
}

func copyHashing(dst io.Writer, sum hash.Hash, src io.Reader, pr *progress) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			sum.Write(buf[:k])
			n += int64(k)
			pr.add(int64(k))
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// contentRange parses "bytes start-end/size" (size may be "*": -1).
func contentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	size = -1
	if total != "*" {
		if size, err = strconv.ParseInt(total, 10, 64); err != nil || size < start {
			return 0, 0, false
		}
	}
	return start, size, true
}

// progress shows a download's progress: a bar redrawn in place on a
// terminal, a plain line every 10% otherwise (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	total int64 // -1 unknown
	done  int64
	from  int64 // bytes present before this session (not in the rate)
	now   func() time.Time
	on    func(Progress)

	start, drawn, told time.Time
	step               int64 // last 10% step (or 100 MiB when total is unknown) printed
}

func (pr *progress) clock() time.Time {
	if pr.now != nil {
		return pr.now()
	}
	return time.Now()
}

func (pr *progress) begin() {
	pr.start = pr.clock()
	pr.step = pr.stepOf(pr.done)
	if pr.on != nil {
		pr.on(pr.snapshot()) // the first bytes are reported at once, then every 100ms
	}
}

func (pr *progress) stepOf(done int64) int64 {
	if pr.total > 0 {
		return done * 10 / pr.total
	}
	return done / (100 << 20)
}

func (pr *progress) add(n int64) {
	pr.done += n
	if pr.on != nil {
		if t := pr.clock(); t.Sub(pr.told) >= 100*time.Millisecond {
			pr.told = t
			pr.on(pr.snapshot())
		}
	}
	if pr.w == nil {
		return
	}
	if pr.tty {
		if t := pr.clock(); t.Sub(pr.drawn) >= 200*time.Millisecond {
			pr.drawn = t
			fmt.Fprintf(pr.w, "\r%s\x1b[K", pr.line(true))
		}
		return
	}
	if s := pr.stepOf(pr.done); s > pr.step {
		pr.step = s
		fmt.Fprintln(pr.w, pr.line(false))
	}
}

func (pr *progress) end(ok bool) {
	if pr.on != nil {
		pr.on(pr.snapshot())
	}
	if pr.w == nil {
		return
	}
	if pr.tty {
		fmt.Fprintf(pr.w, "\r%s\x1b[K\n", pr.line(true))
		return
	}
	if !ok {
		fmt.Fprintln(pr.w, pr.line(false))
	}
}

// rate is bytes per second over this attempt (resumed bytes excluded).
func (pr *progress) rate() float64 {
	if elapsed := pr.clock().Sub(pr.start).Seconds(); elapsed > 0 {
		return float64(pr.done-pr.from) / elapsed
	}
	return 0
}

func (pr *progress) snapshot() Progress {
	s := Progress{File: pr.name, Done: pr.done, Total: pr.total, From: pr.from}
	// The first chunks arrive faster than the link (buffers filling): a
	// rate from under a second of them promises what will not come.
	if pr.clock().Sub(pr.start) >= time.Second {
		s.Rate = pr.rate()
	}
	if s.Rate > 0 && pr.total > 0 && pr.done < pr.total {
		s.ETA = time.Duration(float64(pr.total-pr.done) / s.Rate * float64(time.Second))
	}
	return s
}

func (pr *progress) line(bar bool) string {
	rate := pr.rate()
	var b strings.Builder
	b.WriteString(pr.name)
	b.WriteString(": ")
	if pr.total > 0 {
		pct := float64(pr.done) / float64(pr.total) * 100
		if bar {
			const width = 24
			fill := int(pct / 100 * width)
			b.WriteString("[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] ")
		}
		fmt.Fprintf(&b, "%3.0f%% %s of %s", pct, formatBytes(pr.done), formatBytes(pr.total))
	} else {
		b.WriteString(formatBytes(pr.done))
	}
	if rate > 0 {
		fmt.Fprintf(&b, ", %s/s", formatBytes(int64(rate)))
		if pr.total > 0 && pr.done < pr.total {
			eta := time.Duration(float64(pr.total-pr.done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
		}
	}
	return b.String()
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[exp-1])
}
