package cluster

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Everything the nodes send each other through NATS is sealed: a client's
// token, address, name and political preference go from a follower to the
// leader, frames come back, and the records are replicated into JetStream;
// a listener on every subject, with the cluster's own client password,
// finds none of them in any message (docs/PRIVACY.md, "Several nodes").
func TestWhatCrossesNATSIsSealed(t *testing.T) {
	const key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	routes := []int{freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)}
	client := freeTCPPort(t)
	var nodes []*Node
	var secret []byte
	for i := range 3 {
		st, err := store.Open(store.Config{Dir: t.TempDir(), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		secret = st.Subkey("cluster")
		sig, err := signaling.New(signaling.Config{Store: st, NodeID: fmt.Sprintf("node-%d", i), NoProofOfWork: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := sig.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sig.Shutdown(t.Context()) })
		var peers []string
		for j, p := range routes {
			if j != i {
				peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		cfg := Config{NodeID: fmt.Sprintf("node-%d", i), Listen: fmt.Sprintf("127.0.0.1:%d", routes[i]), Peers: peers,
			Dir: t.TempDir(), Secret: secret}
		if i == 0 {
			cfg.NATSListen = fmt.Sprintf("127.0.0.1:%d", client)
		}
		n, err := Start(cfg, sig, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	var follower *Node
	var term uint64
	deadline := time.Now().Add(30 * time.Second)
	for follower == nil {
		for _, n := range nodes {
			if leader, t2 := n.current(); leader != "" && leader != n.cfg.NodeID {
				follower, term = n, t2
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(50 * time.Millisecond)
	}

	user, pass := newSealer(secret).credentials("client")
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", client), nats.UserInfo(user, pass))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var seen bytes.Buffer
	subjects := map[string]bool{}
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		seen.WriteString(m.Subject)
		seen.Write(m.Data)
		if parts := strings.SplitN(m.Subject, ".", 3); len(parts) > 1 {
			subjects[parts[0]+"."+parts[1]] = true
		}
		if strings.HasPrefix(m.Subject, "$KV."+bucketKV+".sessions.") {
			subjects["session record"] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A person on the follower: the upgrade, hello and an opposite join,
	// as its transport sends them to the leader.
	const name, pref = "Canary-Nats-Name", "liberal"
	addr := netip.MustParseAddr("198.51.100.93")
	r := &remote{n: follower, term: term}
	now := time.Now()
	sid, token, err := r.Open("", addr, now)
	if err != nil || token == "" {
		t.Fatalf("open through the leader: %q %v", token, err)
	}
	gen, err := r.Hello(sid, proto.Version, addr, signaling.Identity{}, follower.cfg.NodeID, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Message(sid, gen, &proto.Inbound{Type: proto.TypeJoin, Mode: proto.ModeOpposite, Media: proto.MediaText, Name: name,
		Preference: pref, PreferenceConsent: true, Consent: true, Adult: true}, now)
	follower.EndSession("canary-credential")

	deadline = time.Now().Add(10 * time.Second)
	done := false
	for !done && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		done = subjects["parley.call"] && subjects["parley.msg"] && subjects["parley.node"] && subjects["parley.end"] && subjects["parley.counts"] && subjects["session record"]
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, clear := range []string{token, sid, name, pref, "opposite", addr.String(), "canary-credential", "welcome", "queued", `"online":`} {
		if bytes.Contains(seen.Bytes(), []byte(clear)) {
			t.Errorf("%q crossed NATS in the clear", clear)
		}
	}
	if !done {
		t.Fatalf("not every kind of message was seen, so the check proves less: %v", subjects)
	}
}
