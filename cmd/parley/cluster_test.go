package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// A cluster of real parley processes on loopback, each with its embedded
// NATS, sharing one master key.
type testCluster struct {
	t     testing.TB
	key   string
	dirs  []string
	ports []int // HTTP
	admin []int // the admin listeners (/metrics)
	route []int // NATS routes
	procs []*proc
}

func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	tc := &testCluster{t: t, key: hex.EncodeToString(k)}
	for range n {
		tc.dirs = append(tc.dirs, t.TempDir())
		tc.ports = append(tc.ports, freePort(t))
		tc.admin = append(tc.admin, freePort(t))
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
		"--trusted-proxies", "127.0.0.1/32",
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", tc.admin[i]))
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

	// Four more chats across nodes: 13 people on three nodes, 5 chats, all
	// formed on the leader. Every node's front page counts the cluster.
	for i := range 4 {
		x, y := tc.dial(i%3, fmt.Sprintf("198.51.100.%d", 20+2*i)), tc.dial((i+1)%3, fmt.Sprintf("198.51.100.%d", 21+2*i))
		if err := x.Join(client.Join{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, x, proto.TypeQueued)
		if err := y.Join(client.Join{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, x, proto.TypeMatched)
		waitEvent(t, y, proto.TypeMatched)
	}
	for i := range tc.procs {
		tc.waitStats(i, `{"onlineAtLeast":10,"chatsToday":5,"avgChatSeconds":null}`)
	}

	// Each node's /metrics says whether it leads: one node does.
	leaders := 0
	for i := range tc.procs {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", tc.admin[i]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^parley_cluster_leader ([01])$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("node %d has no parley_cluster_leader", i)
		}
		if string(m[1]) == "1" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes say they lead", leaders)
	}
}

// waitStats waits until node i's GET /api/stats answers want.
func (tc *testCluster) waitStats(i int, want string) {
	tc.t.Helper()
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/stats", tc.ports[i]))
		if err != nil {
			tc.t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			tc.t.Fatal(err)
		}
		if got = strings.TrimSpace(string(b)); got == want {
			return
		}
	}
	tc.t.Fatalf("node %d /api/stats: %s, want %s", i, got, want)
}

// kill stops node i with SIGKILL and waits for it.
func (tc *testCluster) kill(i int) {
	tc.t.Helper()
	if err := tc.procs[i].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tc.t.Fatal(err)
	}
	<-tc.procs[i].done
	tc.procs[i] = nil
}

