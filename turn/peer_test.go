package turn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
)

// listenOn2 moves the relay to 127.0.0.2, so that 127.0.0.1 is not one of
// its own addresses (those are reachable on relay ports, by design). Only
// loopback addresses are ever real targets in these tests: the machine's
// network is closed, and the policy keeps everything else from being sent.
func listenOn2(c *Config) {
	c.UDPListen, c.TCPListen = "127.0.0.2:0", "127.0.0.2:0"
}

// Every forbidden address form is refused for CreatePermission and for
// ChannelBind, by a real pion client talking to the real relay, with 403
// Forbidden (RFC 8656), not 401. The IPv6 forms are judged at the permission
// level: this host has no IPv6 route beyond ::1, and nothing is sent to any
// of them either way.
func TestPeerPolicyForbidden(t *testing.T) {
	ts := newTestServer(t, listenOn2)
	c := ts.sessionClient(t, ts.live("prober"))
	c.mustAllocate(t)

	for i, s := range forbidden {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s).WithZone("")
			peer := netip.AddrPortFrom(a, 3478)
			if err := c.CreatePermission(net.UDPAddrFromAddrPort(peer)); err == nil {
				t.Error("CreatePermission succeeded")
			}
			if code := c.createPermission(t, peer); code != 403 {
				t.Errorf("CreatePermission answered %d, want 403", code)
			}
			if code := c.channelBind(t, peer, uint16(0x4000+i)); code != 403 {
				t.Errorf("ChannelBind answered %d, want 403", code)
			}
		})
	}
	if got, want := ts.Stats().Refused.Policy, uint64(3*len(forbidden)); got != want {
		t.Errorf("policy refusals %d, want %d", got, want)
	}
}

// A UDP socket on 127.0.0.1 receives nothing through the relay, whether the
// client asks politely (permission first) or sends a Send indication with
// no permission at all.
func TestPeerPolicyLoopbackReceivesNothing(t *testing.T) {
	ts := newTestServer(t, listenOn2)
	c := ts.sessionClient(t, ts.live("prober"))
	relay := c.mustAllocate(t)
	victim := udpSink(t, "127.0.0.1:0")
	vp := addrPort(victim.LocalAddr())
	canary := []byte("canary-loopback-7b1f")

	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"} {
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), vp.Port()))
		if _, err := relay.WriteTo(canary, dst); err == nil {
			t.Errorf("relay write to %s succeeded", ip)
		}
	}
	ind, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddress(vp), setterFunc(func(m *stun.Message) error { m.Add(stun.AttrData, canary); return nil }),
		stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.conn.WriteTo(ind.Raw, ts.UDPAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if got := readWithin(victim, 300*time.Millisecond); got != nil {
		t.Fatalf("the loopback socket received %q", got)
	}
}

// The relay reaches its own address only on relay ports: the relay-to-relay
// path between two people who both hide their IP works, while the server's
// other ports (a signaling port, the TURN port itself) get nothing.
func TestPeerPolicyOwnAddress(t *testing.T) {
	ts := newTestServer(t, listenOn2)
	signaling := udpSink(t, "127.0.0.2:0") // ephemeral, outside the relay range
	a := ts.sessionClient(t, ts.live("alice"))
	b := ts.sessionClient(t, ts.live("bob"))
	relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)
	secret := []byte("to-the-signaling-port")

	for _, dst := range []net.Addr{signaling.LocalAddr(), ts.UDPAddr()} {
		// The permission names only the IP, which is ours: granted. The
		// datagram is then dropped by the relay socket for its port.
		if _, err := relayA.WriteTo(secret, dst); err != nil {
			t.Fatalf("write to own address: %v", err)
		}
	}
	eventually(t, "two dropped datagrams", func() bool { return ts.Stats().Dropped == 2 })
	if got := readWithin(signaling, 100*time.Millisecond); got != nil {
		t.Fatalf("the signaling port received %q", got)
	}

	// Relay to relay: allowed, own address on relay ports.
	mustRelay(t, relayA, relayB, []byte("relay-to-relay-canary"))
}

