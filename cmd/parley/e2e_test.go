//go:build e2e

package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserTextChat: two browsers are paired, chat by text both ways over the data channel, see each
// other's names and typing, show the same safety code and a direct connection; no word of the chat
// reaches the server.
func TestBrowserTextChat(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	// The page's CSP allows the same-origin WebSocket through connect-src 'self' alone: the chat
	// below connects under it, and checkClean finds no violation.
	ctx, cancel := context.WithTimeout(ann.ctx, shortWait)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(app.URL+"/"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if csp, _ := resp.Headers["Content-Security-Policy"].(string); !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "ws:") {
		t.Errorf("page CSP %q", csp)
	}
	ann.open(app.URL)
	ann.shots("start")
	bob.open(app.URL)
	ann.start(joinOpts{name: "Ann", mode: "interests", interests: "Chess, jazz"})
	ann.waitScreen("queue", shortWait)
	ann.shots("queue")
	bob.start(joinOpts{name: "Bob", mode: "interests", interests: "jazz,hiking"})
	ann.waitChatOpen()
	bob.waitChatOpen()
	for _, b := range []*browser{ann, bob} {
		if got := evalT[string](b, `document.getElementById('shared').hidden ? '' : document.getElementById('shared-list').textContent`); got != "jazz" {
			t.Errorf("%s: shared interests %q, want jazz", b.name, got)
		}
	}

	if got := evalT[string](ann, `document.getElementById('partner-name').textContent`); got != "Bob" {
		t.Errorf("ann sees partner %q, want Bob", got)
	}
	if got := evalT[string](bob, `document.getElementById('partner-name').textContent`); got != "Ann" {
		t.Errorf("bob sees partner %q, want Ann", got)
	}

	c1, c2 := canary(t), canary(t)
	ann.typeInto("message", "Hel")
	waitFor[bool](bob, "typing indicator", `!document.getElementById('typing').hidden`, shortWait)
	evalT[bool](ann, `(document.getElementById('message').value = '', true)`)
	ann.say(c1)
	bob.waitHeard(c1)
	if !evalT[bool](bob, `document.getElementById('typing').hidden`) {
		t.Error("bob still sees the typing indicator after the message came")
	}
	bob.say(c2)
	ann.waitHeard(c2)
	if got, want := ann.transcript(), []string{"me:" + c1, "them:" + c2}; !slices.Equal(got, want) {
		t.Errorf("ann's transcript %q, want %q", got, want)
	}

	for _, b := range []*browser{ann, bob} {
		if s := b.waitConnState("connected", "direct", "relay"); s != "direct" {
			t.Errorf("%s: connection %q, want direct", b.name, s)
		}
	}
	// The safety codes match: both derive them from the same two DTLS fingerprints.
	ca, cb := ann.safetyCode(), bob.safetyCode()
	if ca != cb {
		t.Errorf("safety codes differ: ann %q, bob %q", ca, cb)
	}
	t.Logf("safety code %s", ca)
	// And it is the code the design describes: both DTLS fingerprints, sorted, SHA-256, 3 x 4 digits.
	sdps := evalT[[]string](ann, `(() => { const pc = window.__pcs[window.__pcs.length - 1]; return [pc.localDescription.sdp, pc.remoteDescription.sdp]; })()`)
	if want := safetyCodeOf(sdps[0], sdps[1]); ca != want {
		t.Errorf("safety code %q, want %q from the fingerprints", ca, want)
	}
	ann.say("Hi Bob! How is your day going?")
	bob.say("Pretty good, thanks. Yours?")
	ann.waitHeard("Pretty good, thanks. Yours?")
	ann.shots("text-chat")

	checkNotSeen(t, app, c1)
	checkNotSeen(t, app, c2)
	ann.checkClean()
	bob.checkClean()
}

