package proto

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// foundationField matches the server-written foundation of a cleaned candidate.
var foundationField = regexp.MustCompile(`^candidate:\d{1,10} `)

func TestCleanTrickledCandidates(t *testing.T) {
	const mdns = "2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local"
	for _, tc := range []struct {
		name     string
		in       string
		hide     bool
		want     string // without the foundation; "" when dropped
		wantMore func(*Candidate) bool
	}{
		{"Chromium host", "candidate:3664091493 1 udp 2122194687 192.0.2.2 42831 typ host generation 0 ufrag QDIK network-id 1", false,
			"1 udp 2122194687 192.0.2.2 42831 typ host", nil},
		{"Chromium IPv6 host", "candidate:3709334997 1 udp 2122265343 fd00::2 57717 typ host generation 0 ufrag QDIK network-id 2", false,
			"1 udp 2122265343 fd00::2 57717 typ host", nil},
		{"Chromium TCP", "candidate:2214510350 1 tcp 1518214911 192.0.2.2 9 typ host tcptype active generation 0 ufrag q/AC network-id 1", false,
			"1 tcp 1518214911 192.0.2.2 9 typ host tcptype active", nil},
		{"Chromium mDNS", "candidate:1560499547 1 udp 2113937151 2CF0B2C0-0842-4FE3-AAA0-4556A2DFBADC.local 33192 typ host generation 0 network-cost 999", false,
			"1 udp 2113937151 " + mdns + " 33192 typ host", nil},
		{"Chromium srflx with its LAN address", "candidate:842163049 1 udp 1677729535 198.51.100.10 52200 typ srflx raddr 192.168.1.5 rport 52200 generation 0 network-cost 999", false,
			"1 udp 1677729535 198.51.100.10 52200 typ srflx raddr 0.0.0.0 rport 0", nil},
		{"Chromium relay", "candidate:1 1 udp 41885439 203.0.113.5 61000 typ relay raddr 198.51.100.10 rport 52200 generation 0", false,
			"1 udp 41885439 203.0.113.5 61000 typ relay raddr 0.0.0.0 rport 0", nil},
		{"IPv6 relay", "candidate:1 1 udp 41885439 2001:db8::5 61000 typ relay raddr 2001:db8::9 rport 52200", false,
			"1 udp 41885439 2001:db8::5 61000 typ relay raddr :: rport 0", nil},
		{"Firefox", "candidate:0 1 UDP 2122252543 10.0.0.5 51022 typ host", false,
			"1 udp 2122252543 10.0.0.5 51022 typ host", nil},
		{"Firefox TCP", "candidate:2 1 TCP 2105524479 10.0.0.5 9 typ host tcptype active", false,
			"1 tcp 2105524479 10.0.0.5 9 typ host tcptype active", nil},
		{"pion", "candidate:2800140105 1 udp 2130706431 127.0.0.1 55147 typ host", false,
			"1 udp 2130706431 127.0.0.1 55147 typ host", nil},
		{"a= prefix", "a=candidate:0 1 UDP 2122252543 10.0.0.5 51022 typ host", false,
			"1 udp 2122252543 10.0.0.5 51022 typ host", nil},
		{"RTCP component", "candidate:0 2 UDP 2122252542 10.0.0.5 51023 typ host", false,
			"2 udp 2122252542 10.0.0.5 51023 typ host", nil},
		{"priority's low byte is the component's", "candidate:0 1 udp 2122252290 10.0.0.5 51023 typ host", false,
			"1 udp 2122252543 10.0.0.5 51023 typ host", nil},
		{"IPv6 written long", "candidate:0 1 udp 2122252543 2001:0db8:0000:0000:0000:0000:0000:0001 5000 typ host", false,
			"1 udp 2122252543 2001:db8::1 5000 typ host", nil},
		{"relay under hide", "candidate:1 1 udp 41885439 203.0.113.5 61000 typ relay raddr 198.51.100.10 rport 52200", true,
			"1 udp 41885439 203.0.113.5 61000 typ relay raddr 0.0.0.0 rport 0", nil},
		{"host under hide", "candidate:0 1 UDP 2122252543 10.0.0.5 51022 typ host", true, "", nil},
		{"srflx under hide", "candidate:842163049 1 udp 1677729535 198.51.100.10 52200 typ srflx raddr 0.0.0.0 rport 0", true, "", nil},
		{"mDNS under hide", "candidate:1 1 udp 2113937151 " + mdns + " 33192 typ host", true, "", nil},
		{"bad host under hide", "candidate:1 1 udp 2113937151 x.example 33192 typ host", true, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Candidate{Candidate: tc.in, SDPMid: ptr("0"), SDPMLineIndex: ptr[uint16](0), UsernameFragment: ptr("QDIK")}
			out, ok, err := (&SignalData{Candidate: in}).Clean(tc.hide)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if ok || out != nil {
					t.Fatalf("forwarded %+v", out)
				}
				return
			}
			c := out.Candidate
			got := foundationField.ReplaceAllString(c.Candidate, "")
			if !ok || got != tc.want || !foundationField.MatchString(c.Candidate) {
				t.Fatalf("got %q, want %q", c.Candidate, tc.want)
			}
			if *c.SDPMid != "0" || *c.SDPMLineIndex != 0 || *c.UsernameFragment != "QDIK" {
				t.Fatalf("fields %+v", c)
			}
			again, _, err := (&SignalData{Candidate: c}).Clean(tc.hide)
			if err != nil || again.Candidate.Candidate != c.Candidate {
				t.Fatalf("not idempotent: %v %v", again, err)
			}
		})
	}
}

