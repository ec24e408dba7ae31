package turn

import (
	"encoding/binary"
	"testing"
	"time"
)

// A burst from a peer crosses the batched paths (recvmmsg on the relay
// socket, GSO or sendmmsg to the client, recvmmsg on the listener, GSO
// towards the peer) whole and in order, and the last datagram of a burst is not held back: each burst is
// read completely before the next is sent.
func TestRelayBurstsInOrder(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.sessionClient(t, ts.live("alice"))
	b := ts.sessionClient(t, ts.live("bob"))
	relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)
	mustRelay(t, relayB, relayA, []byte("warm"))
	mustRelay(t, relayA, relayB, []byte("warm"))
	drain(relayA)

	buf := make([]byte, 1500)
	next := uint32(0)
	// The first relayBatchAfter datagrams of an allocation are read one at
	// a time; the bursts after them go through the batched paths.
	for _, burst := range []int{relayBatchAfter, 1, 3, relayBatch, 2*relayBatch + 1, 64} {
		for range burst {
			p := make([]byte, 100)
			binary.BigEndian.PutUint32(p, next)
			next++
			if _, err := relayB.WriteTo(p, relayA.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		for want := next - uint32(burst); want < next; want++ {
			_ = relayA.SetReadDeadline(time.Now().Add(waitFor))
			n, _, err := relayA.ReadFrom(buf)
			if err != nil {
				t.Fatalf("burst of %d: datagram %d never arrived: %v", burst, want, err)
			}
			if got := binary.BigEndian.Uint32(buf[:n]); n != 100 || got != want {
				t.Fatalf("burst of %d: got datagram %d (%d bytes), want %d", burst, got, n, want)
			}
		}
	}
}
