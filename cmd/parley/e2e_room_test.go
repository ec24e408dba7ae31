//go:build e2e

package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The room page (/r) in real Chromium: four browsers in one room, from its link.

// roomOpts are the create form's choices.
type roomOpts struct {
	room   string // the room's name
	media  string // text (default) or video
	max    int    // 0: the largest the server allows
	name   string
	hideIP bool
}

// openRoomPage loads url (/r or /r#secret) and waits for the server's welcome (the form's button is
// enabled then).
func (b *browser) openRoomPage(url, button string) {
	b.t.Helper()
	b.navigate(url)
	waitFor[bool](b, "welcome", fmt.Sprintf(`!document.getElementById(%s).disabled`, js(button)), shortWait)
}

// createRoom fills in the create form of /r, submits it and returns the secret once the room shows.
func (b *browser) createRoom(base string, o roomOpts) string {
	b.t.Helper()
	if o.media == "" {
		o.media = "text"
	}
	b.openRoomPage(base+"/r", "create-button")
	b.waitScreen("create", shortWait)
	evalT[bool](b, fmt.Sprintf(`(() => {
		document.querySelector('#create-form input[name=media][value=' + %s + ']').click();
		document.getElementById('room-name').value = %s;
		if (%d) document.getElementById('room-size').value = String(%d);
		document.getElementById('create-name').value = %s;
		const hide = document.getElementById('create-hide-ip');
		if (hide.checked !== %t) hide.click();
		document.getElementById('create-consent').checked = true;
		document.getElementById('create-adult').checked = true;
		return true;
	})()`, js(o.media), js(o.room), o.max, o.max, js(o.name), o.hideIP))
	b.click("create-button")
	b.waitScreen("room", longWait)
	return waitFor[string](b, "the room's secret in the address", `location.hash.slice(1)`, shortWait)
}

// joinRoom opens the link (on this browser's own origin) and joins as name.
func (b *browser) joinRoom(base, secret, name string, hideIP bool) {
	b.t.Helper()
	b.fillJoin(base, secret, name, hideIP)
	b.click("join-button")
	b.waitScreen("room", longWait)
}

// fillJoin opens the link and fills in the join form without sending it.
func (b *browser) fillJoin(base, secret, name string, hideIP bool) {
	b.t.Helper()
	b.openRoomPage(base+"/r#"+secret, "join-button")
	b.waitScreen("join", shortWait)
	evalT[bool](b, fmt.Sprintf(`(() => {
		document.getElementById('join-name').value = %s;
		const hide = document.getElementById('join-hide-ip');
		if (hide.checked !== %t) hide.click();
		document.getElementById('join-consent').checked = true;
		document.getElementById('join-adult').checked = true;
		return true;
	})()`, js(name), hideIP))
}

// waitOpenTo waits until this page can write to every one of names (the "To" list offers a member
// once its data channel is open).
func (b *browser) waitOpenTo(names ...string) {
	b.t.Helper()
	list := make([]string, len(names))
	for i, n := range names {
		list[i] = js(n)
	}
	waitFor[bool](b, "data channels open to "+strings.Join(names, ", "), fmt.Sprintf(`(() => {
		const open = [...document.querySelectorAll('#room-to option')].filter((o) => o.value).map((o) => o.textContent);
		const want = [%s];
		return open.length === want.length && want.every((n) => open.some((o) => o.includes(n)));
	})()`, strings.Join(list, ",")), longWait)
}

