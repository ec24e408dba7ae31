package turn

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The permission race. A TURN relay drops a datagram from a peer its client
// has no permission for (RFC 8656, section 10.3). When two people connect,
// each browser learns the other's candidates through signaling at about the
// same time, then asks its relay for a permission and starts ICE checks. The
// partner's first check often reaches our relay socket a millisecond before
// our own CreatePermission does: on loopback with two Chromiums, the first
// check of the controlling side was dropped in every pairing captured, and
// ICE waited one ping interval (about 50 ms) for the next one. That was a
// third of the relayed connection time (docs/BENCHMARKS.md).
//
// So, in the first holdWindow of an allocation, a datagram from a peer the
// policy would allow, but for which the client has no permission yet, is
// held for up to holdMax while the client's own CreatePermission or
// ChannelBind for that address is on its way; it is delivered once the
// permission is installed, and dropped as before otherwise. Nothing reaches
// a client from a peer it has not permitted: the hold only forgives the
// order in which two messages arrive. The hold blocks the allocation's read
// loop (later datagrams wait in the socket buffer), so its total per
// allocation is bounded by holdBudget: a stranger spraying a fresh
// allocation costs its owner at most that much delay, once.
const (
	holdMax    = 100 * time.Millisecond
	holdBudget = 300 * time.Millisecond
	holdWindow = 30 * time.Second
	// maxPermits bounds the addresses remembered per allocation; a WebRTC
	// allocation permits a handful (the partner's candidates).
	maxPermits = 16
)

// holdLimits are the three durations above; tests lengthen them so that a
// loaded machine cannot turn a hold into a drop.
type holdLimits struct{ max, budget, window time.Duration }

var defaultHold = holdLimits{max: holdMax, budget: holdBudget, window: holdWindow}

// clientKey names a client's transport address on one transport. The
// listener's own address is left out: the permission hook does not get it,
// and a client uses a fresh source port per connection anyway.
type clientKey struct {
	tcp bool
	ap  netip.AddrPort
}

func clientKeyOf(a net.Addr) (clientKey, bool) {
	ap, ok := addrOf(a)
	if !ok {
		return clientKey{}, false
	}
	_, tcp := a.(*net.TCPAddr)
	return clientKey{tcp: tcp, ap: ap}, true
}

// permits follows one allocation's permissions as pion installs them, for
// the hold. pion keeps its own table; this one only has to know when a
// permission for an address has been installed.
type permits struct {
	active  atomic.Bool                  // holding is still possible (window and budget left)
	granted atomic.Pointer[[]netip.Addr] // installed; replaced, never changed in place

	mu      sync.Mutex // guards the fields below
	pending []netip.Addr
	wake    chan struct{} // closed and replaced whenever granted grows, and at close
	closed  bool
	spent   time.Duration
	until   time.Time
	limits  holdLimits
}

func (p *permits) init(now time.Time, l holdLimits) {
	p.limits = l
	p.until = now.Add(l.window)
	p.wake = make(chan struct{})
	p.active.Store(l.max > 0 && l.budget > 0)
}

func (p *permits) has(a netip.Addr) bool {
	g := p.granted.Load()
	return g != nil && slices.Contains(*g, a)
}

// decided records that the permission hook allowed a; pion installs the
// permission right after and then answers the client.
func (p *permits) decided(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.pending, a) {
		if len(p.pending) == maxPermits {
			p.pending = p.pending[1:]
		}
		p.pending = append(p.pending, a)
	}
}

// answered is called when pion's answer to a CreatePermission or
// ChannelBind is written to the client: on success every pending address is
// installed by now.
func (p *permits) answered(success bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !success || len(p.pending) == 0 {
		p.pending = p.pending[:0]
		return
	}
	var g []netip.Addr
	if old := p.granted.Load(); old != nil {
		g = slices.Clone(*old)
	}
	for _, a := range p.pending {
		if !slices.Contains(g, a) {
			g = append(g, a)
		}
	}
	if len(g) > maxPermits {
		g = g[len(g)-maxPermits:]
	}
	p.granted.Store(&g)
	p.pending = p.pending[:0]
	if !p.closed {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

func (p *permits) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.wake)
	}
	p.active.Store(false)
}

// await holds the caller until a permission for a is installed, for at most
// the time the limits leave. It reports whether it held at all.
func (p *permits) await(a netip.Addr) (held bool) {
	start := time.Now()
	for !p.has(a) {
		p.mu.Lock()
		now := time.Now()
		budget := p.limits.budget - p.spent - now.Sub(start)
		if budget <= 0 || !now.Before(p.until) {
			p.active.Store(false) // for good: no later datagram is held
		}
		left := min(p.limits.max-now.Sub(start), budget)
		if p.closed || left <= 0 || !p.active.Load() {
			p.mu.Unlock()
			break
		}
		wake := p.wake
		p.mu.Unlock()
		held = true
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
	if held {
		p.mu.Lock()
		p.spent += time.Since(start)
		p.mu.Unlock()
	}
	return held
}

// isPermissionAnswer reports whether p is a success or error response to a
// CreatePermission (0x0108, 0x0118) or ChannelBind (0x0109, 0x0119). It
// runs on every datagram written to a client, so it looks at two bytes:
// ChannelData starts with 0x40-0x7f and Data indications with 0x0017.
func isPermissionAnswer(p []byte) (answer, success bool) {
	if len(p) < 20 || p[0] != 0x01 {
		return false, false
	}
	switch p[1] {
	case 0x08, 0x09:
		return true, true
	case 0x18, 0x19:
		return true, false
	}
	return false, false
}

// permissionDecided is the permission hook's note that client may now
// reach peer (see permits.decided).
func (s *Server) permissionDecided(client net.Addr, peer netip.Addr) {
	if rc := s.relays.byClientAddr(client); rc != nil {
		rc.permits.decided(peer)
	}
}

// answeredClient sees every datagram or frame written to a client.
func (s *Server) answeredClient(p []byte, client net.Addr) {
	if ok, success := isPermissionAnswer(p); ok {
		if rc := s.relays.byClientAddr(client); rc != nil {
			rc.permits.answered(success)
		}
	}
}

// awaitPermission holds a datagram from src that the client has not
// permitted yet (see the comment at the top of this file).
func (c *relayConn) awaitPermission(src net.Addr) {
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return
	}
	a := ua.AddrPort().Addr().Unmap()
	if c.permits.has(a) || !c.srv.policy.AllowedIP(a) {
		return
	}
	c.flush() // nothing held for the client may wait on this
	if c.permits.await(a) {
		c.srv.stats.held.Add(1)
	}
}
