package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// tcpIdle closes a TURN TCP or TLS connection that sends nothing for this
// long. A connection carrying a call is never that quiet (ICE consent checks
// run every few seconds, allocations refresh within 10 minutes), while an
// idle or half-open one would otherwise hold a goroutine forever.
const tcpIdle = 5 * time.Minute

// tcpFirstRead bounds the wait for a new connection's first bytes, TLS
// handshake included: a client that connects and stays silent is not one.
const tcpFirstRead = 10 * time.Second

// udpBuffer is the socket buffer size asked for the UDP listeners and relay
// sockets, so that a burst of datagrams waits in the kernel instead of being
// dropped while a read loop is busy. The kernel caps it (net.core.rmem_max
// and wmem_max); raising those is a host tuning step for busy relays.
const udpBuffer = 4 << 20

func setBuffers(c net.PacketConn, size int) {
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(size)
		_ = uc.SetWriteBuffer(size)
	}
}

// listenUDP binds n UDP sockets to the same address with SO_REUSEPORT (one
// read loop each). With port 0 the first socket picks the port and the
// others join it.
func listenUDP(addr string, n int) ([]net.PacketConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	if !reusePortSupported {
		lc.Control, n = nil, 1
	}
	var conns []net.PacketConn
	for i := range n {
		c, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("%w: udp: %w", ErrListen, err)
		}
		if i == 0 {
			addr = c.LocalAddr().String()
		}
		setBuffers(c, udpBuffer)
		conns = append(conns, c)
	}
	return conns, nil
}

// loops tracks pion's goroutines through the sockets they read, since pion's
// Close does not wait for them: each UDP read loop, each accept loop and each
// TCP connection's loop holds one count until it sees its socket fail.
type loops struct {
	wg      sync.WaitGroup
	mu      sync.Mutex // guards conns and closing
	conns   map[*trackedConn]struct{}
	closing bool
}

// closeConns closes every TCP connection pion still serves (pion's Close
// leaves them open) and makes later accepts fail.
func (l *loops) closeConns() {
	l.mu.Lock()
	l.closing = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

// listenConn wraps one UDP listening socket of pion's read loop.
type listenConn struct {
	net.PacketConn
	srv  *Server
	done sync.Once
}

func (s *Server) newListenConn(c net.PacketConn) *listenConn {
	s.loops.wg.Add(1)
	return &listenConn{PacketConn: c, srv: s}
}

// ReadFrom hides transient errors from pion, whose read loop would otherwise
// stop serving this socket for good; only a closed socket ends the loop.
func (c *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err == nil {
			return n, addr, nil
		}
		if errors.Is(err, net.ErrClosed) || c.srv.closing.Load() {
			c.done.Do(c.srv.loops.wg.Done)
			return n, addr, err
		}
		c.srv.log.Warn("turn udp read failed", "err", errKind(err))
	}
}

// WriteTo applies refusal codes (see refusalMarks) to pion's answers.
func (c *listenConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(c.srv.marks.rewrite(p, addr, c.srv.cfg.Realm), addr)
	c.srv.answeredClient(p, addr)
	return n, err
}

// trackedListener wraps a TCP or TLS listener of pion's accept loop.
type trackedListener struct {
	net.Listener
	srv  *Server
	done sync.Once
}

func (s *Server) newTrackedListener(l net.Listener) *trackedListener {
	s.loops.wg.Add(1)
	return &trackedListener{Listener: l, srv: s}
}

// Accept retries transient errors (such as running out of file descriptors)
// with a backoff, since pion's accept loop stops at the first error.
func (l *trackedListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.srv.closing.Load() {
				l.done.Do(l.srv.loops.wg.Done)
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.srv.log.Warn("turn accept failed", "err", errKind(err), "retry", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		tc := &trackedConn{Conn: c, srv: l.srv}
		lp := &l.srv.loops
		lp.mu.Lock()
		if lp.closing {
			lp.mu.Unlock()
			_ = c.Close()
			continue // the next Accept fails on the closed listener
		}
		if lp.conns == nil {
			lp.conns = make(map[*trackedConn]struct{})
		}
		lp.conns[tc] = struct{}{}
		lp.wg.Add(1) // under mu: closeConns cannot have missed this conn
		lp.mu.Unlock()
		return tc, nil
	}
}

// trackedConn wraps one accepted TCP or TLS connection.
type trackedConn struct {
	net.Conn
	srv     *Server
	done    sync.Once
	started bool // only pion's loop of this connection reads
}

// Read keeps an idle deadline, shorter before the first bytes.
func (c *trackedConn) Read(p []byte) (int, error) {
	idle := tcpIdle
	if !c.started {
		idle = tcpFirstRead
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(idle))
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.started = true
	}
	return n, err
}

// Write applies refusal codes (see refusalMarks) to pion's answers: pion's
// STUN framing writes one message per call.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(c.srv.marks.rewrite(p, c.Conn.RemoteAddr(), c.srv.cfg.Realm))
	if err == nil {
		n = len(p) // the rewritten answer may differ in length
	}
	c.srv.answeredClient(p, c.Conn.RemoteAddr())
	return n, err
}

// Close is called by pion when the connection's loop ends.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.done.Do(func() {
		lp := &c.srv.loops
		lp.mu.Lock()
		delete(lp.conns, c)
		lp.mu.Unlock()
		lp.wg.Done()
	})
	return err
}

// errKind reduces a socket error to a label: net.OpError messages carry
// addresses, which must not reach a log.
func errKind(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, net.ErrClosed):
		return "closed or timed out"
	default:
		return "other"
	}
}
