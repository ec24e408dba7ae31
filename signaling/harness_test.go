package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/node"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/signaling/signalingtest"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
	"go.uber.org/goleak"
)

// testServer is a node on 127.0.0.1:0 built by the same builder as the
// binary: a real store in a temporary directory and, when asked, the real
// relay.
type testServer struct {
	t     testing.TB
	node  *node.Node
	srv   *signaling.Server
	store *store.Store
	relay *turn.Server
	http  *http.Server
	tap   *signalingtest.Tap
	logs  *signalingtest.Logs
	dir   string
	url   string // ws://127.0.0.1:port/ws
	base  string // http://127.0.0.1:port
}

type serverOption func(*node.Config)

func withRelay() serverOption {
	return func(c *node.Config) {
		lo := 20000 + rand.IntN(40000)
		c.Relay = &turn.Config{
			UDPListen:    "127.0.0.1:0",
			TCPListen:    "-",
			PublicIP:     netip.MustParseAddr("127.0.0.1"),
			RelayPortMin: lo,
			RelayPortMax: lo + 100,
			AllowPeers:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Logger:       c.Signaling.Logger,
		}
	}
}

func withConfig(f func(*signaling.Config)) serverOption {
	return func(c *node.Config) { f(&c.Signaling) }
}

func withDir(dir string) serverOption {
	return func(c *node.Config) { c.Store.Dir = dir }
}

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	logs := &signalingtest.Logs{}
	cfg := node.Config{
		Store: store.Config{Dir: t.TempDir(), Logger: logs.Logger()},
		Signaling: signaling.Config{
			Logger: logs.Logger(), ResumeWindow: 2 * time.Second, ByeWindow: time.Second,
			// Tests open many sessions from 127.0.0.1.
			NewSessionsPerMinute: 6000, NewSessionBurst: 1000,
			NetworkConnectsPerMinute: 60000, NetworkConnectBurst: 10000,
			// Every client solves the proof of work, at a difficulty that
			// costs a test nothing (pow_test.go tests the real one).
			ProofOfWork: pow.Config{Bits: 1},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, node: n, srv: n.Signaling, store: n.Store, relay: n.Relay, logs: logs, dir: cfg.Store.Dir}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.tap = signalingtest.NewTap(ln)
	ts.http = &http.Server{Handler: ts.srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go ts.http.Serve(ts.tap)
	ts.base = "http://" + ln.Addr().String()
	ts.url = "ws://" + ln.Addr().String() + "/ws"
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	if ts.t.Failed() {
		ts.t.Logf("the server's log:\n%s", ts.logs.String())
		if ts.relay != nil {
			ts.t.Logf("the relay: %+v", ts.relay.Stats())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ts.node.Shutdown(ctx)
	_ = ts.http.Shutdown(ctx)
}

type peerOpt func(*client.Config)

func from(addr string) peerOpt {
	return func(c *client.Config) { c.LocalAddr = netip.MustParseAddr(addr) }
}

func withWebRTC(w *client.WebRTCConfig) peerOpt {
	return func(c *client.Config) { c.WebRTC = w }
}

func signalingOnly() peerOpt { return func(c *client.Config) { c.WebRTC = nil } }

// dial connects a Go peer with a pion PeerConnection.
func (ts *testServer) dial(opts ...peerOpt) *client.Client {
	ts.t.Helper()
	cfg := client.Config{URL: ts.url, WebRTC: &client.WebRTCConfig{SettingEngine: client.LoopbackEngine()}, Logger: ts.logs.Logger().With("side", "client")}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// rawConn is a WebSocket without any client logic, for sending what a real
// client would not.
type rawConn struct {
	t   testing.TB
	ws  *websocket.Conn
	pow *proto.PowSolution // solves welcome's challenge; sent with every join
}

func (ts *testServer) raw(hello bool) *rawConn {
	ts.t.Helper()
	return ts.rawWith(websocket.DefaultDialer, hello)
}

// rawWith is raw through a dialer of the test's own.
func (ts *testServer) rawWith(d *websocket.Dialer, hello bool) *rawConn {
	ts.t.Helper()
	ws, _, err := d.Dial(ts.url, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	rc := &rawConn{t: ts.t, ws: ws}
	ts.t.Cleanup(func() { ws.Close() })
	if hello {
		rc.send(`{"type":"hello","v":1}`)
		w := rc.expect("welcome")
		if w.Pow != nil {
			var err error
			if rc.pow, err = proto.SolvePow(context.Background(), w.Pow); err != nil {
				ts.t.Fatal(err)
			}
		}
	}
	return rc
}

// send sends a frame; a join carries the solution to welcome's proof of
// work, as every client's does.
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if rc.pow != nil && strings.HasPrefix(s, `{"type":"join"`) {
		sol, err := json.Marshal(rc.pow)
		if err != nil {
			rc.t.Fatal(err)
		}
		s = strings.TrimSuffix(s, "}") + `,"pow":` + string(sol) + "}"
	}
	if err := rc.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
}

// next reads the next message, failing on a timeout.
func (rc *rawConn) next() proto.Outbound {
	rc.t.Helper()
	_ = rc.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := rc.ws.ReadMessage()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	var m proto.Outbound
	if err := json.Unmarshal(b, &m); err != nil {
		rc.t.Fatalf("bad frame %q: %v", b, err)
	}
	return m
}

func (rc *rawConn) expect(typ string) proto.Outbound {
	rc.t.Helper()
	m := rc.next()
	if m.Type != typ {
		rc.t.Fatalf("got %s (%s %s), want %s", m.Type, m.Code, m.Message, typ)
	}
	return m
}

func (rc *rawConn) expectError(code string) {
	rc.t.Helper()
	m := rc.expect("error")
	if m.Code != code {
		rc.t.Fatalf("error code %q (%s), want %q", m.Code, m.Message, code)
	}
}

// closeCode reads until the socket closes and returns the close code.
func (rc *rawConn) closeCode() int {
	rc.t.Helper()
	_ = rc.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := rc.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			rc.t.Fatalf("socket ended without a close frame: %v", err)
		}
	}
}

const joinRandom = `{"type":"join","mode":"random","media":"text","consent":true,"adult":true}`

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wait returns the next event of one of the types.
func wait(t testing.TB, c *client.Client, types ...string) client.Event {
	t.Helper()
	ev, err := c.WaitFor(ctxT(t, 15*time.Second), types...)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// pairUp joins two peers and waits until their data channel is open.
func pairUp(t testing.TB, a, b *client.Client, j client.Join) {
	t.Helper()
	if err := a.Join(j); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "queued")
	if err := b.Join(j); err != nil {
		t.Fatal(err)
	}
	ma := wait(t, a, "matched")
	mb := wait(t, b, "matched")
	if ma.Msg.Pair != mb.Msg.Pair || ma.Msg.Role == mb.Msg.Role {
		t.Fatalf("pair %s/%s roles %s/%s", ma.Msg.Pair, mb.Msg.Pair, ma.Msg.Role, mb.Msg.Role)
	}
	wait(t, a, client.EventOpen)
	wait(t, b, client.EventOpen)
}

// join sends a join and waits until the person is queued.
func join(t testing.TB, c *client.Client, j client.Join) {
	t.Helper()
	if err := c.Join(j); err != nil {
		t.Fatal(err)
	}
	wait(t, c, "queued")
}

// match queues a, then b, at random, and waits until both are matched.
func match(t testing.TB, a, b *client.Client) {
	t.Helper()
	join(t, a, client.Join{})
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "matched")
	wait(t, b, "matched")
}

// chat sends text one way and checks it arrives.
func chat(t testing.TB, from, to *client.Client, text string) {
	t.Helper()
	// One end's channel opens a moment before the other's.
	if err := from.WaitOpen(ctxT(t, 10*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	if err := from.Send(text); err != nil {
		t.Fatal(err)
	}
	ev := wait(t, to, client.EventText)
	if ev.Text != text {
		t.Fatalf("received %q, want %q", ev.Text, text)
	}
}

func leakCheck(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t,
			goleak.IgnoreCurrent(),
			goleak.IgnoreTopFunction("github.com/pion/transport/v3/deadline.(*Deadline).handler"),
			goleak.IgnoreAnyFunction("github.com/pion/interceptor/pkg/nack.(*GeneratorInterceptor).loop"),
		)
	})
}

func contains(hay []byte, needle string) bool { return strings.Contains(string(hay), needle) }

// credOf is the TURN credential id a client was given in welcome: the
// username is "expiry:credential-id".
func credOf(t testing.TB, c *client.Client) string {
	t.Helper()
	w := c.Welcome()
	if w == nil || len(w.ICEServers) == 0 {
		t.Fatal("no ICE servers in welcome: the test server has no relay")
	}
	_, id, ok := strings.Cut(w.ICEServers[0].Username, ":")
	if !ok || id == "" {
		t.Fatalf("TURN username %q", w.ICEServers[0].Username)
	}
	return id
}

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// nextOrNothing reads the next message, or returns nil after d.
func (rc *rawConn) nextOrNothing(d time.Duration) *proto.Outbound {
	_ = rc.ws.SetReadDeadline(time.Now().Add(d))
	_, b, err := rc.ws.ReadMessage()
	if err != nil {
		return nil
	}
	var m proto.Outbound
	if err := json.Unmarshal(b, &m); err != nil {
		rc.t.Fatalf("bad frame %q: %v", b, err)
	}
	return &m
}
