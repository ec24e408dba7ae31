package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
	"go.uber.org/goleak"
)

func TestConfigValidate(t *testing.T) {
	live := func(string) bool { return true }
	base := func() Config {
		return Config{UDPListen: "127.0.0.1:0", TCPListen: Disabled, Secret: testSecret, SessionLive: live}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"no secret", func(c *Config) { c.Secret = nil }, ErrNoSecret},
		{"short secret", func(c *Config) { c.Secret = []byte("short") }, ErrNoSecret},
		{"no SessionLive", func(c *Config) { c.SessionLive = nil }, ErrNoSessionLive},
		{"no listener", func(c *Config) { c.UDPListen = Disabled }, ErrNoListener},
		{"TLS listen without TLS", func(c *Config) { c.UDPListen, c.TLSListen = Disabled, "127.0.0.1:0" }, ErrNoListener},
		{"inverted ports", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 40000 }, ErrBadRelayPorts},
		{"port too high", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 70000 }, ErrBadRelayPorts},
		{"only max", func(c *Config) { c.RelayPortMax = 40000 }, ErrBadRelayPorts},
		{"negative limit", func(c *Config) { c.MaxPerSession = -1 }, ErrBadLimit},
		{"negative ttl", func(c *Config) { c.CredentialTTL = -time.Hour }, ErrBadLimit},
		{"IPv6 public IP", func(c *Config) { c.PublicIP = netip.MustParseAddr("2001:db8::1") }, ErrBadPublicIP},
		{"bad listen", func(c *Config) { c.UDPListen = "nonsense" }, ErrBadListen},
		{"port taken", func(c *Config) { c.TCPListen = takenTCPPort(t) }, ErrListen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			srv, err := New(cfg)
			if !errors.Is(err, tt.want) {
				if srv != nil {
					_ = srv.Close()
				}
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

func takenTCPPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr().String()
}

// Every listener pion serves carries the peer policy, and a configuration
// where one would not is refused: pion's default permits every peer.
func TestEveryListenerHasPolicy(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.ReadLoops = 3
		c.TLS, c.TLSListen = selfSignedTLS(t), "127.0.0.1:0"
	})
	if n, m := len(ts.pcfg.PacketConnConfigs), len(ts.pcfg.ListenerConfigs); n != 3 || m != 2 {
		t.Fatalf("%d packet conns and %d listeners, want 3 and 2", n, m)
	}
	if err := checkPermissionHandlers(&ts.pcfg); err != nil {
		t.Fatal(err)
	}
	for i := range ts.pcfg.PacketConnConfigs {
		cfg := ts.pcfg
		cfg.PacketConnConfigs = slices.Clone(cfg.PacketConnConfigs)
		cfg.PacketConnConfigs[i].PermissionHandler = nil
		if err := checkPermissionHandlers(&cfg); !errors.Is(err, ErrNoPermissionHandler) {
			t.Errorf("packet conn %d without a policy: %v", i, err)
		}
	}
	for i := range ts.pcfg.ListenerConfigs {
		cfg := ts.pcfg
		cfg.ListenerConfigs = slices.Clone(cfg.ListenerConfigs)
		cfg.ListenerConfigs[i].PermissionHandler = nil
		if err := checkPermissionHandlers(&cfg); !errors.Is(err, ErrNoPermissionHandler) {
			t.Errorf("listener %d without a policy: %v", i, err)
		}
	}
	// The read loops share one port.
	for _, c := range ts.udp {
		if c.LocalAddr().String() != ts.UDPAddr().String() {
			t.Errorf("read loop socket on %s, want %s", c.LocalAddr(), ts.UDPAddr())
		}
	}
}