// The foundation depends on type, transport and address only: candidates
// RFC 8445 groups together share it, and the sender's choice is gone.
func TestCandidateFoundationIsDerived(t *testing.T) {
	clean := func(s string) string {
		out, _, err := (&SignalData{Candidate: &Candidate{Candidate: s, SDPMid: ptr("0")}}).Clean(false)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(out.Candidate.Candidate)[0]
	}
	a := clean("candidate:111 1 udp 2122194687 192.0.2.2 42831 typ host")
	if b := clean("candidate:999 1 udp 2122194600 192.0.2.2 40000 typ host generation 1"); a != b {
		t.Errorf("same type, transport and address: %s and %s", a, b)
	}
	for _, other := range []string{
		"candidate:111 1 udp 2122194687 192.0.2.3 42831 typ host",
		"candidate:111 1 tcp 2122194687 192.0.2.2 9 typ host tcptype active",
		"candidate:111 1 udp 1686052607 192.0.2.2 42831 typ srflx",
	} {
		if b := clean(other); a == b {
			t.Errorf("%q shares the foundation %s", other, a)
		}
	}
}

func TestCleanCandidateEndOfCandidates(t *testing.T) {
	for _, hide := range []bool{false, true} {
		out, ok, err := (&SignalData{Candidate: &Candidate{SDPMid: ptr("1"), UsernameFragment: ptr("EsAw")}}).Clean(hide)
		if err != nil || !ok || out.Candidate.Candidate != "" || *out.Candidate.SDPMid != "1" || out.Candidate.SDPMLineIndex != nil {
			t.Fatalf("hide %v: %+v %v %v", hide, out, ok, err)
		}
	}
}

