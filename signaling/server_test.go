package signaling_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
)

// The heart of parley: two people are matched, connect peer to peer, and
// what they say never crosses the server.
func TestTwoPeersChatAndTheServerNeverSeesIt(t *testing.T) {
	leakCheck(t)
	ts := newTestServer(t)
	a, b := ts.dial(), ts.dial()
	pairUp(t, a, b, client.Join{Name: "Ann"})

	const canaryAB = "canary-7f3a9c-from-a-to-b"
	const canaryBA = "canary-51d0e2-from-b-to-a"
	chat(t, a, b, canaryAB)
	chat(t, b, a, canaryBA)

	// The signaling did cross the tap: the check is not vacuous.
	seen := ts.tap.Bytes()
	if !contains(seen, `"type":"matched"`) || !contains(seen, "a=fingerprint") {
		t.Fatalf("the tap saw no signaling (%d bytes): the capture is broken", len(seen))
	}
	for _, canary := range []string{canaryAB, canaryBA} {
		if contains(seen, canary) {
			t.Errorf("%s crossed the server's sockets", canary)
		}
		if strings.Contains(ts.logs.String(), canary) {
			t.Errorf("%s is in the logs", canary)
		}
	}
}

func TestRolesAndPartnerName(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	join(t, a, client.Join{Name: "Ann"})
	if err := b.Join(client.Join{Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	ma, mb := wait(t, a, "matched").Msg, wait(t, b, "matched").Msg
	if ma.Role != "offerer" || mb.Role != "answerer" {
		t.Errorf("roles %s/%s: the one who waited longer offers", ma.Role, mb.Role)
	}
	if ma.Partner.Name != "Bo" || mb.Partner.Name != "Ann" {
		t.Errorf("partner names %q/%q", ma.Partner.Name, mb.Partner.Name)
	}
}

func TestNextRequeuesBothAndNeverRematchesTheSkipped(t *testing.T) {
	ts := newTestServer(t)
	a, b, c := ts.dial(signalingOnly()), ts.dial(signalingOnly()), ts.dial(signalingOnly())
	j := client.Join{}
	for _, p := range []*client.Client{a, b} {
		if err := p.Join(j); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, a, "matched")
	wait(t, b, "matched")
	join(t, c, j)

	if err := a.Next(); err != nil { // a skips b
		t.Fatal(err)
	}
	if m := wait(t, b, "partner-left").Msg; m.Reason != "next" {
		t.Fatalf("reason %q", m.Reason)
	}
	wait(t, b, "queued") // b goes back to the queue too
	ma := wait(t, a, "matched")
	mc := wait(t, c, "matched")
	if ma.Msg.Pair != mc.Msg.Pair {
		t.Fatal("a should meet c, who was waiting")
	}
	// a and b are never paired again, even when nobody else is left.
	if err := a.Next(); err != nil {
		t.Fatal(err)
	}
	mc2 := wait(t, c, "matched") // c is requeued and meets b
	mb := wait(t, b, "matched")
	if mc2.Msg.Pair != mb.Msg.Pair {
		t.Fatal("b and c should meet")
	}
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "left")
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	wait(t, c, "partner-left")
	join(t, a, j)
	join(t, b, j)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if ev, err := a.WaitFor(ctx, "matched"); err == nil {
		t.Fatalf("a was matched again with the person it skipped: %+v", ev.Msg)
	}
}

// Three people who keep pressing next meet each other at most twice.
func TestNeverAThirdMeeting(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ActionsPerSecond = 1000; c.ActionBurst = 1000 }))
	peers := []*client.Client{ts.dial(signalingOnly()), ts.dial(signalingOnly()), ts.dial(signalingOnly())}
	meetings := map[[2]int]int{}
	idx := map[*client.Client]int{}
	for i, p := range peers {
		idx[p] = i
		if err := p.Join(client.Join{}); err != nil {
			t.Fatal(err)
		}
	}
	pairs := map[string][]int{}
	// Each round: collect matched events; the offerer presses next. A pair
	// id seen twice is one meeting.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		progressed := false
		for _, p := range peers {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			ev, err := p.WaitFor(ctx, "matched")
			cancel()
			if err != nil {
				continue
			}
			progressed = true
			pairs[ev.Msg.Pair] = append(pairs[ev.Msg.Pair], idx[p])
			if ev.Msg.Role == "offerer" {
				if err := p.Next(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !progressed {
			break
		}
	}
	for id, who := range pairs {
		if len(who) != 2 {
			continue // the last pair may have been seen by one side only
		}
		k := [2]int{min(who[0], who[1]), max(who[0], who[1])}
		meetings[k]++
		_ = id
	}
	if len(meetings) == 0 {
		t.Fatal("nobody met")
	}
	for k, n := range meetings {
		if n > 2 {
			t.Errorf("peers %v met %d times", k, n)
		}
	}
}

func TestOppositeMode(t *testing.T) {
	ts := newTestServer(t)
	prefs := ts.dial(signalingOnly()).Welcome().Preferences
	if len(prefs) < 2 {
		t.Fatalf("welcome lists %d preferences", len(prefs))
	}
	a, b, c := ts.dial(signalingOnly()), ts.dial(signalingOnly()), ts.dial(signalingOnly())
	same := client.Join{Mode: "opposite", Preference: prefs[0].ID}
	for _, p := range []*client.Client{a, b} {
		if err := p.Join(same); err != nil {
			t.Fatal(err)
		}
		wait(t, p, "queued")
	}
	if err := c.Join(client.Join{Mode: "opposite", Preference: prefs[1].ID}); err != nil {
		t.Fatal(err)
	}
	ma, mc := wait(t, a, "matched").Msg, wait(t, c, "matched").Msg
	if ma.Statement == nil || mc.Statement == nil || ma.Statement.ID != mc.Statement.ID {
		t.Fatalf("statements %+v / %+v", ma.Statement, mc.Statement)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := b.WaitFor(ctx, "matched"); err == nil {
		t.Fatal("b matched with nobody of a different preference left")
	}

	rc := ts.raw(true)
	rc.send(`{"type":"join","mode":"opposite","media":"text","preference":"no-such","consent":true,"adult":true,"preferenceConsent":true}`)
	rc.expectError("bad_preference")
	rc.send(`{"type":"join","mode":"opposite","media":"text","preference":"` + prefs[0].ID + `","consent":true,"adult":true}`)
	rc.expectError("consent_required")
	rc.send(`{"type":"join","mode":"random","media":"text","adult":true}`)
	rc.expectError("consent_required")
	rc.send(`{"type":"join","mode":"random","media":"text","consent":true}`)
	rc.expectError("consent_required")
}

func TestSignalReachesOnlyThePartner(t *testing.T) {
	ts := newTestServer(t)
	lone := ts.raw(true)
	lone.send(`{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}}`)
	lone.expectError("not_paired")

	a, b, c, d := ts.raw(true), ts.raw(true), ts.raw(true), ts.raw(true)
	for _, p := range []*rawConn{a, b} {
		p.send(joinRandom)
		p.expect("queued")
	}
	a.expect("matched")
	b.expect("matched")
	for _, p := range []*rawConn{c, d} {
		p.send(joinRandom)
		p.expect("queued")
	}
	c.expect("matched")
	d.expect("matched")

	a.send(`{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}}`)
	if m := b.expect("signal"); m.Data == nil || m.Data.Candidate == nil || !strings.Contains(m.Data.Candidate.Candidate, "5000") {
		t.Fatalf("b got %+v", m.Data)
	}
	// c and d, the other pair, get nothing of it: their next message is
	// the one c sends now.
	c.send(`{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host","sdpMid":"0","sdpMLineIndex":0}}}`)
	if m := d.expect("signal"); !strings.Contains(m.Data.Candidate.Candidate, "6000") {
		t.Fatal("d received someone else's signal")
	}
	// A message cannot carry anything else: unknown fields are refused.
	a.send(`{"type":"signal","to":"someone","data":{"candidate":{"candidate":""}}}`)
	a.expectError("bad_message")
	a.send(`{"type":"signal","data":{"candidate":{"candidate":""},"text":"hello"}}`)
	a.expectError("bad_message")
}

func TestBadInputGetsItsErrorAndOthersCarryOn(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ActionBurst = 100 }))
	// A working pair that must not notice anything.
	x, y := ts.dial(), ts.dial()
	pairUp(t, x, y, client.Join{})

	cases := []struct {
		name, frame, code string
	}{
		{"malformed JSON", `{"type":`, "bad_message"},
		{"not an object", `[1,2]`, "bad_message"},
		{"two values", `{"type":"leave"}{"type":"leave"}`, "bad_message"},
		{"unknown type", `{"type":"shout"}`, "unknown_type"},
		{"unknown field", `{"type":"leave","text":"hi"}`, "bad_message"},
		{"hello twice", `{"type":"hello","v":1}`, "already_hello"},
		{"bad mode", `{"type":"join","mode":"chaos","media":"text","consent":true,"adult":true}`, "bad_mode"},
		{"bad media", `{"type":"join","mode":"random","media":"smell","consent":true,"adult":true}`, "bad_media"},
		{"bad name", `{"type":"join","mode":"random","media":"text","name":"<script>","consent":true,"adult":true}`, "bad_name"},
		{"long name", `{"type":"join","mode":"random","media":"text","name":"` + strings.Repeat("a", 33) + `","consent":true,"adult":true}`, "bad_name"},
		{"too many interests", `{"type":"join","mode":"interests","media":"text","interests":["a","b","c","d","e","f"],"consent":true,"adult":true}`, "bad_interests"},
		{"bad interest", `{"type":"join","mode":"interests","media":"text","interests":["a;b"],"consent":true,"adult":true}`, "bad_interests"},
		{"bad reason", `{"type":"report","reason":"dislike"}`, "bad_reason"},
		{"nothing to report", `{"type":"report","reason":"spam"}`, "nothing_to_report"},
		{"signal without data", `{"type":"signal"}`, "bad_signal"},
		{"signal with both", `{"type":"signal","data":{"sdp":{"type":"offer","sdp":"v=0"},"candidate":{"candidate":""}}}`, "bad_signal"},
	}
	rc := ts.raw(true)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc.t = t
			rc.send(tc.frame)
			rc.expectError(tc.code)
		})
	}
	rc.t = t

	// SDP and candidate garbage, from someone with a partner.
	p, q := ts.raw(true), ts.raw(true)
	p.send(joinRandom)
	p.expect("queued")
	q.send(joinRandom)
	q.expect("queued")
	p.expect("matched")
	q.expect("matched")
	for _, tc := range []struct{ name, frame, code string }{
		{"sdp garbage", `{"type":"signal","data":{"sdp":{"type":"offer","sdp":"this is not sdp"}}}`, "bad_sdp"},
		{"sdp pranswer", `{"type":"signal","data":{"sdp":{"type":"pranswer","sdp":"v=0\r\n"}}}`, "bad_sdp"},
		{"candidate garbage", `{"type":"signal","data":{"candidate":{"candidate":"candidate:x y z"}}}`, "bad_candidate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.t = t
			p.send(tc.frame)
			p.expectError(tc.code)
		})
	}
	p.t = t

	// A frame over 64 KiB closes with 1009.
	big := ts.raw(true)
	big.send(`{"type":"leave","x":"` + strings.Repeat("a", 65*1024) + `"}`)
	if code := big.closeCode(); code != websocket.CloseMessageTooBig {
		t.Errorf("65 KiB frame: close %d, want 1009", code)
	}

	// A flood of 1,000 messages in a second: rate_limited, then 1008.
	flood := ts.raw(true)
	go func() {
		for i := 0; i < 1000; i++ {
			if flood.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"leave"}`)) != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	sawLimited := false
	_ = flood.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := flood.ws.ReadMessage()
		if err != nil {
			ce, ok := err.(*websocket.CloseError)
			if !ok || ce.Code != websocket.ClosePolicyViolation {
				t.Errorf("flood ended with %v, want close 1008", err)
			}
			break
		}
		if strings.Contains(string(b), `"rate_limited"`) {
			sawLimited = true
		}
	}
	if !sawLimited {
		t.Error("the flood never got rate_limited")
	}

	// Meanwhile the pair chats on.
	chat(t, x, y, "still here")
	chat(t, y, x, "me too")
}

func TestFirstMessageMustBeHello(t *testing.T) {
	ts := newTestServer(t)
	rc := ts.raw(false)
	rc.send(joinRandom)
	rc.expectError("not_hello")
	rc.send(`{"type":"hello","v":3}`)
	rc.expectError("bad_version")
	rc.send(`{"type":"hello"}`)
	rc.expectError("bad_version")
	rc.send(`{"type":"hello","v":1}`)
	w := rc.expect("welcome")
	if w.V != 1 || w.Limits == nil || w.Limits.MaxFrameBytes != 65536 || len(w.Preferences) == 0 {
		t.Fatalf("welcome %+v", w)
	}
}

func TestSilentClientIsDroppedAfterPongTimeout(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.PingInterval = 100 * time.Millisecond
		c.PongWait = 400 * time.Millisecond
		c.ResumeWindow = 300 * time.Millisecond
	}))
	a := ts.dial(signalingOnly())
	silent := ts.raw(true)
	join(t, a, client.Join{})
	silent.send(joinRandom)
	silent.expect("queued")
	silent.expect("matched")
	wait(t, a, "matched")
	// The raw connection stops reading, so it never answers a ping.
	wait(t, a, "partner-reconnecting")
	if m := wait(t, a, "partner-left").Msg; m.Reason != "gone" {
		t.Fatalf("reason %q, want gone", m.Reason)
	}
}

// A reader that stops reading fills its own queue and is dropped; the
// sender and everyone else go on at full speed.
func TestSlowReaderDoesNotStallOthers(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.MaxQueuedBytes = 256 << 10
		c.SignalBytesPerSecond, c.SignalBytesBurst = 1e12, 1<<30
		c.MessagesPerSecond = 100000
		c.Burst = 100000
		c.ResumeWindow = time.Minute // the pair outlives the test: no not_paired answers
	}))
	x, y := ts.dial(), ts.dial()
	pairUp(t, x, y, client.Join{})

	sender, stuck := ts.raw(true), ts.raw(true)
	sender.send(joinRandom)
	sender.expect("queued")
	stuck.send(joinRandom)
	stuck.expect("queued")
	stuck.expect("matched")
	sender.expect("matched")
	// stuck never reads again. A big SDP makes its socket buffers fill fast.
	sdpBody := bigOffer()
	frame := fmt.Sprintf(`{"type":"signal","data":{"sdp":{"type":"offer","sdp":%q}}}`, sdpBody)
	start := time.Now()
	for i := 0; i < 3000; i++ {
		if err := sender.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatalf("the sender was slowed or cut off after %d messages: %v", i, err)
		}
	}
	t.Logf("3000 signals of %d bytes sent in %v", len(frame), time.Since(start))
	// The sender learns its partner went away (dropped for not reading).
	if m := sender.expect("partner-reconnecting"); m.Type == "" {
		t.Fatal("no partner-reconnecting")
	}
	chat(t, x, y, "unaffected")
}

func TestGracefulShutdownCloses1012(t *testing.T) {
	ts := newTestServer(t)
	rcs := []*rawConn{ts.raw(true), ts.raw(true), ts.raw(false)}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	for i, rc := range rcs {
		if code := rc.closeCode(); code != websocket.CloseServiceRestart {
			t.Errorf("conn %d closed with %d, want 1012", i, code)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestOriginPolicy(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.AllowedOrigins = []string{"https://friend.example"} }))
	host := strings.TrimPrefix(ts.base, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"https://friend.example", true},
		{"https://evil.example", false},
		{"null", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial(ts.url, h)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("a foreign origin opened /ws")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %v, want 403", resp)
			}
		})
	}
}

func TestConnectionCapPerAddress(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.MaxConnsPerAddr = 3 }))
	for i := 0; i < 3; i++ {
		ts.raw(false)
	}
	_, resp, err := websocket.DefaultDialer.Dial(ts.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth connection from one address: %v %v", resp, err)
	}
	// Another address is not affected.
	c := ts.dial(signalingOnly(), from("127.0.0.2"))
	if c.Welcome() == nil {
		t.Fatal("no welcome")
	}
}

func TestSessionCookie(t *testing.T) {
	ts := newTestServer(t)
	a := ts.dial(signalingOnly())
	tok := a.Token()
	if len(tok) != 22 {
		t.Fatalf("token %q", tok)
	}
	if w := a.Welcome(); w.Resumed == nil || *w.Resumed {
		t.Fatal("a new session says resumed")
	}
	a.Close()
	b := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := b.Welcome(); w.Resumed == nil || !*w.Resumed {
		t.Fatal("the same cookie did not resume the session")
	}
	// A forged token gets a new session, not an error.
	c := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = "AAAAAAAAAAAAAAAAAAAAAA" })
	if c.Token() == "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatal("the server adopted a token it never issued")
	}
}

// bigOffer is a valid offer as large as the server forwards: a data
// channel with the most candidates a description may carry, which the
// cleaner rebuilds and forwards.
func bigOffer() string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:Xk3f\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n" +
		"a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":") + "\r\n" +
		"a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n")
	for i := range 64 {
		fmt.Fprintf(&b, "a=candidate:%d 1 udp %d 198.51.%d.%d %d typ host\r\n", i, 2122260223-i, i/200, i%200+1, 50000+i)
	}
	return b.String()
}

// Connections that never say hello, or leave, do not leave sessions behind
// in memory.
func TestNoSessionOutlivesItsConnection(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 100 * time.Millisecond }))
	for i := 0; i < 5; i++ {
		rc := ts.raw(false)
		rc.ws.Close()
	}
	c := ts.dial(signalingOnly())
	join(t, c, client.Join{})
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left in memory", ts.srv.Stats().Sessions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A connection that said hello and then waits quietly (reading the start
// page) stays; one that never says hello goes, however many pongs it sends.
func TestHelloTimeoutAndQuietClients(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.HelloTimeout = 300 * time.Millisecond
		c.PingInterval = 100 * time.Millisecond
		c.PongWait = 2 * time.Second
	}))
	quiet := ts.dial(signalingOnly())
	mute := ts.raw(false)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				_ = mute.ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
			}
		}
	}()
	start := time.Now()
	_ = mute.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := mute.ws.ReadMessage(); err != nil {
			break
		}
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("pongs kept a connection without hello open")
	}
	time.Sleep(time.Until(start.Add(700 * time.Millisecond)))
	join(t, quiet, client.Join{})
}

// A report that finds nobody to report changes nothing: a queued person
// stays queued.
func TestFailedReportKeepsTheQueue(t *testing.T) {
	ts := newTestServer(t)
	a := ts.dial(signalingOnly())
	join(t, a, client.Join{})
	if err := a.Report("spam"); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, "error").Msg; m.Code != "nothing_to_report" {
		t.Fatalf("code %q", m.Code)
	}
	b := ts.dial(signalingOnly())
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "matched")
}
