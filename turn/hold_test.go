package turn

import (
	"bytes"
	"testing"
	"time"
)

// A datagram from a peer that reaches an allocation a moment before the
// client's own CreatePermission for that peer is delivered once the
// permission is in, instead of being dropped (the permission race that cost
// relayed browser connections one ICE ping interval). A datagram from a peer
// the client never permits is still never delivered.
func TestHoldForPermission(t *testing.T) {
	ts := newTestServer(t, nil)
	// Long enough that a loaded machine cannot turn the hold into a drop.
	ts.hold.Store(&holdLimits{max: waitFor, budget: 2 * waitFor, window: time.Hour})
	a := ts.sessionClient(t, ts.live("alice"))
	b := ts.sessionClient(t, ts.live("bob"))
	relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)

	// b's pion client creates its own permission for a's relay, then sends:
	// the datagram reaches a's relay socket while a has no permission for b.
	early := []byte("early-check")
	before := ts.Stats().PacketsRelayed
	if _, err := relayB.WriteTo(early, relayA.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	// Both relay sockets have seen it (out of b's, into a's): it is held now.
	eventually(t, "the datagram read by a's relay socket", func() bool { return ts.Stats().PacketsRelayed >= before+2 })
	if err := a.CreatePermission(relayB.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = relayA.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 1500)
	n, from, err := relayA.ReadFrom(buf)
	if err != nil {
		t.Fatalf("the early datagram was dropped: %v", err)
	}
	if !bytes.Equal(buf[:n], early) || from.String() != relayB.LocalAddr().String() {
		t.Fatalf("got %q from %s", buf[:n], from)
	}
	if ts.Stats().Held == 0 {
		t.Error("the hold was not counted")
	}
}

// A peer the client never permits gets nothing through, hold or not: the
// datagram is held for the hold's maximum and then dropped.
func TestHoldNeverDeliversUnpermitted(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.hold.Store(&holdLimits{max: 50 * time.Millisecond, budget: time.Second, window: time.Hour})
	a := ts.sessionClient(t, ts.live("alice"))
	b := ts.sessionClient(t, ts.live("bob"))
	relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)
	if _, err := relayB.WriteTo([]byte("stranger"), relayA.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the datagram held", func() bool { return ts.Stats().Held == 1 })
	if got := readWithin(relayA, 300*time.Millisecond); got != nil {
		t.Fatalf("a received %q from a peer it never permitted", got)
	}
}