// TestBrowserVideo: both browsers send their (fake) camera and decode the other's video.
func TestBrowserVideo(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	ann.open(app.URL)
	prefs := evalT[[]string](ann, `[...document.querySelectorAll('#preference option')].map((o) => o.value).filter((v) => v)`)
	if len(prefs) < 2 {
		t.Fatalf("preferences from welcome: %q", prefs)
	}
	pairUp(t, app.URL, ann, bob,
		joinOpts{media: "video", name: "Ann", mode: "opposite", pref: prefs[0]},
		joinOpts{media: "video", name: "Bob", mode: "opposite", pref: prefs[1]})
	// Opposite mode: both see the same statement to discuss.
	sa := evalT[string](ann, `document.getElementById('statement').hidden ? '' : document.getElementById('statement-text').textContent`)
	sb := evalT[string](bob, `document.getElementById('statement').hidden ? '' : document.getElementById('statement-text').textContent`)
	if sa == "" || sa != sb {
		t.Errorf("statements: ann %q, bob %q", sa, sb)
	}
	for _, b := range []*browser{ann, bob} {
		waitFor[bool](b, "remote video playing", `document.getElementById('remote-video').videoWidth > 0`, longWait)
		first := waitFor[int](b, "frames decoded", `(async () => {
			const pc = window.__pcs[window.__pcs.length - 1];
			let n = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
			return n;
		})()`, longWait)
		waitFor[bool](b, "more frames decoded", `(async () => {
			const pc = window.__pcs[window.__pcs.length - 1];
			let n = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
			return n > `+itoa(first)+`;
		})()`, longWait)
		if !evalT[bool](b, `document.getElementById('local-video').srcObject instanceof MediaStream`) {
			t.Errorf("%s: no local preview", b.name)
		}
	}
	ann.say("Can you see me?")
	bob.waitHeard("Can you see me?")
	// Mute and camera off act on the local tracks.
	ann.click("mute")
	if !evalT[bool](ann, `document.getElementById('local-video').srcObject.getAudioTracks().every((t) => !t.enabled)`) {
		t.Error("mute left the microphone on")
	}
	ann.click("mute")
	ann.click("camera")
	if !evalT[bool](ann, `document.getElementById('local-video').srcObject.getVideoTracks().every((t) => !t.enabled)`) {
		t.Error("camera off left the camera on")
	}
	ann.click("camera")
	waitFor[bool](ann, "video frame", `document.getElementById('remote-video').currentTime > 0.5`, shortWait)
	ann.shots("video-chat")
	bob.click("end")
	waitFor[bool](ann, "chat ended", `!document.getElementById('ended').hidden`, shortWait)
	ann.shots("video-ended")
	ann.checkClean()
	bob.checkClean()
}

// TestBrowserNextAndReport: Next (Escape twice) sends both back to the queue and the waiting third
// person gets one of them; a report ends that chat, and those two never meet again.
func TestBrowserNextAndReport(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	cat := newBrowser(t, "cat", 1280, 800)
	pairUp(t, app.URL, ann, bob, joinOpts{name: "Ann"}, joinOpts{name: "Bob"})
	cat.open(app.URL)
	cat.start(joinOpts{name: "Cat"})
	cat.waitScreen("queue", shortWait)

	// bob will be told that ann moved on.
	evalT[bool](bob, `(() => {
		const el = document.getElementById('queue-note');
		window.__notes = [];
		new MutationObserver(() => window.__notes.push(el.dataset.i18n || '')).observe(el, { childList: true, characterData: true, subtree: true });
		return true;
	})()`)
	evalT[bool](ann, `(document.activeElement.blur(), true)`) // Escape in the message box never skips
	ann.do("press Escape twice", chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(kb.Escape))
	cat.waitChatOpen()
	partner := evalT[string](cat, `document.getElementById('partner-name').textContent`)
	var x, y *browser // x is with cat now, y waits
	switch partner {
	case "Ann":
		x, y = ann, bob
	case "Bob":
		x, y = bob, ann
	default:
		t.Fatalf("cat is paired with %q", partner)
	}
	x.waitChatOpen()
	y.waitScreen("queue", shortWait)
	y.shots("queue-after-next")
	if notes := evalT[[]string](bob, `window.__notes`); !slices.Contains(notes, "queue.partnerNext") {
		t.Errorf("bob was not told that ann moved on: %q", notes)
	}
	display := map[*browser]string{ann: "Ann", bob: "Bob"}

	// x reports cat.
	x.click("report")
	waitFor[bool](x, "report dialog", `document.getElementById('report-dialog').open`, shortWait)
	x.shots("report-dialog")
	evalT[bool](x, `(document.querySelector('#report-form input[value=spam]').click(), true)`)
	x.click("report-confirm")
	waitFor[bool](x, "reported", `document.getElementById('ended-text').dataset.i18n === 'left.reported' && !document.getElementById('ended').hidden`, shortWait)
	waitFor[bool](cat, "chat ended", `document.getElementById('ended-text').dataset.i18n === 'left.leave' && !document.getElementById('ended').hidden`, shortWait)
	x.shots("reported")
	cat.shots("partner-left")

	// cat and x queue again; y (who x's side skipped) takes cat; x waits.
	cat.click("again")
	cat.waitChatOpen()
	if got := evalT[string](cat, `document.getElementById('partner-name').textContent`); got != display[y] {
		t.Fatalf("cat is paired with %q, want %s", got, y.name)
	}
	x.click("again")
	x.waitScreen("queue", shortWait)
	// cat leaves y and queues again: now only x and cat wait, and they must not be paired.
	cat.click("end")
	cat.shots("you-ended")
	cat.click("again")
	cat.waitScreen("queue", shortWait)
	time.Sleep(3 * time.Second) // the matcher ticks every 250ms: a pair would have formed by now
	if x.screen() != "queue" || cat.screen() != "queue" {
		t.Errorf("reported and reporter met again: %s on %s, cat on %s", x.name, x.screen(), cat.screen())
	}
	for _, b := range []*browser{ann, bob, cat} {
		b.checkClean()
	}
}

