package httpapi

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// Listener wraps the server's listener so that a connection whose event
// stream has ended goes back to the HTTP server for its next request. An
// event stream takes its connection over from net/http (writer.hijack);
// without this, every finished stream would close a connection it had
// announced as keep-alive, and a client reusing it would see a reset.
type Listener struct {
	net.Listener
	back  chan net.Conn
	conns chan accepted
	done  chan struct{}
	once  sync.Once

	// waiting are returned connections not yet reading a request again.
	// http.Server.Shutdown counts them as new and waits 5 s before closing
	// them as idle; CloseWaiting lets shutdown close them at once.
	mu      sync.Mutex
	waiting map[net.Conn]struct{}
}

type accepted struct {
	c   net.Conn
	err error
}

// NewListener starts accepting on ln.
func NewListener(ln net.Listener) *Listener {
	l := &Listener{Listener: ln, back: make(chan net.Conn, 256), conns: make(chan accepted), done: make(chan struct{}),
		waiting: make(map[net.Conn]struct{})}
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.conns <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return // closed or broken: Serve ends on this error
			}
		}
	}
}

// Accept returns the next new or returned connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.back:
		l.mu.Lock()
		l.waiting[c] = struct{}{}
		l.mu.Unlock()
		return c, nil
	case a, ok := <-l.conns:
		if !ok {
			return nil, net.ErrClosed
		}
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server's ConnState hook: a returned connection
// that reads a request again, or closes, no longer waits.
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	if st == http.StateNew {
		return
	}
	l.mu.Lock()
	delete(l.waiting, c)
	l.mu.Unlock()
}

// CloseWaiting closes the returned connections on which no new request has
// begun: at shutdown they are idle keep-alive connections.
func (l *Listener) CloseWaiting() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.waiting {
		c.Close()
		delete(l.waiting, c)
	}
}

// reuse hands a connection back for its next request; r holds what the
// client may already have sent. It reports false (and the caller closes the
// connection) when the listener is closed or backed up.
func (l *Listener) reuse(c net.Conn, r *bufio.Reader) bool {
	if r != nil && r.Buffered() > 0 {
		c = &bufferedConn{Conn: c, r: r}
	}
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.back <- c:
		return true
	default:
		return false
	}
}

// bufferedConn reads what was buffered before the connection changed hands.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
