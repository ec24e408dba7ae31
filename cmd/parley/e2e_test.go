//go:build e2e

package main

import (
	"slices"
	"testing"
)

// TestE2ETextChat: two browsers are paired, chat by text both ways over the data channel, see each
// other's names and typing, show the same safety code and a direct connection; no word of the chat
// reaches the server.
func TestE2ETextChat(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	pairUp(t, app.URL, ann, bob, joinOpts{name: "Ann"}, joinOpts{name: "Bob"})

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

	checkNotSeen(t, app, c1)
	checkNotSeen(t, app, c2)
	ann.checkClean()
	bob.checkClean()
}
