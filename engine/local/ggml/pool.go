package ggml

import (
	"runtime"
	"sync"
	"sync/atomic"
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
type Pool struct {
	threads int
	mu      sync.Mutex
	wake    chan struct{}
	quit    chan struct{}
	wg      sync.WaitGroup
	closed  bool

	// The current job; written under mu before workers are woken.
	task   Task
	n      int
	chunk  int
	chunks int64
	next   atomic.Int64
	done   sync.WaitGroup
}

// NewPool starts a pool of the given size; threads <= 0 means GOMAXPROCS.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads, wake: make(chan struct{}, threads), quit: make(chan struct{})}
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
	close(p.quit)
	p.wg.Wait()
}

func (p *Pool) worker(id int) {
	defer p.wg.Done()
	for {
		select {
		case <-p.wake:
			p.work(id)
			p.done.Done()
		case <-p.quit:
			return
		}
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
	// About four chunks per thread balances uneven rows without making
	// the chunks so small that their dispatch costs show.
	chunk := max(grain, (n+4*p.threads-1)/(4*p.threads))
	chunks := (n + chunk - 1) / chunk
	p.task, p.n, p.chunk, p.chunks = t, n, chunk, int64(chunks)
	p.next.Store(0)
	helpers := min(p.threads-1, chunks-1)
	p.done.Add(helpers)
	for i := 0; i < helpers; i++ {
		p.wake <- struct{}{}
	}
	p.work(0)
	p.done.Wait()
	p.task = nil
}