func TestDefaults(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 0 })
	if ts.PublicIP() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("PublicIP %s, want 127.0.0.1 for a loopback listen", ts.PublicIP())
	}
	c := ts.cfg
	if c.RelayPortMin != 49152 || c.RelayPortMax != 65535 || c.Realm != "parley" ||
		c.CredentialTTL != 24*time.Hour || c.MaxPerSession != 32 || c.MaxPerPrefix != 64 || c.MaxPerNetwork != 256 ||
		c.MaxTotal != 4096 || c.MaxConnsPerPrefix != 64 || c.MaxConns != 4096 {
		t.Errorf("defaults %+v", c)
	}
	relay := ts.sessionClient(t, ts.live("d")).mustAllocate(t)
	if p := addrPort(relay.LocalAddr()).Port(); p < 49152 {
		t.Errorf("relay port %d outside the default range", p)
	}
}

// Close returns once everything has stopped, including TCP connections that
// clients keep open, with no goroutine left behind.
func TestCloseStopsEverything(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ts := newTestServer(t, nil)
	udp := ts.sessionClient(t, ts.live("udp"))
	udp.mustAllocate(t)

	conn, err := net.Dial("tcp", ts.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	user, pass := ts.Credentials(ts.live("tcp"), time.Now())
	tcp := startClient(t, ts.TCPAddr().String(), pionturn.NewSTUNConn(conn), user, pass)
	tcp.mustAllocate(t)
	eventually(t, "two allocations", func() bool { return ts.Stats().Allocations == 2 })

	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if n := ts.Stats().Allocations; n != 0 {
		t.Errorf("%d allocations after Close", n)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("the TCP client's connection is still open: %v", err)
	}
	tcp.close()
	udp.close()
	goleak.VerifyNone(t, ignore)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

// turns: a client allocates over TLS with a certificate generated here, and
// relays to a UDP allocation.
func TestTLS(t *testing.T) {
	cfg := selfSignedTLS(t)
	ts := newTestServer(t, func(c *Config) { c.TLS, c.TLSListen = cfg, "127.0.0.1:0" })
	urls := ts.ICEServers("x", time.Now())[0].URLs
	if want := fmt.Sprintf("turns:127.0.0.1:%d?transport=tcp", port(ts.TLSAddr())); urls[len(urls)-1] != want {
		t.Errorf("last URL %s, want %s", urls[len(urls)-1], want)
	}

	pool := x509.NewCertPool()
	pool.AddCert(cfg.Certificates[0].Leaf)
	conn, err := tls.Dial("tcp", ts.TLSAddr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := ts.Credentials(ts.live("tls"), time.Now())
	ts.secrets = append(ts.secrets, pass)
	overTLS := startClient(t, ts.TLSAddr().String(), pionturn.NewSTUNConn(conn), user, pass)
	relayTLS := overTLS.mustAllocate(t)
	if p := int(addrPort(relayTLS.LocalAddr()).Port()); p < ts.cfg.RelayPortMin || p > ts.cfg.RelayPortMax {
		t.Errorf("relay port %d outside the range", p)
	}
	relayUDP := ts.sessionClient(t, ts.live("udp")).mustAllocate(t)
	mustRelay(t, relayTLS, relayUDP, []byte("over-tls"))
	mustRelay(t, relayUDP, relayTLS, []byte("back-over-tls"))
}

// selfSignedTLS returns a server TLS config with a fresh certificate for
// 127.0.0.1; its Leaf is set for the client's pool.
func selfSignedTLS(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "parley test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
	}
}

// The default listen address (":3478") is a dual-stack socket: datagrams
// from IPv4 clients arrive as IPv4-mapped IPv6 addresses, through the
// batched reads (recvmmsg) too, and the relay serves them like any other.
func TestDualStackListener(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.UDPListen, c.TCPListen = ":0", ":0"
		c.PublicIP = netip.MustParseAddr("127.0.0.1")
	})
	dial := fmt.Sprintf("127.0.0.1:%d", port(ts.UDPAddr()))
	client := func(name string) *turnClient {
		user, pass := ts.Credentials(ts.live(name), time.Now())
		ts.secrets = append(ts.secrets, pass)
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return startClient(t, dial, conn, user, pass)
	}
	relayA, relayB := client("alice").mustAllocate(t), client("bob").mustAllocate(t)
	mustRelay(t, relayA, relayB, []byte("dual-stack"))
	mustRelay(t, relayB, relayA, []byte("dual-stack-back"))
}
