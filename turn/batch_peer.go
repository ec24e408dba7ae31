package turn

import (
	"net"

	"golang.org/x/net/ipv4"
)

// Writes to peers, batched. A listener batch (recvmmsg) often holds several
// datagrams of one client for one peer in a row: a video frame's packets,
// sent as ChannelData or Send indications. pion relays each through the
// client's relay socket as it handles it, on the listener's read loop.
// relayConn.WriteTo keeps them instead, on that loop, and the loop sends
// them when its batch is done (before it waits for the socket again): a run
// for one peer of equal sizes in one sendmsg with UDP GSO, others one by
// one. Nothing waits longer than pion takes to handle the rest of a batch
// that has already arrived, and the order per peer is kept.

// peerOut is one held datagram, in listenConn.peerBuf.
type peerOut struct {
	rc       *relayConn
	to       *net.UDPAddr
	off, len int
}

// isClientData reports whether p, read from a client, carries data for a
// peer: ChannelData (first two bits 01) or a Send indication (0x0016).
func isClientData(p []byte) bool {
	return len(p) >= 4 && (p[0]&0xc0 == 0x40 || (p[0] == 0x00 && p[1] == 0x16))
}

// noteClient records, before pion handles p from src, which relay socket
// pion will write it to, so that relayConn.WriteTo can tell it is called on
// this loop for this datagram.
func (l *listenConn) noteClient(p []byte, src net.Addr) {
	var rc *relayConn
	if isClientData(p) {
		if rc = l.srv.relays.byClientAddr(src); rc != nil && rc.udp != nil {
			rc.loop.Store(l)
		}
	}
	l.cur.Store(rc)
}

// holdForPeer keeps a copy of p for to, reporting false when there is no
// room (the caller then flushes and writes it itself).
func (l *listenConn) holdForPeer(rc *relayConn, p []byte, to *net.UDPAddr) bool {
	if l.peerBuf == nil {
		l.peerBuf = make([]byte, listenBatch*listenBuf)
	}
	if l.peerLen+len(p) > len(l.peerBuf) || len(l.peerOut) == listenBatch {
		return false
	}
	n := copy(l.peerBuf[l.peerLen:], p)
	l.peerOut = append(l.peerOut, peerOut{rc: rc, to: to, off: l.peerLen, len: n})
	l.peerLen += n
	return true
}

// flushPeers sends every held datagram, each run for one relay socket and
// one peer together.
func (l *listenConn) flushPeers() {
	out := l.peerOut
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && out[j].rc == out[i].rc && sameUDP(out[j].to, out[i].to) {
			j++
		}
		l.sendRun(out[i:j])
		i = j
	}
	clear(l.peerOut)
	l.peerOut, l.peerLen = l.peerOut[:0], 0
}

// sendRun sends datagrams for one peer through one relay socket: in one
// sendmsg with GSO when all but the last have one size and the last is not
// longer, else with one sendmmsg.
func (l *listenConn) sendRun(run []peerOut) {
	rc, to := run[0].rc, run[0].to
	if len(run) == 1 {
		_, _ = rc.udp.WriteToUDP(l.peerBuf[run[0].off:run[0].off+run[0].len], to)
		return
	}
	size, equal := run[0].len, true
	for i, o := range run {
		if o.len > size || (o.len < size && i != len(run)-1) || o.off != run[0].off+i*size {
			equal = false
			break
		}
	}
	if equal && l.batch.gso.Load() {
		first, last := run[0], run[len(run)-1]
		if _, _, err := rc.udp.WriteMsgUDP(l.peerBuf[first.off:last.off+last.len], gsoControl(l.oob[:], size), to); err == nil {
			return
		}
		l.batch.gso.Store(false)
	}
	if rc.wpc == nil {
		rc.wpc = ipv4.NewPacketConn(rc.udp)
	}
	msgs := make([]ipv4.Message, len(run))
	for i, o := range run {
		msgs[i] = ipv4.Message{Buffers: [][]byte{l.peerBuf[o.off : o.off+o.len]}, Addr: to}
	}
	for len(msgs) > 0 {
		k, err := rc.wpc.WriteBatch(msgs, 0)
		if err != nil {
			return
		}
		msgs = msgs[k:]
	}
}

func sameUDP(a, b *net.UDPAddr) bool {
	return a.Port == b.Port && a.IP.Equal(b.IP)
}

// heldByLoop is relayConn.WriteTo's batched path: on the listener loop
// that is handling a datagram of this allocation's client, the datagram for
// the peer is held until the loop's batch is done. It reports whether it
// took p.
func (c *relayConn) heldByLoop(p []byte, to *net.UDPAddr) bool {
	l := c.loop.Load()
	if l == nil || l.cur.Load() != c {
		return false // not on the loop handling this client's datagram
	}
	dst := &net.UDPAddr{IP: to.IP, Port: to.Port, Zone: to.Zone} // pion may reuse to
	if !l.holdForPeer(c, p, dst) {
		l.flushPeers()
		if !l.holdForPeer(c, p, dst) {
			return false
		}
	}
	if !l.batch.pending() {
		l.flushPeers() // the last datagram of the batch: send the lot now
	}
	return true
}
