package turn

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// waitFor bounds how long a test waits for something that must happen; it
// is a failure guard, never a timing assertion.
const waitFor = 10 * time.Second

// sessions is the test's stand-in for the store: which session ids are live.
type sessions struct {
	mu   sync.Mutex
	live map[string]bool
}

func (s *sessions) set(id string, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = make(map[string]bool)
	}
	s.live[id] = live
}

func (s *sessions) isLive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id]
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type testServer struct {
	*Server
	sessions *sessions
	logs     *syncBuffer
	secrets  []string // must never appear in a log line
}

// relayRange picks a random 200-port relay range below Linux's ephemeral
// range (32768+), so that the listeners' and clients' ports are outside it.
func relayRange() (lo, hi int) {
	lo = 10000 + rand.IntN(22000/200)*200
	return lo, lo + 199
}

// newTestServer starts a relay on loopback with debug logs captured. At
// cleanup it closes the relay and checks that no log line holds an address,
// a session id or a credential.
func newTestServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{sessions: &sessions{}, logs: &syncBuffer{}}
	lo, hi := relayRange()
	captured := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		UDPListen:    "127.0.0.1:0",
		TCPListen:    "127.0.0.1:0",
		Secret:       testSecret,
		SessionLive:  ts.sessions.isLive,
		RelayPortMin: lo,
		RelayPortMax: hi,
		ReadLoops:    2,
		Logger:       captured,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.Server = srv
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if cfg.Logger != captured {
			return // a benchmark with logs off
		}
		logs := ts.logs.String()
		if !strings.Contains(logs, "turn relay closed") {
			t.Error("the log capture saw nothing: the privacy check below would be void")
		}
		for _, s := range append(ts.secrets, "127.0.0.", "::1", string(testSecret)) {
			if strings.Contains(logs, s) {
				t.Errorf("a log line holds %q:\n%s", s, logs)
			}
		}
	})
	return ts
}

// live registers a live session and remembers its id as a secret for the
// log check; the suffix keeps short names from matching common words.
func (ts *testServer) live(name string) string {
	id := name + "-sid"
	ts.sessions.set(id, true)
	ts.secrets = append(ts.secrets, id)
	return id
}

type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger {
	l := logging.NewDefaultLeveledLoggerForScope("", logging.LogLevelDisabled, nil)
	return l
}

type turnClient struct {
	*pionturn.Client
	conn  net.PacketConn
	relay net.PacketConn // after allocate
	user  string
	pass  string
}

// newClient opens a pion TURN client over UDP from 127.0.0.1 with the given
// credential.
func newClient(t testing.TB, srv *Server, user, pass string) *turnClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startClient(t, srv.UDPAddr().String(), conn, user, pass)
}

func startClient(t testing.TB, server string, conn net.PacketConn, user, pass string) *turnClient {
	t.Helper()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       user,
		Password:       pass,
		Realm:          DefaultRealm,
		Conn:           conn,
		LoggerFactory:  quietLogs{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	tc := &turnClient{Client: c, conn: conn, user: user, pass: pass}
	t.Cleanup(tc.close)
	return tc
}

func (c *turnClient) close() {
	if c.relay != nil {
		_ = c.relay.Close()
		c.relay = nil
	}
	c.Close()
	_ = c.conn.Close()
}

// sessionClient opens a client with a fresh credential for session id.
func (ts *testServer) sessionClient(t testing.TB, id string) *turnClient {
	user, pass := ts.Credentials(id, time.Now())
	ts.secrets = append(ts.secrets, pass)
	return newClient(t, ts.Server, user, pass)
}

func (c *turnClient) allocate() error {
	relay, err := c.Allocate()
	if err == nil {
		c.relay = relay
	}
	return err
}

func (c *turnClient) mustAllocate(t testing.TB) net.PacketConn {
	t.Helper()
	if err := c.allocate(); err != nil {
		t.Fatalf("allocate: %v", err)
	}
	return c.relay
}

// stunCode is the STUN error code inside a pion client error, 0 if none.
func stunCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

func peerAddress(a netip.AddrPort) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		return stun.XORMappedAddress{IP: a.Addr().AsSlice(), Port: int(a.Port())}.AddToAs(m, stun.AttrXORPeerAddress)
	})
}

// request performs an authenticated TURN request of method with attrs on
// the client's allocation, the way a client that bypasses pion's own
// checks would, and returns the response.
func (c *turnClient) request(t testing.TB, method stun.Method, attrs ...stun.Setter) *stun.Message {
	t.Helper()
	server := c.TURNServerAddr()
	first := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	msg, err := stun.Build(append(first, stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PerformTransaction(msg, server, false)
	if err != nil {
		t.Fatalf("%s without credentials: %v", method, err)
	}
	var nonce stun.Nonce
	var realm stun.Realm
	if err := nonce.GetFrom(res.Msg); err != nil {
		t.Fatalf("%s: no nonce in %s", method, res.Msg.Type)
	}
	if err := realm.GetFrom(res.Msg); err != nil {
		t.Fatalf("%s: no realm", method)
	}
	authed := append(first, stun.NewUsername(c.user), realm, nonce,
		stun.NewLongTermIntegrity(c.user, realm.String(), c.pass), stun.Fingerprint)
	if msg, err = stun.Build(authed...); err != nil {
		t.Fatal(err)
	}
	if res, err = c.PerformTransaction(msg, server, false); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res.Msg
}

// channelBind asks for channel num to peer and returns the STUN error code
// of the answer, 0 on success.
func (c *turnClient) channelBind(t testing.TB, peer netip.AddrPort, num uint16) int {
	t.Helper()
	ch := setterFunc(func(m *stun.Message) error {
		m.Add(stun.AttrChannelNumber, []byte{byte(num >> 8), byte(num), 0, 0})
		return nil
	})
	return answerCode(c.request(t, stun.MethodChannelBind, peerAddress(peer), ch))
}

// createPermission asks for a permission to peer and returns the STUN error
// code of the answer, 0 on success, -1 for an error without a code.
func (c *turnClient) createPermission(t testing.TB, peer netip.AddrPort) int {
	t.Helper()
	return answerCode(c.request(t, stun.MethodCreatePermission, peerAddress(peer)))
}

func answerCode(res *stun.Message) int {
	if res.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return -1
	}
	return int(code.Code)
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// udpSink is a loopback UDP socket that must or must not receive.
func udpSink(t testing.TB, addr string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readWithin returns what arrives on c within d (nil if nothing).
func readWithin(c net.PacketConn, d time.Duration) []byte {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func addrPort(a net.Addr) netip.AddrPort {
	ap, _ := addrOf(a)
	return ap
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
