//go:build e2e

package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/static"
	"github.com/parley-chat/parley/store"
)

// The helpline in Chromium: staff register and sign in with passkeys held by Chromium's virtual
// authenticator (the DevTools WebAuthn domain), and a visitor and a volunteer go through a whole chat.

func startHelplineE2E(t *testing.T) *testApp {
	t.Helper()
	return startE2EApp(t, func(c *Config) { c.Helpline.On = true })
}

// staffBase is the app's URL by the name localhost: passkeys are bound to a host name, never an IP
// address, and http://localhost is a secure context.
func staffBase(app *testApp) string { return strings.Replace(app.URL, "127.0.0.1", "localhost", 1) }

// authenticator gives the tab a virtual platform authenticator that keeps discoverable credentials
// and verifies its user at once, and returns its id.
func (b *browser) authenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.do("virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		if err == nil {
			id = res.AuthenticatorID
		}
		return err
	}))
	return id
}

// credentials lists the passkeys the tab's virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	var out []*webauthn.Credential
	b.do("credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		if err == nil {
			out = res.Credentials
		}
		return err
	}))
	return out
}

// register opens an invite link and makes a passkey under name; it waits for the dashboard.
func (b *browser) register(base, token, name string) {
	b.t.Helper()
	b.navigate(base + "/staff.html#invite=" + token)
	b.waitScreen("register", shortWait)
	b.typeInto("staff-name", name)
	b.click("register")
	b.waitScreen("dashboard", shortWait)
	waitFor[bool](b, "signed in as "+name, fmt.Sprintf(`document.getElementById('who').textContent.includes(%s)`, js(name)), shortWait)
}

// signOutAndIn signs out, then in again with the passkey.
func (b *browser) signOutAndIn(name string) {
	b.t.Helper()
	b.click("signout")
	b.waitScreen("signin", shortWait)
	b.click("signin")
	b.waitScreen("dashboard", shortWait)
	waitFor[bool](b, "signed in again as "+name, fmt.Sprintf(`document.getElementById('who').textContent.includes(%s)`, js(name)), shortWait)
}

// Registration by invite and sign-in with a passkey; an invite works once; a coordinator invites a
// volunteer from the page, who registers with that link.
func TestBrowserHelplinePasskeys(t *testing.T) {
	app := startHelplineE2E(t)
	base := staffBase(app)
	token, _, err := app.sig.Helpline().NewInvite(time.Now(), store.RoleCoordinator, helpline.Admin)
	if err != nil {
		t.Fatal(err)
	}
	ada := newBrowser(t, "ada", 1280, 900)
	auth := ada.authenticator()
	ada.register(base, token, "Ada")
	creds := ada.credentials(auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %d credentials (%+v), want one discoverable passkey", len(creds), creds)
	}
	if !evalT[bool](ada, `!document.getElementById('coordination').hidden`) {
		t.Fatal("a coordinator sees no coordination panel")
	}
	ada.signOutAndIn("Ada")

	// The invite worked once.
	eve := newBrowser(t, "eve", 1280, 900)
	eve.authenticator()
	eve.navigate(base + "/staff.html#invite=" + token)
	eve.waitScreen("register", shortWait)
	eve.typeInto("staff-name", "Eve")
	eve.click("register")
	waitFor[bool](eve, "the invite refused", `document.getElementById('alert').textContent.includes('used, revoked or has expired')`, shortWait)

	// Ada invites a volunteer; Sam registers with the link.
	ada.click("new-invite")
	link := waitFor[string](ada, "the invite link", `document.getElementById('invite-link').value`, shortWait)
	if !strings.HasPrefix(link, base+helpline.InvitePath) {
		t.Fatalf("invite link %q", link)
	}
	sam := newBrowser(t, "sam", 1280, 900)
	sam.authenticator()
	sam.register(base, strings.TrimPrefix(link, base+helpline.InvitePath), "Sam")
	if !evalT[bool](sam, `document.getElementById('coordination').hidden && document.getElementById('who').textContent.includes('volunteer')`) {
		t.Fatal("a volunteer sees the coordination panel, or is not a volunteer")
	}
	waitFor[bool](ada, "Sam in the staff list", `(document.getElementById('new-invite').click(), [...document.querySelectorAll('#members li')].some((l) => l.textContent.includes('Sam')))`, shortWait)
	ada.shots("helpline-coordinator")
	for _, b := range []*browser{ada, eve, sam} {
		b.checkClean()
	}
}

