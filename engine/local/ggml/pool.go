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
	gen     uint64     // the last job's generation (under mu)
	closed  bool
	wg      sync.WaitGroup

	// Parking: a worker that saw no new job for spinFor sleeps on cond.
	park     sync.Mutex
	cond     *sync.Cond
	sleepers atomic.Int32
	quit     atomic.Bool

	// The current job: its fields are written before state gets the
	// job's generation, which publishes them. state is gen<<32 | closed
	// | the number of workers that joined the job and are not done yet.
	state  atomic.Uint64
	task   Task
	n      int
	chunk  int
	chunks int64
	next   atomic.Int64
}

// A job's state word: a worker joins (count+1) only while the job is
// open, and Run, once every chunk is taken, closes it and waits for the
// joined count alone. A worker that the OS has descheduled before it
// joined (the other core busy with another process) no longer holds the
// job up for a time slice; it finds the job closed, or a newer one.
const (
	jobClosed = 1 << 31
	jobCount  = jobClosed - 1
)

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

// spinUntil busy-waits until done reports true or spinFor passes; it
// reports done. After the first microseconds it yields the core to the OS
// now and then: when another process keeps a core busy, the pool thread
// that the OS preempted in the middle of a chunk may be queued behind
// this very spinner, and without the yield two threads decoded slower
// than one (Q4_K_M under `yes`: 10.2 tok/s, 12.5 with one thread, 12.9
// with the yield; no change on a quiet machine).
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
			if i >= 1024 {
				osYield()
			}
		}
	}
}

func (p *Pool) worker(id int) {
	defer p.wg.Done()
	seen := uint64(0)
	for {
		fresh := func() bool { return p.state.Load()>>32 != seen || p.quit.Load() }
		if !spinUntil(fresh) {
			// Dekker with Run: sleepers is raised before state is read
			// again, and Run stores state before it reads sleepers, so
			// one of the two sees the other.
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
		s := p.state.Load()
		seen = s >> 32
		if p.join(s) {
			p.work(id)
			p.state.Add(^uint64(0)) // count-1
		}
	}
}

// join enters the job whose state was s if it is still open; false means
// it closed (or a newer one began) meanwhile, and it is none of this
// worker's business any more.
func (p *Pool) join(s uint64) bool {
	for s&jobClosed == 0 {
		if p.state.CompareAndSwap(s, s+1) {
			return true
		}
		t := p.state.Load()
		if t>>32 != s>>32 {
			return false
		}
		s = t
	}
	return false
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
	p.gen++
	p.state.Store(p.gen << 32) // open, nobody joined yet
	if p.sleepers.Load() > 0 {
		p.park.Lock()
		p.cond.Broadcast()
		p.park.Unlock()
	}
	p.work(0)
	// Every chunk is taken: close the job to latecomers and wait for the
	// workers inside it; then its fields are free again.
	p.state.Add(jobClosed)
	idle := func() bool { return p.state.Load()&jobCount == 0 }
	for !spinUntil(idle) {
	}
	p.task = nil
}
