//go:build e2e

package main

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-chat/parley/static"
)

// TestE2EStaticPages loads the client and the privacy notice from the static handler alone: the
// pages render under their own CSP without a single violation, error or third-party request, and
// the language switch works.
func TestE2EStaticPages(t *testing.T) {
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
	// Every resource the page loaded came from its own origin.
	others := evalT[[]string](b, `performance.getEntriesByType('resource').map((e) => e.name).filter((u) => !u.startsWith(location.origin))`)
	if len(others) > 0 {
		t.Errorf("resources from elsewhere: %v", others)
	}
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
