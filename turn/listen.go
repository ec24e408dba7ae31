package turn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-chat/parley/store/prefix"
)

// tcpIdle closes a TURN TCP or TLS connection that sends nothing for this
// long. A connection carrying a call is never that quiet (ICE consent checks
// run every few seconds, allocations refresh within 10 minutes), while an
// idle or half-open one would otherwise hold a goroutine forever.
const tcpIdle = 5 * time.Minute

// tcpFirstFrame bounds the time from accepting a TCP or TLS connection to
// its first complete STUN message, TLS handshake included: a browser sends
// its Allocate at once, and a client that connects and dawdles is not one.
const tcpFirstFrame = 5 * time.Second

// tcpFrameWait bounds how long one frame (a STUN message or ChannelData)
// may take to arrive once it has started: a client writes a frame at once,
// a peer that never finishes one must not hold the connection for
// tcpIdle.
const tcpFrameWait = 5 * time.Second

// tcpMaxFrame is the largest frame accepted over TCP or TLS: pion reads
// each frame into a buffer of its inbound MTU (1600 bytes) and drops any
// frame that fills it, so a longer one can only be an attack on memory
// (announce 65,280 bytes, send 65,000, and pion's stream reader buffers
// them all). A connection announcing one is closed at once.
const tcpMaxFrame = 1600 - 1

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
	srv   *Server
	done  sync.Once
	batch *batchReader // nil: one datagram per read

	// For batched writes to peers (batch_peer.go). cur is written and read
	// on this socket's read loop only; atomic because relayConn.WriteTo
	// checks it without knowing which goroutine calls it.
	cur     atomic.Pointer[relayConn]
	peerBuf []byte
	peerOut []peerOut
	peerLen int
	oob     [64]byte
}

func (s *Server) newListenConn(c net.PacketConn) *listenConn {
	s.loops.wg.Add(1)
	return &listenConn{PacketConn: c, srv: s, batch: newBatchReader(c, listenBatch, listenBuf)}
}

// ReadFrom hides transient errors from pion, whose read loop would otherwise
// stop serving this socket for good; only a closed socket ends the loop.
func (c *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	read := c.PacketConn.ReadFrom
	if c.batch != nil {
		read = c.batch.ReadFrom
	}
	for {
		if c.batch != nil && !c.batch.pending() && len(c.peerOut) > 0 {
			c.flushPeers() // about to wait for the socket: nothing may linger
		}
		n, addr, err := read(p)
		if err == nil {
			if c.batch != nil {
				c.noteClient(p[:min(n, len(p))], addr)
			}
			return n, addr, nil
		}
		if errors.Is(err, net.ErrClosed) || c.srv.closing.Load() {
			c.done.Do(c.srv.loops.wg.Done)
			return n, addr, err
		}
		c.srv.log.Warn("turn udp read failed", "err", errKind(err))
	}
}

// WriteTo applies refusal codes (see refusalMarks) to pion's answers, and
// batches a peer's datagrams for a client (batch.go).
func (c *listenConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.batch != nil && isPeerData(p) {
		if n, done, err := c.writeData(p, addr); done {
			return n, err
		}
	}
	n, err := c.PacketConn.WriteTo(c.srv.marks.rewrite(p, addr, c.srv.cfg.Realm), addr)
	c.srv.answeredClient(p, addr)
	return n, err
}

// tcpTimes are the three deadlines above; tests shorten them.
type tcpTimes struct{ first, frame, idle time.Duration }

var defaultTCPTimes = tcpTimes{first: tcpFirstFrame, frame: tcpFrameWait, idle: tcpIdle}

// trackedListener wraps a TCP or TLS listener of pion's accept loop.
type trackedListener struct {
	net.Listener
	srv  *Server
	done sync.Once
}

// connCaps counts TCP and TLS connections per client prefix and in all.
type connCaps struct {
	mu       sync.Mutex // guards the fields below
	total    int
	byPrefix map[netip.Prefix]int
}

// take counts a new connection from p, or returns the kind of cap that
// refuses it.
func (c *connCaps) take(p netip.Prefix, perPrefix, total int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.byPrefix[p] >= perPrefix:
		return "prefix"
	case c.total >= total:
		return "total"
	}
	if c.byPrefix == nil {
		c.byPrefix = make(map[netip.Prefix]int)
	}
	c.byPrefix[p]++
	c.total++
	return ""
}

