package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/pion/webrtc/v4"
)

// A reload: the socket drops, the partner sees partner-reconnecting, the
// same cookie comes back, both get matched again with resumed true and open
// a new data channel.
func TestResumeAfterReload(t *testing.T) {
	leakCheck(t)
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 10 * time.Second }))
	a, b := ts.dial(), ts.dial()
	pairUp(t, a, b, client.Join{Name: "Ann"})
	chat(t, a, b, "before")
	first := a.Token()

	a.Drop()
	wait(t, b, "partner-reconnecting")

	a2 := ts.dial(func(c *client.Config) { c.Token = first })
	if w := a2.Welcome(); w.Resumed == nil || !*w.Resumed {
		t.Fatal("the reload did not resume the session")
	}
	ma, mb := wait(t, a2, "matched").Msg, wait(t, b, "matched").Msg
	if !*ma.Resumed || !*mb.Resumed || ma.Pair != mb.Pair {
		t.Fatalf("resumed %v/%v pair %s/%s", *ma.Resumed, *mb.Resumed, ma.Pair, mb.Pair)
	}
	if ma.Partner.Name != "Ann" || mb.Partner.Name != "Ann" {
		t.Fatalf("names after resume: %q/%q", ma.Partner.Name, mb.Partner.Name)
	}
	wait(t, a2, client.EventOpen)
	wait(t, b, client.EventOpen)
	chat(t, a2, b, "after")
	chat(t, b, a2, "welcome back")
}

func TestPartnerLeftGoneAfterTheWindow(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 300 * time.Millisecond }))
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	tok := a.Token()
	a.Drop()
	wait(t, b, "partner-reconnecting")
	if m := wait(t, b, "partner-left").Msg; m.Reason != "gone" {
		t.Fatalf("reason %q", m.Reason)
	}
	// Coming back late: the same session, but no pair any more.
	a2 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := a2.Welcome(); !*w.Resumed {
		t.Fatal("session lost")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if ev, err := a2.WaitFor(ctx, "matched"); err == nil {
		t.Fatalf("matched after the window: %+v", ev.Msg)
	}
}

// meet pairs the target with a reporter and has the reporter report.
func meetAndReport(t *testing.T, target, reporter *client.Client) {
	t.Helper()
	match(t, target, reporter)
	if err := reporter.Report("abuse"); err != nil {
		t.Fatal(err)
	}
	wait(t, reporter, "reported")
}

