package ggml

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Task is work over the index range [0, n) that can be split into chunks.
// Run must produce the same result for an index whatever chunk or worker
// it lands on: that is what keeps results independent of the thread count.
// worker (0 … Threads()-1) lets a task pick per-thread scratch space.
type Task interface {
	Run(worker, lo, hi int)
}

// Pool runs Tasks on a fixed set of goroutines. The calling goroutine takes
// part, so a 1-thread pool starts no goroutines. Run calls are serialised:
// a pool already uses every thread it has.
//
// Workers spin for a short while after each job before they park: decode
// issues a few hundred small matrix products per token back to back, and
// waking a parked goroutine (a futex round trip, tens of microseconds on a
// VM) for each of them left the second core idle a third of the time.
type Pool struct {
	threads int
	mu      sync.Mutex // serialises Run and Close
	closed  bool
	wg      sync.WaitGroup

	// Parking: a worker that saw no new job for spinFor sleeps on cond.
	park     sync.Mutex
	cond     *sync.Cond
	sleepers atomic.Int32
	quit     atomic.Bool

	// The current job: its fields are written before gen is bumped, which
	// publishes them; finished counts the workers done with it.
	gen      atomic.Uint64
	finished atomic.Int32
	task     Task
	n        int
	chunk    int
	chunks   int64
	next     atomic.Int64
}

// spinFor bounds a worker's busy wait for the next job, and the caller's
// for the workers: long enough to span the gaps between one token's
// matrix products, short enough that an idle model costs no CPU.
const spinFor = 500 * time.Microsecond

// NewPool starts a pool of the given size; threads <= 0 means GOMAXPROCS.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads}
	p.cond = sync.NewCond(&p.park)
	for i := 1; i < threads; i++ {
		p.wg.Add(1)
		go p.worker(i)
	}
	return p
}

// Threads is the pool's size, the caller included.
func (p *Pool) Threads() int { return p.threads }

// Close stops the workers and waits for them. Run must not be called after.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.quit.Store(true)
	p.park.Lock()
	p.cond.Broadcast()
	p.park.Unlock()
	p.wg.Wait()
}

// spinUntil busy-waits (yielding now and then, so a busy core still runs
// others) until done reports true or spinFor passes; it reports done.
func spinUntil(done func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if done() {
			return true
		}
		if i&63 == 63 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				return false
			}
			runtime.Gosched()
		}
	}
}

func (p *Pool) worker(id int) {
	defer p.wg.Done()
	seen := uint64(0)
	for {
		fresh := func() bool { return p.gen.Load() != seen || p.quit.Load() }
		if !spinUntil(fresh) {
			// Dekker with Run: sleepers is raised before gen is read
			// again, and Run bumps gen before it reads sleepers, so one
			// of the two sees the other.
			p.park.Lock()
			p.sleepers.Add(1)
			for !fresh() {
				p.cond.Wait()
			}
			p.sleepers.Add(-1)
			p.park.Unlock()
		}
		if p.quit.Load() {
			return
		}
		seen = p.gen.Load()
		p.work(id)
		p.finished.Add(1)
	}
}

func (p *Pool) work(id int) {
	for {
		c := p.next.Add(1) - 1
		if c >= p.chunks {
			return
		}
		lo := int(c) * p.chunk
		p.task.Run(id, lo, min(lo+p.chunk, p.n))
	}
}

// Run executes t over [0, n) in chunks of at least grain indices.
func (p *Pool) Run(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	if p.threads == 1 || n <= grain {
		t.Run(0, 0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // no workers left: do it all here rather than hang
		t.Run(0, 0, n)
		return
	}
	// Sixteen chunks a thread, in whole grains: the threads take chunks
	// until none is left, so at the end one waits for the other's last
	// chunk, and with four a thread that wait cost a decoded token a
	// tenth of its time (a chunk is tens of microseconds of a decode
	// matrix; taking one costs an atomic add).
	chunk := max(grain, (n+16*p.threads-1)/(16*p.threads))
	chunk = (chunk + grain - 1) / grain * grain
	chunks := (n + chunk - 1) / chunk
	p.task, p.n, p.chunk, p.chunks = t, n, chunk, int64(chunks)
	p.next.Store(0)
	p.finished.Store(0)
	p.gen.Add(1)
	if p.sleepers.Load() > 0 {
		p.park.Lock()
		p.cond.Broadcast()
		p.park.Unlock()
	}
	p.work(0)
	// Every worker takes part in every job (one that finds no chunk left
	// checks in at once), so the job's fields are free again when all
	// have checked in.
	all := func() bool { return p.finished.Load() == int32(p.threads-1) }
	for !spinUntil(all) {
	}
	p.task = nil
}