// mustRelay sends payload from one allocation's relay to another's and
// fails unless it arrives. to first lets from's relay address in.
func mustRelay(t *testing.T, from, to net.PacketConn, payload []byte) {
	t.Helper()
	if _, err := to.WriteTo([]byte("hello"), from.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		buf := make([]byte, 1500)
		_ = to.SetReadDeadline(time.Now().Add(waitFor))
		for {
			n, _, err := to.ReadFrom(buf)
			if err != nil {
				return
			}
			if bytes.Equal(buf[:n], payload) {
				got <- buf[:n]
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Resend until to's permission for from's relay is in place.
		if _, err := from.WriteTo(payload, to.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-got:
			if !ok {
				t.Fatal("relay to relay: nothing arrived")
			}
			_ = to.SetReadDeadline(time.Time{})
			return
		case <-tick.C:
		}
	}
}

// capture records every datagram a wrapped socket reads or writes.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (c *capture) add(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	c.n++
}

func (c *capture) contains(b []byte) (found bool, packets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Contains(c.buf.Bytes(), b), c.n
}

func (c *capture) wrap(pc net.PacketConn) net.PacketConn { return &capturedConn{PacketConn: pc, c: c} }

type capturedConn struct {
	net.PacketConn
	c *capture
}

func (w *capturedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := w.PacketConn.ReadFrom(p)
	if err == nil {
		w.c.add(p[:n])
	}
	return n, a, err
}

func (w *capturedConn) WriteTo(p []byte, a net.Addr) (int, error) {
	w.c.add(p)
	return w.PacketConn.WriteTo(p, a)
}

// The capture used by the WebRTC test does see what the relay forwards: a
// plaintext canary sent through two allocations shows up in it, so its
// absence there means something.
func TestCaptureSeesPlaintext(t *testing.T) {
	var cap capture
	ts := newTestServer(t, func(c *Config) { c.WrapPacketConn = cap.wrap })
	a := ts.sessionClient(t, ts.live("alice"))
	relay := a.mustAllocate(t)
	canary := []byte(fmt.Sprintf("plaintext-canary-%d", time.Now().UnixNano()))
	// Send to the client's own relay address: allowed (own address, relay
	// port), so the datagram leaves through a relay socket and comes back in
	// through the same one.
	if _, err := relay.WriteTo(canary, relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the canary in the capture", func() bool { found, _ := cap.contains(canary); return found })
}

// The policy holds on the TCP and TLS listeners too, not just UDP, with the
// same 403 answers.
func TestPeerPolicyEveryTransport(t *testing.T) {
	cfg := selfSignedTLS(t)
	ts := newTestServer(t, func(c *Config) {
		listenOn2(c)
		c.TLS, c.TLSListen = cfg, "127.0.0.2:0"
	})
	pool := x509.NewCertPool()
	pool.AddCert(cfg.Certificates[0].Leaf)
	dial := map[string]func() (net.Conn, error){
		"tcp": func() (net.Conn, error) { return net.Dial("tcp", ts.TCPAddr().String()) },
		"tls": func() (net.Conn, error) {
			return tls.Dial("tcp", ts.TLSAddr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"})
		},
	}
	for name, d := range dial {
		t.Run(name, func(t *testing.T) {
			conn, err := d()
			if err != nil {
				t.Fatal(err)
			}
			user, pass := ts.Credentials(ts.live(name+"-prober"), time.Now())
			ts.secrets = append(ts.secrets, pass)
			c := startClient(t, conn.RemoteAddr().String(), pionturn.NewSTUNConn(conn), user, pass)
			c.mustAllocate(t)
			for i, s := range []string{"127.0.0.1", "10.0.0.5", "169.254.169.254", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "fe80::1"} {
				peer := netip.AddrPortFrom(netip.MustParseAddr(s), 80)
				if code := c.createPermission(t, peer); code != 403 {
					t.Errorf("%s: CreatePermission answered %d, want 403", s, code)
				}
				if code := c.channelBind(t, peer, uint16(0x4000+i)); code != 403 {
					t.Errorf("%s: ChannelBind answered %d, want 403", s, code)
				}
			}
		})
	}
}

// Issue 10, point 13: the relay reached any UDP socket on the server's own
// addresses inside the relay port range, not only its own relay sockets;
// the default range overlaps Linux's ephemeral ports, and a wildcard
// listener counts loopback and LAN addresses as own. Now only live relay
// allocations are reachable there: a socket of another program on a relay
// port gets nothing, neither while it never was a relay port nor after a
// relay socket on that port closed, and relay to relay still works.
func TestRelayReachesNonRelaySockets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string // the TURN listeners' host
		own    string // an own address where the other program listens
	}{
		{"specific", "127.0.0.2", "127.0.0.2"},
		{"wildcard", "0.0.0.0", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) {
				c.UDPListen, c.TCPListen = tc.listen+":0", tc.listen+":0"
			})
			// Another program's socket on the first port of the relay range.
			other := udpSink(t, net.JoinHostPort(tc.own, strconv.Itoa(ts.cfg.RelayPortMin)))
			server := net.JoinHostPort("127.0.0.2", strconv.Itoa(port(ts.UDPAddr())))
			if tc.listen == "0.0.0.0" {
				server = net.JoinHostPort("127.0.0.1", strconv.Itoa(port(ts.UDPAddr())))
			}
			client := func(name string) *turnClient {
				user, pass := ts.Credentials(ts.live(name), time.Now())
				ts.secrets = append(ts.secrets, pass)
				conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				return startClient(t, server, conn, user, pass)
			}
			a, b := client("alice"), client("bob")
			relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)
			mustRelay(t, relayA, relayB, []byte("relay-to-relay"))

			secret := []byte("to-another-program")
			if _, err := relayA.WriteTo(secret, other.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the datagram dropped", func() bool { return ts.Stats().Dropped >= 1 })
			if got := readWithin(other, 100*time.Millisecond); got != nil {
				t.Fatalf("a non-relay socket on an own address received %q", got)
			}

			// bob's allocation ends; another program takes its port.
			bobsPort := addrPort(relayB.LocalAddr()).Port()
			b.close()
			eventually(t, "bob's relay socket closed", func() bool { return !ts.relays.live(bobsPort) })
			taken := udpSink(t, net.JoinHostPort(tc.own, strconv.Itoa(int(bobsPort))))
			dropped := ts.Stats().Dropped
			if _, err := relayA.WriteTo(secret, taken.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the datagram dropped", func() bool { return ts.Stats().Dropped > dropped })
			if got := readWithin(taken, 100*time.Millisecond); got != nil {
				t.Fatalf("the socket that took a closed relay's port received %q", got)
			}
		})
	}
}