// TestBrowserReload: a reload keeps the session (cookie), the pair and the transcript; the partner
// sees "reconnecting" meanwhile, and the chat goes on afterwards.
func TestBrowserReload(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	// Video: after the reload the camera opens again while the partner's offer may already be on
	// its way, which the client must not lose.
	pairUp(t, app.URL, ann, bob, joinOpts{name: "Ann", media: "video"}, joinOpts{name: "Bob", media: "video"})
	ann.say("before the reload")
	bob.waitHeard("before the reload")
	bob.say("I am still here")
	ann.waitHeard("I am still here")
	cookie := ann.cookie()
	pair := evalT[string](ann, `JSON.parse(sessionStorage.getItem('parley.chat')).pair`)
	before := ann.transcript()
	bob.recordStates()

	ann.do("reload", chromedp.Reload())
	ann.waitChatOpen()
	if got := ann.cookie(); got != cookie || cookie == "" {
		t.Errorf("the session cookie changed across the reload")
	}
	if got := evalT[string](ann, `JSON.parse(sessionStorage.getItem('parley.chat')).pair`); got != pair {
		t.Errorf("pair %q after the reload, want %q", got, pair)
	}
	if got := ann.transcript(); !slices.Equal(got, before) {
		t.Errorf("transcript after the reload %q, want %q", got, before)
	}
	if got := evalT[string](ann, `document.getElementById('partner-name').textContent`); got != "Bob" {
		t.Errorf("partner after the reload %q", got)
	}
	bob.waitChatOpen()
	states := evalT[[]string](bob, `window.__states`)
	if !slices.Contains(states, "partnerReconnecting") {
		t.Errorf("bob never saw that ann was reconnecting; states %q", states)
	}
	for _, b := range []*browser{ann, bob} {
		waitFor[bool](b, "video after the reload", `document.getElementById('remote-video').videoWidth > 0`, longWait)
	}
	ann.say("after the reload")
	bob.waitHeard("after the reload")
	bob.say("welcome back")
	ann.waitHeard("welcome back")
	ann.checkClean()

	// ann leaves the page; bob ends the chat meanwhile; when ann comes back the page says the chat
	// is over instead of waiting for ever.
	ann.navigate("about:blank")
	bob.waitConnState("partner reconnecting", "partnerReconnecting")
	bob.click("end")
	ann.navigate(app.URL + "/")
	waitFor[bool](ann, "chat over", `!document.getElementById('ended').hidden &&
		['left.leave', 'left.gone', 'left.over'].includes(document.getElementById('ended-text').dataset.i18n)`, shortWait)
	if got := ann.transcript(); len(got) < 4 {
		t.Errorf("the transcript went away with the chat: %q", got)
	}
	bob.checkClean()
}