// Three reports from three people at three addresses ban the target's
// address: the live session ends with banned and 4003, and a new connection
// from that address is refused the same way.
func TestThreeDistinctReportersBan(t *testing.T) {
	ts := newTestServer(t)
	target := ts.dial(signalingOnly(), from("127.0.0.10"))
	for i, addr := range []string{"127.0.0.11", "127.0.0.12"} {
		meetAndReport(t, target, ts.dial(signalingOnly(), from(addr)))
		if m := wait(t, target, "partner-left").Msg; m.Reason != "leave" {
			t.Fatalf("report %d: reason %q", i, m.Reason)
		}
	}
	// The third report bans the target (TestBanEndsThePartnersChat shows
	// what the partner of a banned person hears).
	third := ts.dial(signalingOnly(), from("127.0.0.13"))
	meetAndReport(t, target, third)
	b := wait(t, target, "banned").Msg
	until, err := time.Parse(time.RFC3339, b.Until)
	if err != nil || until.Before(time.Now().Add(89*24*time.Hour)) {
		t.Fatalf("until %q: want about 90 days from now", b.Until)
	}
	if ev := wait(t, target, client.EventClosed); ev.Code != proto.CloseBanned {
		t.Fatalf("close %d, want 4003", ev.Code)
	}
	// The banned session is over for the relay too, also once it has left
	// memory: its record is gone.
	key := ts.store.SessionKey(target.Token())
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Stats().Sessions > 3 || stored(ts, key) {
		if time.Now().After(deadline) {
			t.Fatalf("the banned session is still in memory (%d sessions) or stored (%v)", ts.srv.Stats().Sessions, stored(ts, key))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Connect again from the banned address: banned, then 4003.
	ctx := ctxT(t, 5*time.Second)
	_, err = client.Dial(ctx, client.Config{URL: ts.url, LocalAddr: netip.MustParseAddr("127.0.0.10")})
	var ce *client.CloseError
	if err == nil || !errors.As(err, &ce) || ce.Code != proto.CloseBanned {
		t.Fatalf("a banned address connected: %v", err)
	}
	// Other addresses are untouched.
	ok := ts.dial(signalingOnly(), from("127.0.0.14"))
	if ok.Welcome() == nil {
		t.Fatal("no welcome for an innocent address")
	}
}

// A banned person's partner is told the chat ended because of a ban.
func TestBanEndsThePartnersChat(t *testing.T) {
	ts := newTestServer(t)
	target := ts.dial(signalingOnly(), from("127.0.0.20"))
	for _, addr := range []string{"127.0.0.21", "127.0.0.22"} {
		meetAndReport(t, target, ts.dial(signalingOnly(), from(addr)))
		wait(t, target, "partner-left")
	}
	// The third reporter reports after the chat with the target ended,
	// within the grace period, while the target already chats with a
	// bystander.
	r3 := ts.dial(signalingOnly(), from("127.0.0.23"))
	match(t, target, r3)
	if err := r3.Leave(); err != nil {
		t.Fatal(err)
	}
	wait(t, r3, "left")
	wait(t, target, "partner-left")
	bystander := ts.dial(signalingOnly(), from("127.0.0.24"))
	match(t, target, bystander)
	if err := r3.Report("spam"); err != nil {
		t.Fatal(err)
	}
	wait(t, r3, "reported")
	wait(t, target, "banned")
	if m := wait(t, bystander, "partner-left").Msg; m.Reason != "banned" {
		t.Fatalf("bystander reason %q, want banned", m.Reason)
	}
}

// Reports from one address, or from nobody the target met, ban nobody.
func TestFakeReportersBanNobody(t *testing.T) {
	ts := newTestServer(t)
	target := ts.dial(signalingOnly(), from("127.0.0.30"))
	for i := 0; i < 3; i++ { // three sessions, one address
		meetAndReport(t, target, ts.dial(signalingOnly(), from("127.0.0.31")))
		wait(t, target, "partner-left")
	}
	for _, addr := range []string{"127.0.0.32", "127.0.0.33", "127.0.0.34"} {
		stranger := ts.dial(signalingOnly(), from(addr))
		if err := stranger.Report("abuse"); err != nil {
			t.Fatal(err)
		}
		if m := wait(t, stranger, "error").Msg; m.Code != "nothing_to_report" {
			t.Fatalf("code %q", m.Code)
		}
	}
	// Still welcome.
	again := ts.dial(signalingOnly(), from("127.0.0.30"))
	if again.Welcome() == nil {
		t.Fatal("target refused")
	}
	join(t, target, client.Join{})
}

func TestAPIMeShowsAndErases(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	join(t, a, client.Join{Name: "Canaryname", Mode: "opposite", Preference: a.Welcome().Preferences[0].ID})
	_ = b
	get := func() (int, map[string]any) {
		req, _ := http.NewRequest("GET", ts.base+"/api/me", nil)
		req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// The persister writes off the request path: wait for the record.
	var me map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, me = get()
		if s, ok := me["session"].(map[string]any); ok && s["name"] == "Canaryname" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sess, ok := me["session"].(map[string]any)
	if !ok || sess["name"] != "Canaryname" || sess["mode"] != "opposite" {
		t.Fatalf("GET /api/me: %v", me)
	}
	raw, _ := json.Marshal(me)
	if strings.Contains(string(raw), a.Welcome().Preferences[0].ID+`"`) && strings.Contains(string(raw), "preference") {
		t.Fatalf("the preference is stored: %s", raw)
	}
	if me["banned"] != false {
		t.Fatalf("banned: %v", me["banned"])
	}

	req, _ := http.NewRequest("DELETE", ts.base+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	var cleared bool
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == signaling.CookieName && c.MaxAge < 0)
	}
	if !cleared {
		t.Fatal("the cookie was not cleared")
	}
	if _, me = get(); me["session"] != nil {
		t.Fatalf("still stored after DELETE: %v", me)
	}
	if ev := wait(t, a, client.EventClosed); ev.Code != websocket.CloseNormalClosure {
		t.Fatalf("socket closed with %d", ev.Code)
	}
}

// Hide my IP, honest client: it gathers relay candidates only, and the chat
// runs through the relay.
func TestHideIPUsesTheRelay(t *testing.T) {
	ts := newTestServer(t, withRelay())
	a, b := ts.dial(), ts.dial()
	pairUp(t, a, b, client.Join{HideIP: true})
	chat(t, a, b, "via relay")
	for name, c := range map[string]*client.Client{"a": a, "b": b} {
		p := c.SelectedPair()
		if p == nil || p.Local.Typ != webrtc.ICECandidateTypeRelay && p.Remote.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: selected pair %v is not relayed", name, p)
		}
	}
}

// Hide my IP, modified client: it sends host and srflx candidates anyway;
// the server strips them, so the partner receives relay candidates only and
// no address of the sender anywhere in the SDP.
func TestHideIPStripsWhatAClientLeaks(t *testing.T) {
	ts := newTestServer(t, withRelay())
	leaky := client.LoopbackEngine()
	leaky.SetNAT1To1IPs([]string{"127.0.0.77"}, webrtc.ICECandidateTypeHost) // a recognisable host address
	a := ts.dial(withWebRTC(&client.WebRTCConfig{SettingEngine: leaky, IgnoreHideIP: true}))
	b := ts.dial()
	join(t, a, client.Join{HideIP: true})
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	// Read b's events until its channel opens, keeping every signal.
	var candidates []string
	var sdps []string
	for open := false; !open; {
		ev := wait(t, b, "signal", client.EventOpen)
		switch {
		case ev.Type == client.EventOpen:
			open = true
		case ev.Msg.Data.Candidate != nil:
			candidates = append(candidates, ev.Msg.Data.Candidate.Candidate)
		case ev.Msg.Data.SDP != nil:
			sdps = append(sdps, ev.Msg.Data.SDP.SDP)
		}
	}
	if len(candidates) == 0 {
		t.Fatal("b received no candidate at all: the relay candidates should pass")
	}
	for _, c := range candidates {
		if !strings.Contains(c, " typ relay") || strings.Contains(c, "127.0.0.77") {
			t.Errorf("b received %q", c)
		}
	}
	for _, s := range append(sdps, b.RemoteDescription()) {
		if strings.Contains(s, "127.0.0.77") || strings.Contains(s, "typ host") || strings.Contains(s, "typ srflx") {
			t.Errorf("b's view of a's SDP leaks an address:\n%s", s)
		}
	}
	wait(t, a, client.EventOpen) // b's end opened first; a's may follow a moment later
	chat(t, a, b, "hidden")
}

// The chat ends while one person is away (the partner leaves during the
// resume window): the returning person hears partner-left, and the store
// keeps that neither is paired any more.
func TestChatEndedWhileAway(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 10 * time.Second }))
	a, b := ts.dial(signalingOnly()), ts.dial(signalingOnly())
	match(t, a, b)
	tok := a.Token()
	a.Drop()
	wait(t, b, "partner-reconnecting")
	if err := b.Next(); err != nil {
		t.Fatal(err)
	}
	wait(t, b, "queued")
	a2 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := a2.Welcome(); w.State != "idle" {
		t.Fatalf("welcome state %q, want idle", w.State)
	}
	if m := wait(t, a2, "partner-left").Msg; m.Reason != "next" {
		t.Fatalf("reason %q", m.Reason)
	}
	// b skipped a: they never meet again.
	join(t, a2, client.Join{})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := a2.WaitFor(ctx, "matched"); err == nil {
		t.Fatal("a met the person who skipped it while it was away")
	}
}

