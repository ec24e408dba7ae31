package turn

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v4"
	"golang.org/x/net/ipv4"
)

// relayGenerator wraps pion's port-range generator so that every relay
// socket goes through relayConn, which enforces the peer policy per datagram
// and counts traffic. PermissionHandler only sees an IP; the port check
// (the server's own address only on relay ports) can only be done here.
type relayGenerator struct {
	inner *pionturn.RelayAddressGeneratorPortRange
	srv   *Server
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	if g.srv.closing.Load() {
		return nil, nil, ErrClosed
	}
	// pion's range generator binds a requested port without checking the
	// range; only ports inside it may ever be relay ports.
	if requestedPort != 0 && (requestedPort < int(g.inner.MinPort) || requestedPort > int(g.inner.MaxPort)) {
		return nil, nil, ErrRelayPort
	}
	conn, addr, err := g.inner.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: allocate relay socket: %w", err)
	}
	setBuffers(conn, udpBuffer)
	if g.srv.cfg.WrapPacketConn != nil {
		conn = g.srv.cfg.WrapPacketConn(conn)
	}
	rc := &relayConn{PacketConn: conn, srv: g.srv}
	rc.udp, _ = conn.(*net.UDPConn) // nil when a test wraps it: no batched writes then
	rc.permits.init(time.Now(), *g.srv.hold.Load())
	if ua, ok := addr.(*net.UDPAddr); ok {
		rc.port = ua.Port
	}
	if !g.srv.relays.add(rc) {
		_ = conn.Close()
		return nil, nil, ErrClosed
	}
	return rc, addr, nil
}

func (g *relayGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

// relayConn is one allocation's relay socket.
type relayConn struct {
	net.PacketConn
	srv     *Server
	port    int
	session atomic.Pointer[string] // set by the allocation-created event
	client  clientKey              // set by the allocation-created event, under relayRegistry.mu
	closed  atomic.Bool
	permits permits      // for the hold (hold.go)
	batch   *batchReader // only pion's loop of this allocation reads c.batch and c.reads
	reads   int
	out     *outBatch // datagrams for the client held until the batch ends (batch.go)

	// For batched writes to peers (batch_peer.go): the raw socket, the
	// listener loop that last handled this client's data, and a batch
	// writer made on that loop.
	udp  *net.UDPConn
	loop atomic.Pointer[listenConn]
	wpc  *ipv4.PacketConn

	// last caches the latest allowed destination: an allocation mostly
	// talks to one peer, so the policy runs once per new destination. Only
	// pion's request loop of this allocation writes, but atomics keep it
	// safe regardless.
	last atomic.Pointer[allowedDst]
}

// allowedDst is a destination the policy allowed; own marks one of the
// server's own addresses, whose relay port must still hold a live
// allocation at every datagram (it may close, and its port be reused by
// another program, while the destination is cached).
type allowedDst struct {
	ap  netip.AddrPort
	own bool
}

// WriteTo sends a client's datagram to a peer, unless the policy refuses the
// destination: then it is dropped and counted. It reports success either
// way, as UDP would, so pion does not log the destination as an error.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		c.srv.stats.dropped.Add(1)
		return len(p), nil
	}
	ap := ua.AddrPort()
	last := c.last.Load()
	if last == nil || last.ap != ap {
		if kind, ok := c.srv.policy.decide(ap); !ok {
			c.srv.stats.dropped.Add(1)
			c.srv.log.Debug("turn relay datagram dropped", "kind", kind)
			return len(p), nil
		}
		last = &allowedDst{ap: ap, own: c.srv.policy.isOwn(ap.Addr())}
		c.last.Store(last)
	} else if last.own && !c.srv.relays.live(ap.Port()) {
		c.srv.stats.dropped.Add(1)
		c.srv.log.Debug("turn relay datagram dropped", "kind", "own-not-relay")
		return len(p), nil
	}
	if c.heldByLoop(p, ua) {
		c.srv.stats.packets.Add(1)
		c.srv.stats.bytes.Add(uint64(len(p)))
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.srv.stats.packets.Add(1)
		c.srv.stats.bytes.Add(uint64(n))
	}
	return n, err
}

