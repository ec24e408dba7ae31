package signaling_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	bolt "go.etcd.io/bbolt"
)

// The tests of the outside audit's findings (issue 10) that live in
// signaling. Each is named after its point.

// Point 1: eight pairs whose receivers never read take no more memory
// than the budgets say: per connection and in total, whatever the
// senders do. The stuck readers are dropped; the senders go on.
func TestSlowReaderMemoryIsBounded(t *testing.T) {
	const perConn, total = 256 << 10, 1 << 20
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.MaxQueuedBytes, c.MaxQueuedTotal = perConn, total
		c.SignalBytesPerSecond, c.SignalBytesBurst = 1e12, 1<<30
		c.MessagesPerSecond, c.Burst = 1e6, 1e6
		c.MaxConnsPerAddr = 64
		c.ResumeWindow = time.Minute
	}))
	frame := []byte(fmt.Sprintf(`{"type":"signal","data":{"sdp":{"type":"offer","sdp":%q}}}`, bigOffer()))
	var senders []*rawConn
	for range 8 {
		sender, stuck := ts.raw(true), ts.raw(true)
		sender.send(joinRandom)
		sender.expect("queued")
		stuck.send(joinRandom)
		stuck.expect("queued")
		stuck.expect("matched")
		sender.expect("matched")
		senders = append(senders, sender)
	}
	// The kernel's socket buffers on loopback take a few megabytes before
	// a queue in the server grows, and the server reads the senders at its
	// own pace: send until a stuck reader is dropped, checking the bound
	// all along.
	peak := int64(0)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ts.srv.Stats().SlowDropped == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no slow reader was dropped after %d rounds: the test did not fill a queue", i)
		}
		for _, s := range senders {
			_ = s.ws.WriteMessage(websocket.TextMessage, frame)
		}
		if q := ts.srv.Stats().QueuedBytes; q > peak {
			peak = q
		}
		if q := ts.srv.Stats().QueuedBytes; q > total {
			t.Fatalf("round %d: %d bytes queued, over the total budget of %d", i, q, total)
		}
	}
	t.Logf("peak %d bytes queued for 8 readers that never read (budgets %d per connection, %d in all)", peak, perConn, total)
}

// Point 3: one address cannot flood the server with sessions, and a
// session that never joined writes nothing to disk.
func TestSessionCreationFlood(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.NewSessionsPerMinute, c.NewSessionBurst = 10, 20
		c.MaxConnsPerAddr = 1000
		// Room in the network's budget for the address's own sessions and
		// a neighbour's, not for the flood's refused upgrades.
		c.NetworkConnectsPerMinute, c.NetworkConnectBurst = 1, 30
	}))
	refused := 0
	for range 60 {
		ws, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("dial: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "too many new sessions") || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("refusal %q without a clear reason or Retry-After", body)
			}
			refused++
			continue
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","v":2}`))
		ws.ReadMessage()
		ws.Close()
	}
	if refused != 40 {
		t.Fatalf("%d of 60 new sessions refused, want the 40 past the burst", refused)
	}
	// Another address, in the same /24, is not affected: the refused
	// upgrades did not use up the network's budget.
	if c := ts.dial(signalingOnly(), from("127.0.0.9")); c.Welcome() == nil {
		t.Fatal("no welcome for another address")
	}
	if n, err := ts.store.SessionCount(); err != nil || n != 0 {
		t.Fatalf("%d session records for sessions that never joined (%v)", n, err)
	}
}

