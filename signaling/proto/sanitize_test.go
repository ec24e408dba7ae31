package proto

import (
	"regexp"
	"testing"

	"github.com/pion/sdp/v3"
)

// originVersion matches the o= session version, the one value of a cleaned
// description that is not a function of the input (it is the time).
var originVersion = regexp.MustCompile(`(?m)^(o=- \d+ )\d+( IN IP4 0\.0\.0\.0\r)$`)

func withoutVersion(s string) string { return originVersion.ReplaceAllString(s, "${1}V${2}") }

// checkCleanSDP checks what Clean returned: pion's parser takes it, and it
// cleans again to itself (idempotent), but for the version.
func checkCleanSDP(t testing.TB, cleaned string, hide bool) {
	t.Helper()
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(cleaned); err != nil {
		t.Fatalf("pion does not parse a cleaned description: %v\n%s", err, cleaned)
	}
	if !originVersion.MatchString(cleaned) {
		t.Fatalf("no server-written o= line:\n%s", cleaned)
	}
	for _, typ := range []string{"offer", "answer"} {
		again, err := cleanSDP(&SessionDescription{Type: typ, SDP: cleaned}, hide, 1)
		if err != nil {
			if typ == "answer" { // an offer with actpass is no answer
				continue
			}
			t.Fatalf("a cleaned description does not clean again: %v\n%s", err, cleaned)
		}
		if withoutVersion(again.SDP) != withoutVersion(cleaned) {
			t.Fatalf("cleaning is not idempotent:\nonce:\n%s\ntwice:\n%s", cleaned, again.SDP)
		}
	}
}
