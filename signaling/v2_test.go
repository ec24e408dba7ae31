package signaling_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
)

// A client of protocol v1 (no peer ids, as the first browser client) and a
// v2 client chat with each other through real pion peers.
func TestV1AndV2ClientsChat(t *testing.T) {
	ts := newTestServer(t)
	old := ts.dial(func(c *client.Config) { c.Version = 1 })
	cur := ts.dial()
	if old.Welcome().V != 1 || cur.Welcome().V != 2 {
		t.Fatalf("welcome versions %d and %d", old.Welcome().V, cur.Welcome().V)
	}
	pairUp(t, old, cur, client.Join{})
	chat(t, old, cur, "from v1")
	chat(t, cur, old, "from v2")
	pairUp(t, cur, old, client.Join{}) // the other way round: v2 offers
	chat(t, old, cur, "again")
}

// A signal reaches only a member of the sender's own chat: a peer id of
// another chat is no_such_peer, and that chat hears nothing; the partner
// gets it stamped with the sender's peer id.
func TestSignalReachesOnlyItsOwnRoom(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.raw(true), ts.raw(true)
	c, d := ts.raw(true), ts.raw(true)
	pair := func(x, y *rawConn) (proto.Outbound, proto.Outbound) {
		x.send(joinRandom)
		x.expect("queued")
		y.send(joinRandom)
		mx := x.expect("matched")
		y.expect("queued")
		return mx, y.expect("matched")
	}
	ma, mb := pair(a, b)
	mc, _ := pair(c, d)
	if ma.Peer != mb.You || mb.Peer != ma.You || ma.You == ma.Peer {
		t.Fatalf("peer ids: a %s->%s, b %s->%s", ma.You, ma.Peer, mb.You, mb.Peer)
	}
	const cand = `{"candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.10 50312 typ host","sdpMid":"0"}}`
	for _, other := range []string{mc.You, mc.Peer, ma.You, "nobody"} {
		a.send(`{"type":"signal","peer":"` + other + `","data":` + cand + `}`)
		a.expectError("no_such_peer")
	}
	a.send(`{"type":"signal","peer":"` + ma.Peer + `","data":` + cand + `}`)
	if m := b.expect("signal"); m.From != ma.You || m.Data == nil || m.Data.Candidate == nil {
		t.Fatalf("b got %+v", m)
	}
	// A v1-style signal (no peer) goes to the only other member.
	a.send(`{"type":"signal","data":` + cand + `}`)
	if m := b.expect("signal"); m.From != ma.You {
		t.Fatalf("b got %+v", m)
	}
	// c and d heard nothing of it: their next message is what they send
	// each other.
	c.send(`{"type":"signal","data":` + cand + `}`)
	if m := d.expect("signal"); m.From != mc.You {
		t.Fatalf("d got %+v", m)
	}
}

// A peer id says nothing about the session: a new one for every chat, not
// the session's record key, credential id or token, nor made from them.
func TestPeerIDRevealsNothing(t *testing.T) {
	ts := newTestServer(t, withRelay())
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	seen := map[string]bool{}
	secret := []string{a.Token(), ts.store.SessionKey(a.Token()).Hex(), credOf(t, a)}
	for range 2 {
		match(t, a, b)
		you := a.You()
		if len(you) < 16 || seen[you] {
			t.Fatalf("peer id %q: short or reused across chats", you)
		}
		seen[you] = true
		for _, s := range secret {
			if strings.Contains(s, you) || strings.Contains(you, s[:8]) {
				t.Fatalf("peer id %q shares bytes with a session secret", you)
			}
		}
		if err := a.Leave(); err != nil { // not next: the two may meet again
			t.Fatal(err)
		}
		wait(t, a, "left")
		wait(t, b, "partner-left")
	}
}

// The Go client is a client of the protocol, not a part of the server: it
// imports proto and pion, never bbolt, the store, the relay or the matcher.
func TestClientImportsNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/parley-chat/parley/signaling/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"go.etcd.io/bbolt", "parley/store", "parley/turn", "parley/matcher", "parley/signaling/node"} {
			if strings.Contains(dep, bad) {
				t.Errorf("signaling/client depends on %s", dep)
			}
		}
		if strings.HasPrefix(dep, "github.com/parley-chat/parley/") && dep != "github.com/parley-chat/parley/signaling/proto" && dep != "github.com/parley-chat/parley/signaling/client" {
			t.Errorf("signaling/client depends on %s", dep)
		}
	}
}