// peerOf is the peer id this page knows member name by.
func (b *browser) peerOf(name string) string {
	b.t.Helper()
	return waitFor[string](b, "member "+name, fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll('#member-list li[data-peer]')]
			.find((l) => l.dataset.peer && l.querySelector('.member-name').textContent === %s);
		return li ? li.dataset.peer : '';
	})()`, js(name)), shortWait)
}

// roomSay sends text to everyone, or privately to the member called to.
func (b *browser) roomSay(text, to string) {
	b.t.Helper()
	peer := ""
	if to != "" {
		peer = b.peerOf(to)
	}
	evalT[bool](b, fmt.Sprintf(`(() => {
		const sel = document.getElementById('room-to');
		sel.value = %s;
		sel.dispatchEvent(new Event('change'));
		return true;
	})()`, js(peer)))
	b.typeInto("room-message", text)
	b.click("room-send")
	waitFor[bool](b, "own message shown", fmt.Sprintf(
		`[...document.querySelectorAll('#room-transcript .msg-me .text')].some((e) => e.textContent === %s)`, js(text)), shortWait)
}

// roomHeard waits until a message with text from the member called from is shown, and reports
// whether it was marked private.
func (b *browser) roomHeard(text, from string) bool {
	b.t.Helper()
	return waitFor[string](b, "message "+text, fmt.Sprintf(`(() => {
		const m = [...document.querySelectorAll('#room-transcript .msg-them')]
			.find((m) => m.querySelector('.text').textContent === %s && m.querySelector('.who').textContent.startsWith(%s));
		return m ? (m.dataset.private === 'true' ? 'private' : 'public') : '';
	})()`, js(text), js(from)), shortWait) == "private"
}

// roomTexts is every message text the page shows.
func (b *browser) roomTexts() []string {
	return evalT[[]string](b, `[...document.querySelectorAll('#room-transcript .msg .text')].map((e) => e.textContent)`)
}

// waitVideos waits until every remote tile (n of them) decodes frames: a size, and a playback time
// that moves on.
func (b *browser) waitVideos(n int) {
	b.t.Helper()
	sel := `[...document.querySelectorAll('#room-grid .tile[data-peer]:not([data-peer=""]) video')]`
	waitFor[bool](b, fmt.Sprintf("%d remote videos with a size", n),
		fmt.Sprintf(`(() => { const v = %s; return v.length === %d && v.every((e) => e.videoWidth > 0); })()`, sel, n), longWait)
	times := evalT[[]float64](b, sel+`.map((e) => e.currentTime)`)
	for i, t0 := range times {
		waitFor[bool](b, fmt.Sprintf("remote video %d playing on", i),
			fmt.Sprintf(`%s[%d].currentTime > %f`, sel, i, t0), longWait)
	}
}

// fitsWidth reports whether the page scrolls sideways at its current size.
func (b *browser) fitsWidth() bool {
	return evalT[bool](b, `document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth`)
}

// TestBrowserRoom: four browsers join one video room from its link, see each other's video and
// text; a private message shows only at its target; the owner locks the room and removes one
// member with a ban; a phone shows the grid without sideways scrolling; the secret never reaches
// a request line, a Referer or a log; no chat text reaches the server.
func TestBrowserRoom(t *testing.T) {
	app := startE2EApp(t, nil)
	names := []string{"Ann", "Bo", "Cy", "Dee"}
	var bs []*browser
	var bases []string
	for i, n := range names {
		bs = append(bs, newBrowser(t, strings.ToLower(n), 1280, 800))
		bases = append(bases, viaAddress(t, app, fmt.Sprintf("203.0.113.%d", 40+i)))
	}
	ann, bo, cy, dee := bs[0], bs[1], bs[2], bs[3]

	secret := ann.createRoom(bases[0], roomOpts{room: "Friday talk", media: "video", name: "Ann"})
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(secret) {
		t.Fatalf("secret %q", secret)
	}
	if link := evalT[string](ann, `document.getElementById('room-link').value`); link != bases[0]+"/r#"+secret {
		t.Errorf("the link shown is %q", link)
	}
	ann.shots("room-alone")
	bo.openRoomPage(bases[1]+"/r", "create-button")
	bo.shots("room-create")

	bo.joinRoom(bases[1], secret, "Bo", false)
	cy.joinRoom(bases[2], secret, "Cy", false)
	dee.fillJoin(bases[3], secret, "Dee", false)
	dee.shots("room-join")
	dee.click("join-button")
	dee.waitScreen("room", longWait)
	for i, b := range bs {
		var others []string
		for j, n := range names {
			if j != i {
				others = append(others, n)
			}
		}
		b.waitOpenTo(others...)
	}
	for _, b := range bs {
		b.waitVideos(3)
	}

	// Text to everyone, a private message, and typing.
	c := canary(t)
	ann.roomSay("hello all "+c, "")
	for _, b := range bs[1:] {
		if b.roomHeard("hello all "+c, "Ann") {
			t.Errorf("%s: a message to everyone shows as private", b.name)
		}
	}
	whisper := "only for Cy " + canary(t)
	bo.roomSay(whisper, "Cy")
	if !cy.roomHeard(whisper, "Bo") {
		t.Error("cy: the private message is not marked private")
	}
	// The channels are ordered: a message after the private one reaching the others proves the
	// private one never went to them.
	bo.roomSay("after the whisper", "")
	for _, b := range []*browser{ann, dee} {
		b.roomHeard("after the whisper", "Bo")
		for _, text := range b.roomTexts() {
			if text == whisper {
				t.Errorf("%s shows the private message to Cy", b.name)
			}
		}
	}
	cy.typeInto("room-message", "typing")
	waitFor[bool](ann, "Cy is typing", `document.getElementById('room-typing').textContent.includes('Cy')`, shortWait)
	ann.shots("room-four")
	bo.shots("room-member")

	// A phone: the grid of four fits the width, and the page does not scroll sideways.
	dee.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	if !dee.fitsWidth() {
		t.Error("the room scrolls sideways on a phone")
	}
	if !evalT[bool](dee, `(() => { const g = document.getElementById('room-grid').getBoundingClientRect();
		return g.width > 0 && g.right <= window.innerWidth; })()`) {
		t.Error("the grid is wider than a phone")
	}
	dee.do("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Local controls: hiding a member's video and muting them change this page only.
	evalT[bool](ann, fmt.Sprintf(`(document.querySelector('#member-list li[data-peer=%s] button[data-action=hide]').click(), true)`, js(ann.peerOf("Bo"))))
	if !evalT[bool](ann, fmt.Sprintf(`document.querySelector('#room-grid .tile[data-peer=%s]').classList.contains('video-off')`, js(ann.peerOf("Bo")))) {
		t.Error("hide video did not hide Bo's tile")
	}
	evalT[bool](ann, fmt.Sprintf(`(document.querySelector('#member-list li[data-peer=%s] button[data-action=hide]').click(), true)`, js(ann.peerOf("Bo"))))

	// The owner locks the room: everyone sees it.
	ann.click("room-lock")
	for _, b := range bs {
		waitFor[bool](b, "the room locked", `document.getElementById('room-status').dataset.locked === 'true'`, shortWait)
	}
	// The owner removes Dee with a ban: Dee is told, the others see three.
	deePeer := ann.peerOf("Dee")
	evalT[bool](ann, fmt.Sprintf(`(document.querySelector('#member-list li[data-peer=%s] button[data-action=kick]').click(), true)`, js(deePeer)))
	waitFor[bool](ann, "the kick dialog", `document.getElementById('kick-dialog').open`, shortWait)
	evalT[bool](ann, `(document.getElementById('kick-ban').checked = true, document.getElementById('kick-confirm').click(), true)`)
	dee.waitScreen("ended", shortWait)
	if got := evalT[string](dee, `document.getElementById('room-ended-text').dataset.i18n`); got != "room.ended.kickedBan" {
		t.Errorf("dee's page says %q", got)
	}
	if evalT[bool](dee, `!document.getElementById('rejoin').hidden`) {
		t.Error("a banned member is offered to join again")
	}
	dee.shots("room-kicked")
	for _, b := range bs[:3] {
		waitFor[bool](b, "three here", `document.querySelectorAll('#member-list li').length === 3`, shortWait)
	}
	waitFor[bool](bo, "removal said", `document.getElementById('room-transcript').textContent.includes('Dee')`, shortWait)

	// Cy leaves; Ann and Bo go on.
	cy.click("room-leave")
	cy.waitScreen("ended", shortWait)
	for _, b := range bs[:2] {
		waitFor[bool](b, "two here", `document.querySelectorAll('#member-list li').length === 2`, shortWait)
	}
	ann.roomSay("still here", "")
	bo.roomHeard("still here", "Ann")

	checkRoomNotSeen(t, app, c, secret)
	for _, b := range bs {
		// The page keeps the secret in its address only.
		if evalT[bool](b, fmt.Sprintf(`JSON.stringify(Object.entries(sessionStorage)).includes(%s)`, js(secret))) {
			t.Errorf("%s keeps the secret in sessionStorage", b.name)
		}
		b.checkClean()
	}
}

// requestParts are the request lines and the headers of every HTTP request in the tapped bytes.
var requestParts = regexp.MustCompile(`(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \S+ HTTP/1\.[01]|\r\n[A-Za-z-]+: [^\r\n]*`)

// checkRoomNotSeen fails if chat text crossed the server, or if the room's secret reached a
// request line, a header or a log. It may cross only inside WebSocket frames: room-created hands it
// out, and room-join brings it back (masked, as every frame from a browser).
func checkRoomNotSeen(t *testing.T, app *testApp, text, secret string) {
	t.Helper()
	tapped := string(app.Tap.Bytes())
	if !strings.Contains(tapped, `"type":"room-joined"`) {
		t.Fatal("the tap saw no room signaling: the checks below would prove nothing")
	}
	if strings.Contains(tapped, text) {
		t.Errorf("the server handled %q: chat content reached it", text)
	}
	if !strings.Contains(tapped, secret) {
		t.Fatal("the tap never saw the secret, not even in room-created: the checks below would prove nothing")
	}
	if !strings.Contains(tapped, "GET /r HTTP/1.1") {
		t.Fatal("the tap saw no request for the room page")
	}
	for _, m := range requestParts.FindAllString(tapped, -1) {
		if strings.Contains(m, secret) {
			t.Errorf("the secret reached a request line or header: %q", short(m))
		}
	}
	for _, s := range []string{text, secret} {
		if strings.Contains(app.Logs.String(), s) {
			t.Errorf("the server logged %q", s)
		}
	}
}

// TestBrowserRoomText: a text room, hidden IPs (every connection through the relay), Dutch, and a
// member who reloads comes back to the room and its transcript.
func TestBrowserRoomText(t *testing.T) {
	app := startE2EApp(t, func(c *Config) { c.TURNMaxSession, c.TURNMaxPerAddr = 16, 64 })
	ann := newBrowser(t, "ann", 1280, 800)
	bo := newBrowser(t, "bo", 1280, 800)
	cy := newBrowser(t, "cy", 1280, 800)
	bases := []string{viaAddress(t, app, "203.0.113.50"), viaAddress(t, app, "203.0.113.51"), viaAddress(t, app, "203.0.113.52")}
	secret := ann.createRoom(bases[0], roomOpts{media: "text", max: 3, name: "Ann", hideIP: true})
	bo.joinRoom(bases[1], secret, "Bo", true)
	cy.joinRoom(bases[2], secret, "Cy", false)
	ann.waitOpenTo("Bo", "Cy")
	bo.waitOpenTo("Ann", "Cy")
	cy.waitOpenTo("Ann", "Bo")
	// Hide-my-IP on either end: every connection of Ann and Bo goes through the relay.
	for _, b := range []*browser{ann, bo, cy} {
		waitFor[bool](b, "paths known", `[...document.querySelectorAll('#member-list .member-state')].filter((e) => e.dataset.state).every((e) => ['relay', 'direct'].includes(e.dataset.state))`, longWait)
	}
	for _, b := range []*browser{ann, bo} {
		if bad := evalT[[]string](b, `[...document.querySelectorAll('#member-list .member-state')].map((e) => e.dataset.state).filter((s) => s && s !== 'relay')`); len(bad) > 0 {
			t.Errorf("%s hides its address but has paths %q", b.name, bad)
		}
	}
	// Full: a fourth is refused with the room_full message.
	dee := newBrowser(t, "dee", 390, 844)
	dee.fillJoin(viaAddress(t, app, "203.0.113.53"), secret, "Dee", false)
	dee.click("join-button")
	waitFor[bool](dee, "room full", `document.getElementById('join-error').dataset.i18n === 'error.room_full'`, shortWait)
	dee.shots("room-full")

	ann.roomSay("before the reload", "")
	bo.roomHeard("before the reload", "Ann")
	evalT[bool](bo, `(document.querySelector('button[data-lang=nl]').click(), true)`)
	bo.navigate(bases[1] + "/r#" + secret)
	bo.waitScreen("room", shortWait)
	bo.waitOpenTo("Ann", "Cy")
	ann.waitOpenTo("Bo", "Cy")
	if got := evalT[string](bo, `document.getElementById('room-leave').textContent`); got != "Vertrek" {
		t.Errorf("Dutch leave button %q", got)
	}
	if !slices.Contains(bo.roomTexts(), "before the reload") {
		t.Error("the transcript did not survive the reload")
	}
	bo.roomSay("terug", "")
	ann.roomHeard("terug", "Bo")
	cy.roomHeard("terug", "Bo")
	cy.roomSay("private to Ann", "Ann")
	ann.roomHeard("private to Ann", "Cy")
	bo.shots("room-text")
	// The strings: none missing in either language, every key on the page has one.
	if missing := evalT[[]string](bo, `import('/i18n.js').then((m) => m.missing())`); len(missing) > 0 {
		t.Errorf("untranslated strings: %v", missing)
	}
	if bad := evalT[[]string](bo, `import('/i18n.js').then((m) => [...document.querySelectorAll('[data-i18n]')]
		.map((e) => e.dataset.i18n).filter((k) => !m.has(k)))`); len(bad) > 0 {
		t.Errorf("keys without a string: %q", bad)
	}
	for _, b := range []*browser{ann, bo, cy, dee} {
		b.checkClean()
	}
}
