// Package signalingtest has the test helpers that prove what crosses parley's sockets and logs: a listener that keeps every byte, and a log sink.
package signalingtest

import (
	"bytes"
	"log/slog"
	"net"
	"sync"

	"github.com/parley-chat/parley/signaling/internal/sockio"
)

// Tap is a net.Listener that keeps a copy of every byte read from or written
// to its connections, so a test can show that something never crossed them.
type Tap struct {
	net.Listener

	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// NewTap wraps a listener.
func NewTap(l net.Listener) *Tap { return &Tap{Listener: l} }

// Accept wraps each connection.
func (t *Tap) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, t: t, try: sockio.For(c)}, nil
}

// Bytes returns a copy of everything seen so far, both directions.
func (t *Tap) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf.Bytes())
}

// Len is how many bytes were seen.
func (t *Tap) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.Len()
}

func (t *Tap) record(p []byte) {
	t.mu.Lock()
	t.buf.Write(p)
	t.mu.Unlock()
}

type tapConn struct {
	net.Conn
	t   *Tap
	try sockio.TryWriter // the socket's own, so the server's direct writes are kept too
}

// TryWrite is the socket's write that does not wait (sockio.TryWriter), with
// what it wrote kept like every other write.
func (c *tapConn) TryWrite(p []byte) (int, error) {
	if c.try == nil {
		return 0, nil // everything goes to the server's writer goroutine, through Write
	}
	n, err := c.try.TryWrite(p)
	c.t.record(p[:n])
	return n, err
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.record(p[:n])
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.t.record(p[:n])
	return n, err
}

// Logs is a log sink for tests: every line, as text, at debug level.
type Logs struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Logger returns a logger writing to the sink.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns every line so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
