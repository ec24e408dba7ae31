package turn

import (
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// Batch sizes: how many datagrams one recvmmsg may return, and the size of
// each slot. A busy listener socket (many clients, one read loop) often has
// several datagrams queued, and so does a relay socket carrying a video
// call (a frame is a burst of packets): reading them in one system call
// saves the call, and the wake-up of the reader, for all but the first.
//
// Listener slots are larger than pion's 1,600-byte inbound MTU, so that a
// datagram pion drops for its size is still seen at its full length. Relay
// slots are pion's own relay buffer (1,600 bytes), which truncates the same
// way. There is one relay socket per allocation, so their batches are small
// (8 x 1,600 bytes) and made only once the allocation has relayed
// relayBatchAfter datagrams towards its client: a text chat's data channel
// never needs one, a call does within a second or two.
const (
	listenBatch, listenBuf = 16, 2048
	relayBatch, relayBuf   = 8, 1600
	relayBatchAfter        = 256
)

// batchReader reads datagrams from a UDP socket with recvmmsg
// (golang.org/x/net/ipv4 ReadBatch) and hands them out one at a time, as
// net.PacketConn.ReadFrom does. Only one goroutine (pion's read loop of the
// socket) calls it.
type batchReader struct {
	uc   *net.UDPConn
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	n, i int
	// gso: the socket may send a run of equal datagrams in one sendmsg
	// (UDP_SEGMENT); cleared for good at the first failure.
	gso atomic.Bool
}

// newBatchReader returns a batchReader for c, or nil when c is not a plain
// UDP socket (a test's wrapper, another OS).
func newBatchReader(c net.PacketConn, size, slot int) *batchReader {
	uc, ok := c.(*net.UDPConn)
	if !ok || !batchSupported {
		return nil
	}
	b := &batchReader{uc: uc, pc: ipv4.NewPacketConn(uc), msgs: make([]ipv4.Message, size)}
	b.gso.Store(gsoSupported(uc))
	buf := make([]byte, size*slot)
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{buf[i*slot : (i+1)*slot]}
	}
	return b
}