// Point 5: the third report lands while the target is away in its resume
// window: the ban ends that session too, its relay allocation and its
// credentials at once, and its cookie no longer resumes anything.
func TestBanReachesASessionInItsResumeWindow(t *testing.T) {
	ts := newTestServer(t, withRelay(), withConfig(func(c *signaling.Config) { c.ResumeWindow = time.Minute }))
	relayOnly := &client.WebRTCConfig{SettingEngine: client.LoopbackEngine(), ForceRelay: true}
	target := ts.dial(withWebRTC(relayOnly), from("127.0.0.40"))
	for _, a := range []string{"127.0.0.41", "127.0.0.42"} {
		meetAndReport(t, target, ts.dial(signalingOnly(), from(a)))
		wait(t, target, "partner-left")
	}
	third := ts.dial(withWebRTC(relayOnly), from("127.0.0.43"))
	pairUp(t, target, third, client.Join{})
	cred, token := credOf(t, target), target.Token()
	before := ts.relay.Stats().Allocations
	target.Drop() // away: its PeerConnection and relay allocation live on
	wait(t, third, "partner-reconnecting")
	if err := third.Report("abuse"); err != nil {
		t.Fatal(err)
	}
	wait(t, third, "reported")
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.SessionLive(cred) || ts.relay.Stats().Allocations >= before {
		if time.Now().After(deadline) {
			t.Fatalf("after the ban: credential live %v, allocations %d (were %d)", ts.srv.SessionLive(cred), ts.relay.Stats().Allocations, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The cookie, from an address that is not banned, finds no session.
	c := ts.dial(signalingOnly(), from("127.0.0.44"), func(c *client.Config) { c.Token = token })
	if w := c.Welcome(); w.Resumed != nil && *w.Resumed {
		t.Fatal("the banned session resumed from another address")
	}
}

// Point 8: after DELETE /api/me nothing of the session opens, not even
// with the master key and a copy of the data directory, and the records of
// its former partners no longer name it.
func TestErasureLeavesNothingThatOpens(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	join(t, a, client.Join{Name: "Erasable"})
	if err := b.Join(client.Join{Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "matched")
	wait(t, b, "matched")
	if err := a.Next(); err != nil { // b's record now avoids a
		t.Fatal(err)
	}
	wait(t, b, "partner-left")
	keyA, keyB := ts.store.SessionKey(a.Token()), ts.store.SessionKey(b.Token())
	waitStored(t, ts, keyA, func(s *store.Session) bool { return len(s.Avoid) == 1 })
	recA, _ := ts.store.GetSession(keyA)
	waitStored(t, ts, keyB, func(s *store.Session) bool { return len(s.Avoid) == 1 && s.Avoid[0] == recA.ID })

	req, _ := http.NewRequest("DELETE", ts.base+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /api/me: %v %v", resp, err)
	}
	waitStored(t, ts, keyB, func(s *store.Session) bool { return len(s.Avoid) == 0 && len(s.Met) == 0 })
	if _, err := ts.store.GetSession(keyA); err == nil {
		t.Fatal("the erased session is still stored")
	}
	// A copy of the data directory, key included: the erased record's bytes
	// may linger in free pages, but nothing there opens without a token,
	// and the erased ID is nowhere in what b's token opens.
	ts.close()
	raw, err := os.ReadFile(filepath.Join(ts.dir, store.DBName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("Erasable")) || bytes.Contains(raw, []byte(recA.ID)) {
		t.Fatal("the erased session is in the clear in the file")
	}
	db, err := bolt.Open(filepath.Join(ts.dir, store.DBName), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("sessions")).ForEach(func(k, _ []byte) error {
			if hex.EncodeToString(k) == keyA.Hex() {
				return fmt.Errorf("the erased session's key is still a record")
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// waitStored waits until the record of k satisfies ok (the persister
// writes off the request path).
func waitStored(t *testing.T, ts *testServer, k store.SessionKey, ok func(*store.Session) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, err := ts.store.GetSession(k); err == nil && ok(s) {
			return
		}
		if time.Now().After(deadline) {
			s, err := ts.store.GetSession(k)
			t.Fatalf("the stored record never got there: %+v %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Point 10: nobody learns a stable pseudonym of their partner: /api/me
// names no session, and the TURN username carries a random credential id,
// not the session's identity.
func TestNoSessionIDLeaves(t *testing.T) {
	ts := newTestServer(t, withRelay())
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	recB := waitRecord(t, ts, b)
	recA := waitRecord(t, ts, a)
	req, _ := http.NewRequest("GET", ts.base+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{recA.ID, recB.ID, ts.store.SessionKey(b.Token()).Hex(), credOf(t, b), recA.PartnerPeer} {
		if strings.Contains(string(body), secret) {
			t.Fatalf("/api/me holds %q: %s", secret, body)
		}
	}
	for _, c := range []*client.Client{a, b} {
		user := c.Welcome().ICEServers[0].Username
		for _, id := range []string{recA.ID, recB.ID, ts.store.SessionKey(c.Token()).Hex()} {
			if strings.Contains(user, id) {
				t.Fatalf("TURN username %q carries a session's identity", user)
			}
		}
	}
}

func waitRecord(t *testing.T, ts *testServer, c *client.Client) *store.Session {
	t.Helper()
	k := ts.store.SessionKey(c.Token())
	waitStored(t, ts, k, func(*store.Session) bool { return true })
	s, _ := ts.store.GetSession(k)
	return s
}

// Point 11: a planted cookie cannot put its planter into someone's chat.
// Under TLS the cookie is __Host- (no sibling domain can set it); two
// cookies of the name are refused (a fresh session instead); and a session
// resumed from another address gets a new token, so whoever planted the
// old one holds nothing.
func TestSessionFixation(t *testing.T) {
	ts := newTestServer(t)
	attacker := ts.dial(signalingOnly(), from("127.0.0.50"))
	join(t, attacker, client.Join{Name: "Attacker"}) // a stored session worth planting
	waitRecord(t, ts, attacker)
	planted := attacker.Token()
	attacker.Close()

	// The victim's browser sends the planted cookie from another address.
	victim := ts.dial(signalingOnly(), from("127.0.0.51"), func(c *client.Config) { c.Token = planted })
	if victim.Token() == planted {
		t.Fatal("the session resumed from another address kept its token")
	}
	if _, err := ts.store.GetSession(ts.store.SessionKey(planted)); err == nil {
		t.Fatal("the planted token still opens the session")
	}
	// The planter, back with the old token, finds nothing.
	again := ts.dial(signalingOnly(), from("127.0.0.50"), func(c *client.Config) { c.Token = planted })
	if w := again.Welcome(); w.Resumed != nil && *w.Resumed {
		t.Fatal("the planted token still resumes a session")
	}

	// Two cookies of the name: neither is adopted.
	h := http.Header{}
	h.Add("Cookie", signaling.CookieName+"="+victim.Token()+"; "+signaling.CookieName+"="+planted)
	ws, resp, err := websocket.DefaultDialer.Dial(ts.url, h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var fresh bool
	for _, c := range resp.Cookies() {
		fresh = fresh || (c.Name == signaling.CookieName && c.Value != "" && c.Value != victim.Token())
	}
	if !fresh {
		t.Fatal("a request with two session cookies got no fresh session")
	}
}

// The __Host- name and its attributes, over TLS as a browser sees them.
func TestSecureCookieIsHostPrefixed(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.TrustedProxies = append(c.TrustedProxies, netipPrefix("127.0.0.1/32"))
	}))
	h := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"198.51.100.20"}}
	ws, resp, err := websocket.DefaultDialer.Dial(ts.url, h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var got *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == signaling.SecureCookieName {
			got = c
		}
	}
	if got == nil || !got.Secure || !got.HttpOnly || got.Path != "/" || got.Domain != "" || got.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", got)
	}
}

// Point 12: what a modified client can still carry through the server is
// bounded: signals are rebuilt (proto's covert tests measure what survives
// a signal) and a session's signaling is a budget of bytes that refills
// slowly; past it, signals are refused with signal_budget.
func TestCovertChannelBudget(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.SignalBytesBurst, c.SignalBytesPerSecond = 64<<10, 100
		c.MessagesPerSecond, c.Burst = 1e6, 1e6
	}))
	a, b := ts.raw(true), ts.raw(true)
	a.send(joinRandom)
	a.expect("queued")
	b.send(joinRandom)
	a.expect("matched")
	b.expect("queued")
	b.expect("matched")
	frame := fmt.Sprintf(`{"type":"signal","data":{"sdp":{"type":"offer","sdp":%q}}}`, bigOffer())
	sent, refused := 0, 0
	for range 40 {
		a.send(frame)
	}
	for range 40 {
		m := a.nextOrNothing(200 * time.Millisecond)
		if m == nil {
			break
		}
		if m.Type == "error" && m.Code == proto.CodeSignalBudget {
			refused++
		}
	}
	for {
		m := b.nextOrNothing(200 * time.Millisecond)
		if m == nil {
			break
		}
		if m.Type == "signal" {
			sent++
		}
	}
	// 64 KiB of burst passes about 14 descriptions of 4.4 KB; the rest wait
	// for the trickle of 100 bytes a second.
	if sent == 0 || refused == 0 || sent+refused != 40 || sent > 16 {
		t.Fatalf("%d forwarded, %d refused of 40", sent, refused)
	}
}

// New connections from one network (/24 or /48) are limited before the ban
// check, whose memory-hard hash costs CPU for every address not seen
// lately: many addresses of one network cannot spend the server's CPU.
func TestConnectionsPerNetworkAreLimited(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.NetworkConnectsPerMinute, c.NetworkConnectBurst = 5, 10
		c.MaxConnsPerAddr = 1000
	}))
	refused := 0
	for i := range 20 {
		d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 100+i))}}).DialContext}
		ws, resp, err := d.Dial(ts.url, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("dial: %v", err)
			}
			refused++
			continue
		}
		ws.Close()
	}
	if refused != 10 {
		t.Fatalf("%d of 20 connections from one /24 refused, want 10", refused)
	}
}