// newLeader waits until a node other than old says it leads.
func (tc *testCluster) newLeader(old int) int {
	tc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, p := range tc.procs {
			if p != nil && i != old && strings.Contains(p.output(), "this node leads") {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.t.Fatal("no new leader")
	return -1
}

// pairs records every client's chats, to prove that nobody is ever in two
// at once: a client's matched of another pair while one is open is a
// double pairing.
type pairs struct {
	mu   sync.Mutex
	open map[*client.Client]string // the pair a client is in now
	bad  []string
}

func (ps *pairs) watch(t *testing.T, c *client.Client, name string, matched chan<- string) {
	go func() {
		for {
			ev, err := c.Event(context.Background())
			if err != nil {
				return
			}
			if ev.Msg == nil {
				continue
			}
			ps.mu.Lock()
			switch ev.Type {
			case proto.TypeMatched:
				if cur := ps.open[c]; cur != "" && cur != ev.Msg.Pair {
					ps.bad = append(ps.bad, fmt.Sprintf("%s matched into %s while in %s", name, ev.Msg.Pair, cur))
				}
				ps.open[c] = ev.Msg.Pair
				select {
				case matched <- name:
				default:
				}
			case proto.TypePartnerLeft, proto.TypeLeft:
				ps.open[c] = ""
			}
			ps.mu.Unlock()
		}
	}()
}

// The leader is killed with kill -9: another node leads within seconds,
// the people who were waiting on the other nodes are still waiting (in
// their original order, their preference only ever in memory) and meet
// the newcomers, chats in progress are not broken up, and nobody is ever
// in two chats at once.
func TestClusterLeaderKilled(t *testing.T) {
	tc := startCluster(t, 3)
	leader := tc.waitLeader()
	var followers []int
	for i := range 3 {
		if i != leader {
			followers = append(followers, i)
		}
	}
	ps := &pairs{open: map[*client.Client]string{}}
	matched := make(chan string, 64)
	prefs := []string{}
	var waiters []*client.Client
	for i := range 4 {
		c := tc.dial(followers[i%2], fmt.Sprintf("198.51.100.%d", 20+i))
		prefs = nil
		for _, p := range c.Welcome().Preferences {
			prefs = append(prefs, p.ID)
		}
		if err := c.Join(client.Join{Mode: "opposite", Media: "video", Preference: prefs[0]}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, proto.TypeQueued)
		ps.watch(t, c, fmt.Sprintf("waiter%d", i), matched)
		waiters = append(waiters, c)
	}
	a, b := tc.dial(followers[0], "198.51.100.30"), tc.dial(followers[1], "198.51.100.31")
	if err := a.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeQueued)
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	pairAB := waitEvent(t, a, proto.TypeMatched).Msg.Pair
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	// The chat's records reach the other nodes' copies (what /api/me reads
	// there) before the leader dies.
	tc.waitStored(followers, a, b)

	killed := time.Now()
	tc.kill(leader)
	tc.newLeader(leader)
	t.Logf("a new leader %v after the kill", time.Since(killed).Round(10*time.Millisecond))

	var newcomers []*client.Client
	for i := range 4 {
		c := tc.dial(followers[i%2], fmt.Sprintf("198.51.100.%d", 40+i))
		if err := c.Join(client.Join{Mode: "opposite", Media: "video", Preference: prefs[1]}); err != nil {
			t.Fatal(err)
		}
		ps.watch(t, c, fmt.Sprintf("newcomer%d", i), matched)
		newcomers = append(newcomers, c)
	}
	got := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(got) < 8 {
		select {
		case name := <-matched:
			if len(got) == 0 {
				t.Logf("matching again %v after the kill", time.Since(killed).Round(10*time.Millisecond))
			}
			got[name] = true
		case <-deadline:
			t.Fatalf("only %v were matched after the failover: someone was lost from the queue", got)
		}
	}
	if err := a.Send("still talking"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, b, client.EventText); ev.Text != "still talking" {
		t.Fatalf("got %q", ev.Text)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.bad) > 0 {
		t.Fatalf("paired twice at once: %v", ps.bad)
	}
	_ = pairAB
}

// A node with a person in a chat dies: the person comes back through
// another node and the chat resumes; the partner hears
// partner-reconnecting meanwhile.
func TestClusterNodeKilledChatResumes(t *testing.T) {
	tc := startCluster(t, 3)
	leader := tc.waitLeader()
	var f []int
	for i := range 3 {
		if i != leader {
			f = append(f, i)
		}
	}
	a, b := tc.dial(f[0], "198.51.100.50"), tc.dial(f[1], "198.51.100.51")
	if err := a.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeQueued)
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	pair := waitEvent(t, a, proto.TypeMatched).Msg.Pair
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	tc.waitStored([]int{f[1]}, a, b) // the chat's records reach the node that stays

	tc.kill(f[0])
	// b hears partner-reconnecting when the leader notices the node died
	// before a is back (a few seconds of silence); a quicker a is simply
	// back, and both hear matched, resumed.
	waitEvent(t, a, client.EventReconnected)
	ma := waitEvent(t, a, proto.TypeMatched).Msg
	if ma.Pair != pair || ma.Resumed == nil || !*ma.Resumed {
		t.Fatalf("after the node died: %+v", ma)
	}
	waitEvent(t, a, client.EventOpen)
	waitEvent(t, b, client.EventOpen)
	if err := a.Send("back through another node"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, b, client.EventText); ev.Text != "back through another node" {
		t.Fatalf("got %q", ev.Text)
	}
}