// The whole helpline in two browsers: a volunteer signs in with a passkey and goes on shift, a
// visitor waits and sees its place (and that nobody is on shift, until someone is), the volunteer
// accepts, they chat, the volunteer gives a time-out, and the visitor sees it.
func TestBrowserHelpline(t *testing.T) {
	app := startHelplineE2E(t)
	base := staffBase(app)
	token, _, err := app.sig.Helpline().NewInvite(time.Now(), store.RoleVolunteer, helpline.Admin)
	if err != nil {
		t.Fatal(err)
	}
	vol := newBrowser(t, "volunteer", 1280, 900)
	vol.authenticator()
	vol.register(base, token, "Sam")
	vol.signOutAndIn("Sam")

	// The visitor comes first: nobody on shift, said plainly, and the place in line.
	visitor := newBrowser(t, "visitor", 1280, 800)
	visitor.navigate(viaAddress(t, app, "203.0.113.10") + "/helpline.html")
	visitor.waitScreen("start", shortWait)
	waitFor[bool](visitor, "nobody on shift", `document.getElementById('hl-staffed').dataset.state === 'unstaffed'`, shortWait)
	evalT[bool](visitor, `(document.getElementById('hl-consent').checked = true, true)`)
	visitor.click("hl-start")
	visitor.waitScreen("queue", shortWait)
	waitFor[bool](visitor, "place 1", `document.getElementById('hl-place').dataset.position === '1'`, shortWait)
	waitFor[bool](visitor, "nobody on shift in the waiting room", `!document.getElementById('hl-nobody').hidden`, shortWait)
	visitor.shots("helpline-waiting")

	vol.click("shift-toggle")
	waitFor[bool](vol, "on shift", `document.getElementById('shift-state').dataset.on === 'true'`, shortWait)
	waitFor[bool](visitor, "somebody on shift", `document.getElementById('hl-nobody').hidden`, shortWait)
	waitFor[bool](vol, "the offer", `!!document.querySelector('.offer-card .accept')`, shortWait)
	if got := evalT[string](vol, `document.querySelector('.offer-card .contact').textContent`); got != "First contact." {
		t.Errorf("the offer says %q", got)
	}
	evalT[bool](vol, `(document.querySelector('.offer-card .accept').click(), true)`)

	visitor.waitChatOpen()
	waitFor[bool](vol, "the chat's input", `!!document.querySelector('.chat-card[data-kind=visitor] textarea:not(:disabled)')`, longWait)
	if got := evalT[string](visitor, `document.getElementById('hl-chat-title').textContent`); got != "Talking with Sam" {
		t.Errorf("the visitor's chat title %q", got)
	}
	c := canary(t)
	visitor.say(c)
	waitFor[bool](vol, "the visitor's message", fmt.Sprintf(
		`[...document.querySelectorAll('.chat-card[data-kind=visitor] .msg-them .text')].some((e) => e.textContent === %s)`, js(c)), shortWait)
	evalT[bool](vol, `(() => { const card = document.querySelector('.chat-card[data-kind=visitor]');
		card.querySelector('textarea').value = 'I am listening'; card.querySelector('form').requestSubmit(); return true; })()`)
	visitor.waitHeard("I am listening")
	vol.shots("helpline-dashboard")

	// Both ends relayed, whatever the visitor's page asked.
	if st := visitor.stats(); st.LocalType != "relay" && st.RemoteType != "relay" {
		t.Errorf("the visitor's chat is not relayed: %+v", st)
	}

	// The time-out.
	evalT[bool](vol, `(() => { const card = document.querySelector('.chat-card[data-kind=visitor]');
		card.querySelector('.hours').value = '1'; card.querySelector('.timeout').click(); return true; })()`)
	waitFor[bool](visitor, "the time-out shown", `!document.getElementById('ended').hidden &&
		document.getElementById('ended-text').textContent.startsWith('The volunteer gave you a time-out')`, shortWait)
	waitFor[bool](vol, "the chat ended by the time-out", `document.querySelector('.chat-card[data-kind=visitor]').dataset.ended === 'timeout'`, shortWait)
	visitor.shots("helpline-timeout")
	checkNotSeen(t, app, c)
	for _, b := range []*browser{vol, visitor} {
		b.checkClean()
	}
}

// The helpline's pages from the static handler alone: every string in both languages, every control
// labelled, nothing from elsewhere, no CSP violation or error.
func TestBrowserHelplineStaticPages(t *testing.T) {
	srv := httptest.NewServer(static.Handler(static.Options{}))
	t.Cleanup(srv.Close)
	b := newBrowser(t, "helpline-pages", 1280, 800)
	for _, page := range []struct{ path, screen, title, nl string }{
		{"/helpline.html", "start", "hl-title", "Praat met een vrijwilliger"},
		{"/staff.html", "signin", "signin-title", "Medewerkers van de hulplijn"},
	} {
		t.Run(page.path, func(t *testing.T) {
			b.navigate(srv.URL + page.path)
			b.waitScreen(page.screen, 10*time.Second)
			if missing := evalT[[]string](b, `import('/hlconn.js').then(() => import('/i18n.js')).then((m) => m.missing())`); len(missing) > 0 {
				t.Errorf("untranslated strings: %v", missing)
			}
			if bad := evalT[[]string](b, `import('/i18n.js').then((m) => [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n).filter((k) => !m.has(k)))`); len(bad) > 0 {
				t.Errorf("keys without a string: %v", bad)
			}
			if bad := evalT[[]string](b, `[...document.querySelectorAll('input, select, textarea')]
				.filter((e) => !e.labels.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
				.map((e) => e.id || e.name)`); len(bad) > 0 {
				t.Errorf("controls without a label: %q", bad)
			}
			evalT[bool](b, `(document.querySelector('button[data-lang="nl"]').click(), true)`)
			if got := evalT[string](b, `document.getElementById(`+js(page.title)+`).textContent`); got != page.nl {
				t.Errorf("the Dutch title %q", got)
			}
			evalT[bool](b, `(document.querySelector('button[data-lang="en"]').click(), true)`)
			if others := evalT[[]string](b, `performance.getEntriesByType('resource').map((e) => e.name).filter((u) => !u.startsWith(location.origin))`); len(others) > 0 {
				t.Errorf("resources from elsewhere: %v", others)
			}
		})
	}
	b.checkClean()
}

