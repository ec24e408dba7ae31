package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
)

// A cluster of real parley processes on loopback, each with its embedded
// NATS, sharing one master key.
type testCluster struct {
	t     *testing.T
	key   string
	dirs  []string
	ports []int // HTTP
	route []int // NATS routes
	procs []*proc
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	tc := &testCluster{t: t, key: hex.EncodeToString(k)}
	for range n {
		tc.dirs = append(tc.dirs, t.TempDir())
		tc.ports = append(tc.ports, freePort(t))
		tc.route = append(tc.route, freePort(t))
	}
	tc.procs = make([]*proc, n)
	for i := range n {
		tc.start(i)
	}
	tc.waitLeader()
	return tc
}

func (tc *testCluster) args(i int) []string {
	var peers []string
	for j, p := range tc.route {
		if j != i {
			peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	return append(serverArgs(tc.dirs[i], tc.ports[i]),
		"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", tc.route[i]),
		"--cluster-peers", strings.Join(peers, ","),
		"--trusted-proxies", "127.0.0.1/32")
}

func (tc *testCluster) start(i int) {
	tc.procs[i] = startParleyEnv(tc.t, []string{"PARLEY_KEY=" + tc.key}, tc.args(i)...)
}

func (tc *testCluster) url(i int) string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", tc.ports[i]) }

// waitLeader waits until some node says it leads and every running node
// follows or leads, and returns the leader's index.
func (tc *testCluster) waitLeader() int {
	tc.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		leader := -1
		settled := true
		for i, p := range tc.procs {
			if p == nil {
				continue
			}
			out := p.output()
			lead := strings.LastIndex(out, "this node leads")
			follow := strings.LastIndex(out, "cluster: following")
			switch {
			case lead >= 0 && lead > follow:
				leader = i
			case follow < 0:
				settled = false
			}
		}
		if leader >= 0 && settled {
			return leader
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, p := range tc.procs {
		if p != nil {
			tc.t.Logf("node %d:\n%s", i, p.output())
		}
	}
	tc.t.Fatal("no leader")
	return -1
}

// dial connects a Go peer with WebRTC to node i, with the others as the
// fallbacks a load balancer would give it.
func (tc *testCluster) dial(i int, from string) *client.Client {
	tc.t.Helper()
	var fb []string
	for j := range tc.procs {
		if j != i {
			fb = append(fb, tc.url(j))
		}
	}
	hdr := map[string][]string{"X-Forwarded-For": {from}}
	var c *client.Client
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err = client.Dial(ctx, client.Config{URL: tc.url(i), Fallback: fb, Header: hdr, WebRTC: loopbackPeer(), Reconnect: true, MaxBackoff: 500 * time.Millisecond})
		cancel()
		if err == nil && c.Welcome().State != "unavailable" {
			break
		}
		if c != nil {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// Two people on different nodes are matched and chat peer to peer; a room
// with members on three nodes forms its mesh.
func TestClusterMatchesAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	a, b := tc.dial(0, "198.51.100.1"), tc.dial(1, "198.51.100.2")
	if err := a.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeQueued)
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeMatched)
	waitEvent(t, b, proto.TypeMatched)
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	if err := a.Send("across the cluster"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, b, client.EventText); ev.Text != "across the cluster" {
		t.Fatalf("got %q", ev.Text)
	}

	var room []*client.Client
	for i := range 3 {
		room = append(room, tc.dial(i, fmt.Sprintf("198.51.100.%d", 10+i)))
	}
	if err := room[0].CreateRoom(client.Room{MemberName: "R0"}); err != nil {
		t.Fatal(err)
	}
	secret := waitEvent(t, room[0], proto.TypeRoomCreated).Msg.Secret
	waitEvent(t, room[0], proto.TypeRoomJoined)
	for i, c := range room[1:] {
		if err := c.JoinRoom(secret, fmt.Sprintf("R%d", i+1), false); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, proto.TypeRoomJoined)
	}
	for _, c := range room {
		for range 2 {
			waitEvent(t, c, client.EventOpen)
		}
	}
}
