package static

import (
	"strings"
	"testing"
	"time"
)

// The privacy notice has a section on the helpline, with its settings, when
// the helpline runs, and none otherwise.
func TestPrivacyHelplineSection(t *testing.T) {
	on := Handler(Options{Helpline: &HelplineOptions{ContactPeriod: 90 * 24 * time.Hour, TimeOutsToBlock: 4, Block: 60 * 24 * time.Hour}})
	off := Handler(Options{})
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"en", []string{`id="helpline"`, "parley_visitor", "every 90 days", "after\n4 time-outs, for 60 days"}},
		{"nl", []string{`id="helpline"`, "parley_visitor", "elke 90 dagen", "na 4 time-outs 60 dagen"}},
	} {
		text := body(t, get(t, on, "GET", "/privacy?lang="+tc.lang, nil))
		for _, w := range tc.want {
			if !strings.Contains(strings.Join(strings.Fields(text), " "), strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s: the notice does not say %q", tc.lang, w)
			}
		}
		if page := body(t, get(t, off, "GET", "/privacy?lang="+tc.lang, nil)); strings.Contains(page, "parley_visitor") {
			t.Errorf("%s: a notice without a helpline speaks of it", tc.lang)
		}
	}
}
