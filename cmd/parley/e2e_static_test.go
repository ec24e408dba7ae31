//go:build e2e

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/parley-chat/parley/static"
)

// TestBrowserStaticPages loads the client and the privacy notice from the static handler alone: the
// pages render under their own CSP without a single violation, error or third-party request, and
// the language switch works.
func TestBrowserStaticPages(t *testing.T) {
	srv := httptest.NewServer(static.Handler(static.Options{BanAfter: 4}))
	t.Cleanup(srv.Close)
	b := newBrowser(t, "static", 1280, 800)
	b.navigate(srv.URL + "/")
	b.waitScreen("start", 10*time.Second)
	if got := evalT[string](b, `document.getElementById('start-title').textContent`); got != "Talk to a stranger" {
		t.Errorf("start title %q", got)
	}
	b.click("start-form") // harmless; proves click works on a visible element
	evalT[bool](b, `(document.querySelector('button[data-lang="nl"]').click(), true)`)
	if got := evalT[string](b, `document.getElementById('start-title').textContent`); got != "Praat met een onbekende" {
		t.Errorf("Dutch start title %q", got)
	}
	if got := evalT[string](b, `document.documentElement.lang`); got != "nl" {
		t.Errorf("html lang %q after switching to Dutch", got)
	}
	if missing := evalT[[]string](b, `import('/i18n.js').then((m) => m.missing())`); len(missing) > 0 {
		t.Errorf("untranslated strings: %v", missing)
	}
	// Keyboard and screen reader: every control has a label, every button a name, new messages are
	// announced (a live log), and the page has one main landmark and a skip link.
	if bad := evalT[[]string](b, `[...document.querySelectorAll('input, select, textarea')]
		.filter((e) => !e.labels.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
		.map((e) => e.id || e.name)`); len(bad) > 0 {
		t.Errorf("controls without a label: %q", bad)
	}
	if bad := evalT[[]string](b, `[...document.querySelectorAll('button')]
		.filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim())).map((e) => e.id || e.outerHTML)`); len(bad) > 0 {
		t.Errorf("buttons without a name: %q", bad)
	}
	if !evalT[bool](b, `(() => { const l = document.getElementById('transcript');
		return l.getAttribute('role') === 'log' && l.getAttribute('aria-live') === 'polite'; })()`) {
		t.Error("the transcript is not a live log")
	}
	if !evalT[bool](b, `document.querySelectorAll('main').length === 1 && !!document.querySelector('a.skip-link[href="#main"]')`) {
		t.Error("no single main landmark with a skip link")
	}
	// Every text the page or the client sets by key has a string, in every state the client uses.
	if bad := evalT[[]string](b, `import('/i18n.js').then((m) => {
		const keys = [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n)
			.concat([...document.querySelectorAll('[data-i18n-placeholder]')].map((e) => e.dataset.i18nPlaceholder))
			.concat([...document.querySelectorAll('[data-i18n-aria-label]')].map((e) => e.dataset.i18nAriaLabel))
			.concat(['connecting', 'direct', 'relay', 'reconnecting', 'interrupted', 'partnerReconnecting', 'failed', 'ended', 'server'].map((s) => 'state.' + s))
			.concat(['next', 'leave', 'gone', 'closed', 'failed', 'banned', 'you', 'reported', 'over', 'blocked'].map((s) => 'left.' + s))
			.concat(['random', 'opposite', 'interests', 'interestsNone', 'media.text', 'media.video', 'media.audio', 'language', 'path.connecting', 'path.direct', 'path.relay', 'path.relayHidden'].map((s) => 'intro.' + s))
			.concat(['start.optionsLanguage', 'start.languageAny', 'pow.failed', 'online.count', 'microphone.insecure', 'microphone.missing'])
			.concat(['camera.insecure', 'camera.missing', 'closed.takenOver', 'closed.takenOverTitle', 'start.notifyDenied', 'chat.waitAway', 'chat.waitInterrupted', 'title.matched', 'title.messages', 'notify.title', 'notify.body', 'webrtc.form']);
		return keys.filter((k) => !m.has(k));
	})`); len(bad) > 0 {
		t.Errorf("keys without a string: %q", bad)
	}
	// Every error code the server can send has its own message in both languages.
	known := evalT[[]string](b, `import('/i18n.js').then((m) => m.errorCodes)`)
	for _, code := range proto.Codes() {
		if !slices.Contains(known, code) {
			t.Errorf("the client has no message for the server's error code %q", code)
		}
	}
	// Every resource the page loaded came from its own origin.
	others := evalT[[]string](b, `performance.getEntriesByType('resource').map((e) => e.name).filter((u) => !u.startsWith(location.origin))`)
	if len(others) > 0 {
		t.Errorf("resources from elsewhere: %v", others)
	}
	// A Dutch browser gets the Dutch client and the Dutch privacy notice without asking.
	nl := newBrowser(t, "dutch", 1280, 800)
	nl.do("Dutch browser", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ua, err := cdp.Call(ctx, tg, cdpbrowser.GetVersion, cdp.Empty{})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: ua.UserAgent, AcceptLanguage: "nl-NL,nl",
		})
		return err
	}))
	nl.navigate(srv.URL + "/")
	nl.waitScreen("start", 10*time.Second)
	if got := evalT[string](nl, `document.getElementById('start-title').textContent`); got != "Praat met een onbekende" {
		t.Errorf("a Dutch browser gets start title %q", got)
	}
	nl.navigate(srv.URL + "/privacy")
	if got := evalT[string](nl, `document.documentElement.lang`); got != "nl" {
		t.Errorf("a Dutch browser gets the privacy notice in %q", got)
	}
	nl.checkClean()

	b.navigate(srv.URL + "/privacy")
	waitFor[bool](b, "privacy page", `document.querySelector('h1') && document.querySelector('h1').textContent === 'Privacy'`, 10*time.Second)
	if !evalT[bool](b, `document.body.textContent.includes('when 4 different people')`) {
		t.Error("privacy page does not state the configured ban threshold")
	}
	if !evalT[bool](b, `getComputedStyle(document.querySelector('.prose')).borderRadius !== '0px'`) {
		t.Error("privacy page is not styled (style.css blocked?)")
	}
	b.checkClean()
}