// TestBrowserHideIP: with hide-my-IP on, the browser uses the relay only, the partner receives no host
// (or server-reflexive) address of it, and both show the relayed connection.
func TestBrowserHideIP(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	pairUp(t, app.URL, ann, bob, joinOpts{name: "Ann", hideIP: true}, joinOpts{name: "Bob"})
	c := canary(t)
	ann.say(c)
	bob.waitHeard(c)
	for _, b := range []*browser{ann, bob} {
		if s := b.waitConnState("connected", "direct", "relay"); s != "relay" {
			t.Errorf("%s: connection %q, want relay", b.name, s)
		}
	}
	ann.shots("relay-chat")
	if p := evalT[string](ann, `window.__pcs[window.__pcs.length - 1].getConfiguration().iceTransportPolicy`); p != "relay" {
		t.Errorf("ann's iceTransportPolicy is %q, want relay", p)
	}
	as := ann.stats()
	if as.LocalType != "relay" {
		t.Errorf("ann's selected local candidate is %q, want relay", as.LocalType)
	}
	bs := bob.stats()
	if bs.RemoteType != "relay" {
		t.Errorf("bob's selected remote candidate is %q, want relay", bs.RemoteType)
	}
	// Nothing bob received from ann names a host or reflexive candidate.
	typ := regexp.MustCompile(`typ (host|srflx|prflx)`)
	for _, cand := range bs.RemoteCands {
		if typ.MatchString(cand) {
			t.Errorf("bob received a non-relay candidate of ann: %q", cand)
		}
	}
	for _, sdp := range bs.RemoteSDPs {
		if typ.MatchString(sdp) {
			t.Errorf("bob received an SDP with a non-relay candidate of ann:\n%s", sdp)
		}
	}
	if len(bs.RemoteCands) == 0 {
		t.Error("bob received no candidate at all: the check above proves nothing")
	}
	checkNotSeen(t, app, c)
	ann.checkClean()
	bob.checkClean()
}

// TestBrowserBan: three people on three addresses report the same person, who is banned and sees the
// banned screen with the date the ban ends.
func TestBrowserBan(t *testing.T) {
	app := startE2EApp(t, func(c *Config) { c.BanAfter = 3 })
	tom := newBrowser(t, "tom", 1280, 800)
	tomURL := viaAddress(t, app, "203.0.113.10")
	tom.open(tomURL)
	for i, addr := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		r := newBrowser(t, "reporter"+itoa(i+1), 1280, 800)
		if i == 0 {
			tom.start(joinOpts{name: "Tom"})
		} else {
			tom.click("again")
		}
		tom.waitScreen("queue", shortWait)
		r.open(viaAddress(t, app, addr))
		r.start(joinOpts{})
		r.waitScreen("chat", longWait)
		tom.waitScreen("chat", longWait)
		r.click("report")
		waitFor[bool](r, "report dialog", `document.getElementById('report-dialog').open`, shortWait)
		r.click("report-confirm")
		waitFor[bool](r, "reported", `document.getElementById('ended-text').dataset.i18n === 'left.reported'`, shortWait)
		if i < 2 {
			waitFor[bool](tom, "chat ended", `!document.getElementById('ended').hidden`, shortWait)
		}
		r.checkClean()
		r.close()
	}
	tom.waitScreen("banned", shortWait)
	until := evalT[string](tom, `document.getElementById('banned-text').dataset.until`)
	u, err := time.Parse(time.RFC3339, until)
	if err != nil || u.Before(time.Now().Add(2000*time.Hour)) {
		t.Errorf("banned until %q (%v): want about 90 days from now", until, err)
	}
	text := evalT[string](tom, `document.getElementById('banned-text').textContent`)
	if !strings.Contains(text, itoa(u.Year())) {
		t.Errorf("banned text %q does not say until when", text)
	}
	tom.shots("banned")
	// A fresh start from the same address is refused too.
	tom.do("reload", chromedp.Reload())
	tom.waitScreen("banned", shortWait)
	if got := evalT[string](tom, `document.getElementById('banned-text').dataset.until`); got != until {
		t.Errorf("after a reload banned until %q, want %q", got, until)
	}
	tom.checkClean()
}

func itoa(i int) string { return fmtInt(i) }