// A handover in the browsers: Ann hands her chat to Bo, who accepts; the visitor moves to Bo without
// queueing again, and Ann's notes reach Bo's page over their own data channel, never the server.
func TestBrowserHelplineHandover(t *testing.T) {
	app := startHelplineE2E(t)
	base := staffBase(app)
	staff := map[string]*browser{}
	for _, name := range []string{"Ann", "Bo"} {
		token, _, err := app.sig.Helpline().NewInvite(time.Now(), store.RoleVolunteer, helpline.Admin)
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, name, 1280, 900)
		b.authenticator()
		b.register(base, token, name)
		b.click("shift-toggle")
		waitFor[bool](b, "on shift", `document.getElementById('shift-state').dataset.on === 'true'`, shortWait)
		staff[name] = b
	}
	ann, bo := staff["Ann"], staff["Bo"]
	visitor := newBrowser(t, "visitor", 1280, 800)
	visitor.navigate(viaAddress(t, app, "203.0.113.11") + "/helpline.html")
	visitor.waitScreen("start", shortWait)
	evalT[bool](visitor, `(document.getElementById('hl-consent').checked = true, true)`)
	visitor.click("hl-start")
	// The offer goes to whoever has been free the longest: Ann, who went on shift first, unless the
	// clocks of a loaded machine say otherwise. Whoever gets it hands the chat to the other.
	hasOffer := `!!document.querySelector('.offer-card .accept')`
	var from, to *browser
	var fromName, toName string
	deadline := time.Now().Add(shortWait)
	for from == nil {
		switch {
		case evalT[bool](ann, hasOffer):
			from, to, fromName, toName = ann, bo, "Ann", "Bo"
		case evalT[bool](bo, hasOffer):
			from, to, fromName, toName = bo, ann, "Bo", "Ann"
		case time.Now().After(deadline):
			t.Fatalf("no volunteer was offered the visitor within %v", shortWait)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	evalT[bool](from, `(document.querySelector('.offer-card .accept').click(), true)`)
	visitor.waitChatOpen()
	waitFor[bool](from, "the colleague among the colleagues", `[...document.querySelectorAll('.chat-card[data-kind=visitor] .handover-to option')].some((o) => o.textContent === `+js(toName)+`)`, shortWait)
	evalT[bool](from, `(() => { const card = document.querySelector('.chat-card[data-kind=visitor]');
		const to = card.querySelector('.handover-to');
		to.value = [...to.options].find((o) => o.textContent === `+js(toName)+`).value;
		card.querySelector('.handover').click(); return true; })()`)
	waitFor[bool](to, "the handover's offer", `[...document.querySelectorAll('.offer-card .offer-head')].some((e) => e.textContent === `+js(fromName+" hands a chat over to you.")+`)`, shortWait)
	evalT[bool](to, `(document.querySelector('.offer-card .accept').click(), true)`)

	waitFor[bool](visitor, "talking with the colleague", `document.getElementById('hl-chat-title').textContent === `+js("Talking with "+toName)+` && !document.getElementById('message').disabled`, longWait)
	for _, b := range []*browser{ann, bo} {
		waitFor[bool](b, "the notes open", `!!document.querySelector('.chat-card[data-kind=notes] textarea:not(:disabled)')`, longWait)
	}
	notes := canary(t)
	evalT[bool](from, fmt.Sprintf(`(() => { const card = document.querySelector('.chat-card[data-kind=notes]');
		card.querySelector('textarea').value = %s; card.querySelector('form').requestSubmit(); return true; })()`, js(notes)))
	waitFor[bool](to, "the notes handed over", fmt.Sprintf(`[...document.querySelectorAll('.chat-card[data-kind=notes] .msg-them .text')].some((e) => e.textContent === %s)`, js(notes)), shortWait)
	to.shots("helpline-handover")
	checkNotSeen(t, app, notes)
	for _, b := range []*browser{ann, bo, visitor} {
		b.checkClean()
	}
}