// TestBrowserSHA256 checks the client's plain SHA-256 (static/web/sha256.js, used where
// crypto.subtle is missing) against the FIPS 180-2 vectors and against Go's crypto/sha256 at every
// length around the block boundaries and on multi-byte text.
func TestBrowserSHA256(t *testing.T) {
	srv := httptest.NewServer(static.Handler(static.Options{}))
	t.Cleanup(srv.Close)
	b := newBrowser(t, "sha256", 1280, 800)
	b.navigate(srv.URL + "/")
	b.waitScreen("start", 10*time.Second)
	for _, tc := range []struct{ expr, want string }{
		{`''`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{`'abc'`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'`, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{`'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'`, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
		{`'a'.repeat(1000000)`, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	} {
		got := evalT[string](b, `import('/sha256.js').then((m) => m.hex(m.sha256(`+tc.expr+`)))`)
		if got != tc.want {
			t.Errorf("sha256(%s) = %s, want %s", short(tc.expr), got, tc.want)
		}
	}
	var inputs []string
	for n := 0; n <= 130; n++ {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i*7 + n)
		}
		inputs = append(inputs, hex.EncodeToString(buf))
	}
	got := evalT[[]string](b, `import('/sha256.js').then((m) => `+jsStrings(inputs)+`.map((h) =>
		m.hex(m.sha256(new Uint8Array(h.match(/../g) || []).map((_, i) => parseInt(h.substr(2 * i, 2), 16))))))`)
	for i, h := range inputs {
		raw, _ := hex.DecodeString(h)
		want := sha256.Sum256(raw)
		if i >= len(got) || got[i] != hex.EncodeToString(want[:]) {
			t.Errorf("length %d: JavaScript and Go disagree", len(raw))
		}
	}
	text := "Stelling: één, twee 🚲 — 0123456789"
	want := sha256.Sum256([]byte(text))
	if got := evalT[string](b, `import('/sha256.js').then((m) => m.hex(m.sha256(`+js(text)+`)))`); got != hex.EncodeToString(want[:]) {
		t.Errorf("UTF-8 text: %s, want %x", got, want)
	}
	b.checkClean()
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = js(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}