func (c *connCaps) release(p netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byPrefix[p]--; c.byPrefix[p] <= 0 {
		delete(c.byPrefix, p)
	}
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
		pfx := prefix.OfNet(c.RemoteAddr())
		if kind := l.srv.conns.take(pfx, l.srv.cfg.MaxConnsPerPrefix, l.srv.cfg.MaxConns); kind != "" {
			// Closed before any TLS handshake or read: a refused connection
			// costs a file descriptor for a moment and nothing else. Counted
			// first, so whoever sees the close sees the count.
			l.srv.stats.refusedConns.Add(1)
			_ = c.Close()
			l.srv.log.Debug("turn connection over cap", "limit", kind)
			continue
		}
		tc := &trackedConn{Conn: c, srv: l.srv, prefix: pfx, accepted: time.Now()}
		lp := &l.srv.loops
		lp.mu.Lock()
		if lp.closing {
			lp.mu.Unlock()
			_ = c.Close()
			l.srv.conns.release(pfx)
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

// trackedConn wraps one accepted TCP or TLS connection (for TLS, the
// decrypted stream), below pion's stream reader.
type trackedConn struct {
	net.Conn
	srv      *Server
	done     sync.Once
	prefix   netip.Prefix
	accepted time.Time

	// Only pion's loop of this connection reads, so no lock guards these.
	frames     frameReader
	frameStart time.Time // when the frame being read began; zero between frames
	started    bool      // a first complete frame arrived
}

// Read keeps the deadlines (tcpFirstFrame, tcpFrameWait, tcpIdle) and
// checks the framing of what it passes on (frameReader).
func (c *trackedConn) Read(p []byte) (int, error) {
	var deadline time.Time
	t := c.srv.tcpTimes.Load()
	switch {
	case !c.started:
		deadline = c.accepted.Add(t.first)
	case !c.frameStart.IsZero():
		deadline = c.frameStart.Add(t.frame)
	default:
		deadline = time.Now().Add(t.idle)
	}
	_ = c.Conn.SetReadDeadline(deadline)
	n, err := c.Conn.Read(p)
	if n > 0 {
		complete, inFrame, ferr := c.frames.feed(p[:n])
		if ferr != nil {
			c.srv.stats.refusedFrames.Add(1)
			c.srv.log.Debug("turn connection closed", "reason", ferr.Error())
			return 0, ferr
		}
		if complete > 0 {
			c.started = true
		}
		switch {
		case !inFrame:
			c.frameStart = time.Time{}
		case complete > 0 || c.frameStart.IsZero():
			c.frameStart = time.Now()
		}
	}
	return n, err
}

// frameReader follows the framing of a TURN stream (RFC 8656, section
// 12.3): STUN messages and ChannelData (padded to 4 bytes over TCP), one
// after the other. It keeps four bytes of header, never the frame itself.
type frameReader struct {
	hdr    [4]byte
	hdrN   int
	remain int // bytes of the current frame still to come after its header
}

// feed consumes b; it returns how many frames it completed, whether a
// frame is under way at the end, and an error for a stream that is not
// TURN framing or announces a frame over tcpMaxFrame.
func (f *frameReader) feed(b []byte) (complete int, inFrame bool, err error) {
	for len(b) > 0 {
		if f.remain > 0 {
			k := min(f.remain, len(b))
			f.remain -= k
			b = b[k:]
			if f.remain == 0 {
				complete++
			}
			continue
		}
		k := copy(f.hdr[f.hdrN:], b)
		f.hdrN += k
		b = b[k:]
		if f.hdrN < len(f.hdr) {
			break
		}
		f.hdrN = 0
		length := int(binary.BigEndian.Uint16(f.hdr[2:4]))
		var size int
		switch f.hdr[0] >> 6 {
		case 0: // STUN: 20-byte header, length counts the attributes
			size = 20 + length
		case 1: // ChannelData: 4-byte header, data padded to 4 over TCP
			size = 4 + (length+3)&^3
		default:
			return complete, false, errBadFrame
		}
		if size > tcpMaxFrame {
			return complete, false, errFrameTooLong
		}
		if f.remain = size - len(f.hdr); f.remain == 0 {
			complete++
		}
	}
	return complete, f.hdrN > 0 || f.remain > 0, nil
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
		c.srv.conns.release(c.prefix)
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