func TestWelcomeStateOnResume(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 10 * time.Second }))
	a := ts.dial(signalingOnly())
	if w := a.Welcome(); w.State != "idle" {
		t.Fatalf("new session state %q", w.State)
	}
	join(t, a, client.Join{})
	tok := a.Token()
	a.Drop()
	time.Sleep(100 * time.Millisecond)
	a2 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := a2.Welcome(); w.State != "queued" {
		t.Fatalf("state %q, want queued", w.State)
	}
	wait(t, a2, "queued")
	b := ts.dial(signalingOnly())
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	wait(t, a2, "matched")
	tok = a2.Token()
	a2.Drop()
	wait(t, b, "partner-reconnecting")
	a3 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = tok })
	if w := a3.Welcome(); w.State != "paired" {
		t.Fatalf("state %q, want paired", w.State)
	}
	wait(t, a3, "matched")
}

// Erasing a session ends its relay allocations at once: its credentials
// die with it, not at the next refresh.
func TestErasedSessionLosesItsRelay(t *testing.T) {
	ts := newTestServer(t, withRelay())
	a := ts.dial(withWebRTC(&client.WebRTCConfig{SettingEngine: client.LoopbackEngine(), ForceRelay: true}))
	b := ts.dial(withWebRTC(&client.WebRTCConfig{SettingEngine: client.LoopbackEngine(), ForceRelay: true}))
	pairUp(t, a, b, client.Join{})
	chat(t, a, b, "relayed")
	before := ts.relay.Stats().Allocations
	if before < 2 {
		t.Fatalf("%d allocations for two relay-only peers", before)
	}
	req, _ := http.NewRequest("DELETE", ts.base+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ts.relay.Stats().Allocations >= before {
		if time.Now().After(deadline) {
			t.Fatalf("allocations still %d after the session was erased", ts.relay.Stats().Allocations)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ts.srv.SessionLive(credOf(t, a)) {
		t.Fatal("an erased session is still live for the relay")
	}
}

// A second tab of a queued session hears that it is queued.
func TestTakeoverOfAQueuedSession(t *testing.T) {
	ts := newTestServer(t)
	a := ts.dial(signalingOnly())
	join(t, a, client.Join{})
	a2 := ts.dial(signalingOnly(), func(c *client.Config) { c.Token = a.Token() })
	if w := a2.Welcome(); w.State != "queued" {
		t.Fatalf("state %q, want queued", w.State)
	}
	if ev := wait(t, a, client.EventClosed); ev.Code != proto.CloseTakenOver {
		t.Fatalf("the first tab closed with %d, want 4001", ev.Code)
	}
	b := ts.dial(signalingOnly())
	if err := b.Join(client.Join{}); err != nil {
		t.Fatal(err)
	}
	wait(t, a2, "matched")
}

func stored(ts *testServer, key store.SessionKey) bool {
	_, err := ts.store.GetSession(key)
	return err == nil
}
