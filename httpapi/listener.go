package httpapi

import (
	"bufio"
	"net"
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
}

type accepted struct {
	c   net.Conn
	err error
}

// NewListener starts accepting on ln.
func NewListener(ln net.Listener) *Listener {
	l := &Listener{Listener: ln, back: make(chan net.Conn, 256), conns: make(chan accepted), done: make(chan struct{})}
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