func TestCleanRefusesMalformedCandidates(t *testing.T) {
	good := "candidate:0 1 udp 2122252543 10.0.0.5 51022 typ host"
	for _, tc := range []struct {
		name string
		c    Candidate
	}{
		{"sdpMid not a mid", Candidate{Candidate: good, SDPMid: ptr(marker)}},
		{"sdpMid too large", Candidate{Candidate: good, SDPMid: ptr("1000")}},
		{"sdpMLineIndex out of range", Candidate{Candidate: good, SDPMLineIndex: ptr[uint16](maxSections)}},
		{"usernameFragment too long", Candidate{Candidate: good, SDPMid: ptr("0"), UsernameFragment: ptr(marker + marker)}},
		{"usernameFragment not ice-chars", Candidate{Candidate: good, SDPMid: ptr("0"), UsernameFragment: ptr("Zq9P;")}},
		{"no media section named", Candidate{Candidate: good}},
		{"not a candidate attribute", Candidate{Candidate: marker, SDPMid: ptr("0")}},
		{"no candidate: prefix", Candidate{Candidate: strings.TrimPrefix(good, "candidate:"), SDPMid: ptr("0")}},
		{"host name", Candidate{Candidate: "candidate:0 1 udp 1 " + marker + ".example 5000 typ host", SDPMid: ptr("0")}},
		{"mDNS name not a UUID v4", Candidate{Candidate: "candidate:0 1 udp 1 2cf0b2c0-0842-1fe3-aaa0-4556a2dfbadc.local 5000 typ host", SDPMid: ptr("0")}},
		{"mDNS name on a relay", Candidate{Candidate: "candidate:0 1 udp 1 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 5000 typ relay", SDPMid: ptr("0")}},
		{"foundation too long", Candidate{Candidate: "candidate:" + strings.Repeat("a", 33) + " 1 udp 1 10.0.0.5 5000 typ host", SDPMid: ptr("0")}},
		{"bad related address", Candidate{Candidate: "candidate:0 1 udp 1 10.0.0.5 5000 typ srflx raddr " + marker + " rport 1", SDPMid: ptr("0")}},
		{"extension without value", Candidate{Candidate: good + " generation", SDPMid: ptr("0")}},
		{"extension not a token", Candidate{Candidate: good + " x " + marker + "\x7f", SDPMid: ptr("0")}},
		{"bad tcptype", Candidate{Candidate: "candidate:0 1 tcp 1 10.0.0.5 9 typ host tcptype " + marker, SDPMid: ptr("0")}},
		{"too long", Candidate{Candidate: good + strings.Repeat(" generation 0", 40), SDPMid: ptr("0")}},
		{"broadcast", Candidate{Candidate: "candidate:0 1 udp 1 255.255.255.255 5000 typ host", SDPMid: ptr("0")}},
		{"unspecified", Candidate{Candidate: "candidate:0 1 udp 1 0.0.0.0 5000 typ host", SDPMid: ptr("0")}},
		{"port over 65535", Candidate{Candidate: "candidate:0 1 udp 1 10.0.0.5 65536 typ host", SDPMid: ptr("0")}},
		{"priority over 32 bits", Candidate{Candidate: "candidate:0 1 udp 4294967296 10.0.0.5 5000 typ host", SDPMid: ptr("0")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := (&SignalData{Candidate: &tc.c}).Clean(false)
			if !errors.Is(err, ErrBadCandidate) || ok || CodeOf(err) != CodeBadCandidate {
				t.Fatalf("got %v %v, want ErrBadCandidate", ok, err)
			}
			if strings.Contains(err.Error(), "Zq9") || strings.Contains(err.Error(), "10.0.0.5") {
				t.Fatalf("the error quotes the input: %v", err)
			}
		})
	}
}

// Every candidate Chromium trickled in the capture passes, changed only
// where the server writes anew.
func TestCleanChromiumTrickledCandidates(t *testing.T) {
	b, err := os.ReadFile("testdata/sdp/chromium-candidates.json")
	if err != nil {
		t.Fatal(err)
	}
	var sides map[string][]Candidate
	if err := json.Unmarshal(b, &sides); err != nil {
		t.Fatal(err)
	}
	n := 0
	for side, cands := range sides {
		for _, c := range cands {
			out, ok, err := (&SignalData{Candidate: &c}).Clean(false)
			if err != nil || !ok {
				t.Fatalf("%s %q: %v %v", side, c.Candidate, ok, err)
			}
			in, got := strings.Fields(c.Candidate), strings.Fields(out.Candidate.Candidate)
			if strings.Join(in[1:8], " ") != strings.Join(got[1:8], " ") || *out.Candidate.UsernameFragment != *c.UsernameFragment {
				t.Errorf("%q became %q", c.Candidate, out.Candidate.Candidate)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no candidates")
	}
}