// ReadFrom copies the next datagram into p and returns its length as read
// (which may exceed len(p): pion's listener loop drops what fills its
// buffer).
func (b *batchReader) ReadFrom(p []byte) (int, net.Addr, error) {
	for b.i >= b.n {
		n, err := b.pc.ReadBatch(b.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		b.n, b.i = n, 0
	}
	m := &b.msgs[b.i]
	b.i++
	copy(p, m.Buffers[0][:m.N])
	return m.N, m.Addr, nil
}

// pending reports whether datagrams of the last batch are still to be
// handed out (the next ReadFrom will not wait for the socket).
func (b *batchReader) pending() bool { return b.i < b.n }

// Writes to a client, batched. A batch read from a relay socket holds
// datagrams from the client's peers, all for that one client: pion relays
// them one by one, on the allocation's own goroutine, through the listener
// socket. While more of the batch is to come, listenConn.WriteTo keeps
// pion's ChannelData and Data indications in the allocation's outBatch, and
// the last one (or the allocation's next wait for its socket) sends them all
// with one sendmmsg. Nothing waits longer than pion takes to relay the rest
// of a batch that has already arrived.

// outBatch is one allocation's held datagrams; taken from outPool when the
// first is held and put back when sent, so an idle allocation holds none.
type outBatch struct {
	via  *listenConn
	to   net.Addr
	msgs [relayBatch + 1]ipv4.Message
	bufs [relayBatch + 1][relayBuf + 64]byte // ChannelData or Data indication of a relay slot
	n    int
	gso  [(relayBatch + 1) * (relayBuf + 64)]byte
	oob  [64]byte
}

var outPool = sync.Pool{New: func() any { return new(outBatch) }}

// isPeerData reports whether p, written to a client, carries a peer's
// datagram: ChannelData (first two bits 01) or a Data indication (0x0017).
func isPeerData(p []byte) bool {
	return len(p) >= 4 && (p[0]&0xc0 == 0x40 || (p[0] == 0x00 && p[1] == 0x17))
}

// hold keeps p for the client at to, unless it does not fit; it reports
// whether it did.
func (c *relayConn) hold(via *listenConn, p []byte, to net.Addr) bool {
	if c.out == nil {
		c.out = outPool.Get().(*outBatch)
		c.out.via, c.out.to = via, to
	}
	o := c.out
	if o.n == len(o.msgs)-1 || len(p) > len(o.bufs[0]) || o.via != via || !sameAddr(o.to, to) {
		return false
	}
	o.msgs[o.n].Buffers = [][]byte{o.bufs[o.n][:copy(o.bufs[o.n][:], p)]}
	o.msgs[o.n].Addr = to
	o.n++
	return true
}

// flush sends what c holds, then p (if not nil), in one sendmmsg.
func (c *relayConn) flushWith(p []byte, to net.Addr) (int, error) {
	o := c.out
	if o == nil || o.n == 0 {
		return -1, nil
	}
	msgs := o.msgs[:o.n]
	if p != nil {
		o.msgs[o.n].Buffers = [][]byte{p}
		o.msgs[o.n].Addr = to
		msgs = o.msgs[:o.n+1]
	}
	var err error
	if !o.writeGSO(msgs) {
		for len(msgs) > 0 && err == nil {
			var k int
			k, err = o.via.batch.pc.WriteBatch(msgs, 0)
			msgs = msgs[k:]
		}
	}
	c.dropOut()
	return len(p), err
}

// writeGSO sends msgs, all to o.to, in one sendmsg with UDP_SEGMENT when
// they are all the same size but the last, which may be shorter (a run of
// ChannelData of one video frame often is). It reports whether it did.
func (o *outBatch) writeGSO(msgs []ipv4.Message) bool {
	b := o.via.batch
	if len(msgs) < 2 || !b.gso.Load() {
		return false
	}
	ua, ok := o.to.(*net.UDPAddr)
	size := len(msgs[0].Buffers[0])
	if !ok || size == 0 {
		return false
	}
	total := 0
	for i, m := range msgs {
		n := len(m.Buffers[0])
		if n > size || (n < size && i != len(msgs)-1) {
			return false
		}
		total += copy(o.gso[total:], m.Buffers[0])
	}
	if _, _, err := b.uc.WriteMsgUDP(o.gso[:total], gsoControl(o.oob[:], size), ua); err != nil {
		b.gso.Store(false) // the kernel or the route cannot: sendmmsg from now on
		return false
	}
	return true
}

func (c *relayConn) flush() {
	if c.out != nil && c.out.n > 0 {
		_, _ = c.flushWith(nil, nil)
	}
}

// dropOut returns the held batch to the pool, sent or not. Only the
// allocation's own goroutine (pion's loop reading the relay socket) calls
// it, as it alone touches c.out.
func (c *relayConn) dropOut() {
	if o := c.out; o != nil {
		for i := range o.msgs {
			o.msgs[i] = ipv4.Message{}
		}
		o.n, o.via, o.to = 0, nil, nil
		c.out = nil
		outPool.Put(o)
	}
}

// writeData handles a peer's datagram for the client at to (see above). It
// reports false when the datagram is to be written the ordinary way.
func (l *listenConn) writeData(p []byte, to net.Addr) (int, bool, error) {
	rc := l.srv.relays.byClientAddr(to)
	if rc == nil || rc.batch == nil {
		return 0, false, nil
	}
	if rc.batch.pending() && rc.hold(l, p, to) {
		return len(p), true, nil
	}
	if rc.out != nil && rc.out.n > 0 {
		if rc.out.via == l && sameAddr(rc.out.to, to) {
			n, err := rc.flushWith(p, to)
			return n, true, err
		}
		rc.flush()
	}
	return 0, false, nil
}

func sameAddr(a, b net.Addr) bool {
	x, okx := addrOf(a)
	y, oky := addrOf(b)
	return okx && oky && x == y
}