// waitStored waits until the copies of nodes hold the chats of cs.
func (tc *testCluster) waitStored(nodes []int, cs ...*client.Client) {
	tc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, i := range nodes {
		base := fmt.Sprintf("http://127.0.0.1:%d", tc.ports[i])
		for _, c := range cs {
			for !storedInChat(tc.t, base, c.Token()) {
				if time.Now().After(deadline) {
					tc.t.Fatalf("node %d's copy never held the chat", i)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// Reports made on different nodes count towards one ban; the ban refuses a
// connection on another node within a second, and the banned session's
// relay credential on a third.
func TestClusterBanEverywhere(t *testing.T) {
	tc := startCluster(t, 3)
	const target = "198.51.100.60"
	// The target is on node 2; its credential is for node 2's relay, which
	// every relay honours.
	tgt := tc.dial(2, target)
	user, pass := tgt.Welcome().ICEServers[0].Username, tgt.Welcome().ICEServers[0].Credential
	for i, r := range []string{"198.51.100.61", "198.51.100.62", "198.51.100.63"} {
		rep := tc.dial(i%3, r)
		if err := tgt.Join(client.Join{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, tgt, proto.TypeQueued)
		if err := rep.Join(client.Join{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, rep, proto.TypeMatched)
		if err := rep.Report("abuse"); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, rep, proto.TypeReported)
	}
	banned := time.Now()
	waitEvent(t, tgt, proto.TypeBanned)
	// A new connection from the banned address to node 0 within a second.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Dial(ctx, client.Config{URL: tc.url(0), Header: map[string][]string{"X-Forwarded-For": {target}}})
		cancel()
		var ce *client.CloseError
		if errors.As(err, &ce) && ce.Code == proto.CloseBanned {
			t.Logf("refused on another node %v after the ban", time.Since(banned).Round(time.Millisecond))
			break
		}
		if time.Since(banned) > time.Second {
			t.Fatalf("a banned address still connects to another node after 1 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The banned session's credential, on node 1's relay.
	relay := relayAddr(t, tc.procs[1].output())
	if err := allocate(relay, user, pass); err == nil {
		t.Fatal("the banned session's credential still allocates on another node's relay")
	}
}

// relayAddr reads a node's TURN UDP port from its start-up log.
func relayAddr(t *testing.T, logs string) string {
	t.Helper()
	m := regexp.MustCompile(`turn relay listening.* udp_port=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no relay port in the log:\n%s", logs)
	}
	return "127.0.0.1:" + m[1]
}

// allocate asks a TURN server for an allocation with a credential.
func allocate(server, user, pass string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: "parley", LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		return err
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	relay.Close()
	return nil
}

// Two of three nodes stopped: the third cannot lead alone (no quorum), so
// it refuses joins with unavailable, and serves again when they are back.
// The JetStream stores hold no name, address, preference or canary.
func TestClusterMinorityRefusesJoins(t *testing.T) {
	tc := startCluster(t, 3)
	a := tc.dial(0, "198.51.100.70")
	if err := a.Join(client.Join{Name: "Canary-Cluster-Name"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeQueued)
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeLeft)
	for _, i := range []int{1, 2} {
		if err := tc.procs[i].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-tc.procs[i].done
		tc.procs[i] = nil
	}
	// Until this node sees the leader is gone (its lease unrenewed for one
	// and a half lease times) a join may go to the dead leader and get no
	// answer: ask again until the answer is unavailable. The lease may also
	// move to a node that stops next (or to this one), which closes the
	// socket with 1012: the client redials, and a join sent meanwhile fails
	// on the closing socket.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the last node never refused a join")
		}
		if err := a.Join(client.Join{}); err != nil {
			t.Logf("join while the socket is redialled: %v", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ev, err := a.WaitFor(ctx, proto.TypeQueued, proto.TypeError)
		cancel()
		if err == nil && ev.Msg.Code == proto.CodeUnavailable {
			break
		}
		if err == nil && ev.Type == proto.TypeQueued {
			_ = a.Leave()
		}
		// A join and a leave a second stay under the action limit (2/s):
		// asking faster would be answered rate_limited, not unavailable.
		time.Sleep(time.Second)
	}
	// A new connection is welcomed in the degraded state and refused too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := client.Dial(ctx, client.Config{URL: tc.url(0), Header: map[string][]string{"X-Forwarded-For": {"198.51.100.71"}}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Welcome().State != "unavailable" {
		t.Fatalf("welcome state %q", c.Welcome().State)
	}
	tc.start(1)
	tc.start(2)
	tc.waitLeader()
	// A debate across two nodes: the preferences travel from the nodes to
	// the leader, and the scan below looks for them on disk.
	b := tc.dial(1, "198.51.100.72")
	d := tc.dial(0, "198.51.100.73")
	var prefs []string
	for _, p := range b.Welcome().Preferences {
		prefs = append(prefs, p.ID)
	}
	if len(prefs) < 2 {
		t.Fatalf("preferences offered: %v", prefs)
	}
	if err := b.Join(client.Join{Mode: "opposite", Preference: prefs[0]}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b, proto.TypeQueued)
	if err := d.Join(client.Join{Mode: "opposite", Preference: prefs[1]}); err != nil {
		t.Fatal(err)
	}
	if m := waitEvent(t, d, proto.TypeMatched).Msg; m.Mode != "opposite" {
		t.Fatalf("matched %+v", m)
	}

	for i := range tc.procs {
		tc.procs[i].cmd.Process.Signal(syscall.SIGTERM)
		<-tc.procs[i].done
		tc.procs[i] = nil
	}
	for _, dir := range tc.dirs {
		err := filepath.WalkDir(filepath.Join(dir, "nats"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, s := range append([]string{"Canary-Cluster-Name", "198.51.100.7", "random", "opposite"}, prefs...) {
				if bytes.Contains(b, []byte(s)) {
					return fmt.Errorf("%q in %s", s, path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkClusterStart measures a three-node cluster's first start, from
// starting the processes on fresh data directories to a leader that both
// others follow (ms/start): go test -run '^$' -bench ClusterStart
// -benchtime 5x ./cmd/parley
func BenchmarkClusterStart(b *testing.B) {
	parleyBinary(b) // built before the clock runs
	var total time.Duration
	for b.Loop() {
		t0 := time.Now()
		tc := startCluster(b, 3)
		total += time.Since(t0)
		b.StopTimer()
		for i := range tc.procs {
			_ = tc.procs[i].cmd.Process.Kill()
			<-tc.procs[i].done
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
}