// ReadFrom receives a peer's datagram for the client. pion drops those from
// peers without a permission after this, so the counters include them.
// Early in the allocation's life, a datagram that beat its permission is
// held for it (hold.go).
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.batch == nil && c.reads < relayBatchAfter {
		c.reads++
		if c.reads == relayBatchAfter {
			c.batch = newBatchReader(c.PacketConn, relayBatch, relayBuf)
		}
	}
	var n int
	var addr net.Addr
	var err error
	if c.batch != nil {
		if !c.batch.pending() {
			c.flush() // about to wait for the socket: nothing may linger
		}
		n, addr, err = c.batch.ReadFrom(p)
		n = min(n, len(p)) // a plain read truncates to the buffer too
	} else {
		n, addr, err = c.PacketConn.ReadFrom(p)
	}
	if err != nil {
		c.dropOut() // the socket is closed: pion ends the allocation
		return n, addr, err
	}
	if err == nil {
		c.srv.stats.packets.Add(1)
		c.srv.stats.bytes.Add(uint64(n))
		if c.permits.active.Load() {
			c.awaitPermission(addr)
		}
	}
	return n, addr, err
}

// Close is idempotent: pion's allocation manager stops closing the
// remaining allocations at the first error, and Server.Close and EndSession
// close relay sockets too.
func (c *relayConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.srv.relays.remove(c)
	c.permits.close()
	return c.PacketConn.Close()
}

// relayRegistry tracks open relay sockets by port, for EndSession, for the
// allocation-created event, for the own-address rule and for Close, and by
// client transport address, for the hold.
type relayRegistry struct {
	// livePorts has a bit per port that holds a live relay socket, read
	// without the lock on every datagram to an own address.
	livePorts [65536 / 64]atomic.Uint64

	// byClient maps a client transport address to its relay socket; read
	// on every datagram written to a client, so a sync.Map (written only
	// when an allocation starts or ends).
	byClient sync.Map // clientKey -> *relayConn

	mu     sync.Mutex // guards the fields below and relayConn.client
	closed bool
	byPort map[int]*relayConn
}

// live reports whether port holds one of this relay's open relay sockets.
func (r *relayRegistry) live(port uint16) bool {
	return r.livePorts[port/64].Load()&(1<<(port%64)) != 0
}

func (r *relayRegistry) setLive(port int, on bool) {
	if port <= 0 || port > 65535 {
		return
	}
	w, bit := &r.livePorts[port/64], uint64(1)<<(port%64)
	if on {
		w.Or(bit)
	} else {
		w.And(^bit)
	}
}

func (r *relayRegistry) add(c *relayConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.byPort == nil {
		r.byPort = make(map[int]*relayConn)
	}
	r.byPort[c.port] = c
	r.setLive(c.port, true)
	return true
}

func (r *relayRegistry) remove(c *relayConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byPort[c.port] == c {
		delete(r.byPort, c.port)
		r.setLive(c.port, false)
	}
	r.byClient.CompareAndDelete(c.client, c)
}

// bindClient records which client owns the relay socket on port.
func (r *relayRegistry) bindClient(port int, client net.Addr) *relayConn {
	k, ok := clientKeyOf(client)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.byPort[port]
	if c == nil || !ok {
		return c
	}
	c.client = k
	r.byClient.Store(k, c)
	return c
}

func (r *relayRegistry) byClientAddr(client net.Addr) *relayConn {
	k, ok := clientKeyOf(client)
	if !ok {
		return nil
	}
	if c, ok := r.byClient.Load(k); ok {
		return c.(*relayConn)
	}
	return nil
}

func (r *relayRegistry) byRelayPort(port int) *relayConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byPort[port]
}

// matching returns the open relay sockets for which keep is true; with
// final set, no relay socket can be added afterwards.
func (r *relayRegistry) matching(final bool, keep func(*relayConn) bool) []*relayConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = r.closed || final
	var out []*relayConn
	for _, c := range r.byPort {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func (r *relayRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byPort)
}
