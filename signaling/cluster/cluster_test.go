package cluster_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/cluster"
	"github.com/parley-chat/parley/store"
	"go.uber.org/goleak"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three nodes in one process elect one leader, and each leaves nothing
// running behind when it closes: no goroutine of NATS, JetStream, the
// replication or the campaign outlives Close.
func TestNodesCloseClean(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	key := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	ports := []int{freePort(t), freePort(t), freePort(t)}
	type part struct {
		st   *store.Store
		sig  *signaling.Server
		node *cluster.Node
	}
	var parts []part
	for i := range 3 {
		st, err := store.Open(store.Config{Dir: t.TempDir(), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signaling.New(signaling.Config{Store: st, NodeID: fmt.Sprintf("node-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := sig.Start(); err != nil {
			t.Fatal(err)
		}
		var peers []string
		for j, p := range ports {
			if j != i {
				peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		parts = append(parts, part{st: st, sig: sig})
		node, err := cluster.Start(cluster.Config{
			NodeID: fmt.Sprintf("node-%d", i), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Peers: peers,
			Dir: t.TempDir(), Secret: st.Subkey("cluster"),
		}, sig, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		parts[i].node = node
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaders, follows := 0, 0
		for _, p := range parts {
			if l, me := p.node.Leader(); me {
				leaders++
			} else if l != "" {
				follows++
			}
		}
		if leaders == 1 && follows == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d leaders, %d followers", leaders, follows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range parts {
		if err := p.node.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.sig.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.st.Close()
	}
}
