package proto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pion/ice/v4"
)

// FuzzDecode feeds arbitrary frames through everything the server does with
// a client message before acting on it: decode, validate, clean under both
// hide-IP settings. Nothing may panic, every refusal has a wire code, and
// what is accepted must re-encode and decode again.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","v":1}`,
		`{"type":"hello","v":2}`,
		`{"type":"join","mode":"random","media":"text","consent":true,"adult":true}`,
		`{"type":"join","mode":"interests","media":"video","interests":["chess","Jazz "],"name":"Ann","consent":true,"adult":true,"hideIP":true}`,
		`{"type":"join","mode":"opposite","media":"text","preference":"left","preferenceConsent":true,"consent":true,"adult":true}`,
		`{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}}`,
		`{"type":"signal","peer":"Xy12","data":{"candidate":{"candidate":"candidate:2 1 udp 16777215 198.51.100.1 50000 typ relay raddr 192.0.2.1 rport 5000"}}}`,
		`{"type":"signal","data":{"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 192.0.2.1\r\na=rtcp:9 IN IP4 192.0.2.1\r\na=candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host\r\n"}}}`,
		`{"type":"join","mode":"random","media":"audio","language":"nl","consent":true,"adult":true}`,
		`{"type":"join","mode":"random","media":"text","consent":true,"adult":true,"pow":{"id":"AAAAAAAAAAAAAAAAAAAAAA","bits":1,"parts":2,"expires":1,"mac":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","nonces":[1,2]}}`,
		`{"type":"block"}`,
		`{"type":"report","reason":"spam"}`,
		`{"type":"leave","reason":"failed"}`,
		`{"type":"next"}`, `{"type":"bye"}`, `{"type":`, `[]`, `null`, `{"type":"x","v":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			if CodeOf(err) == CodeInternal {
				t.Fatalf("decode error without a wire code: %v", err)
			}
			return
		}
		switch m.Type {
		case TypeJoin:
			if j, err := m.Join(false); err == nil {
				if len([]rune(j.Name)) > MaxNameLength || len(j.Interests) > MaxInterests ||
					j.Language != "" && !ValidLanguage(j.Language) || j.Pow != nil && len(j.Pow.Nonces) > MaxPowParts {
					t.Fatalf("accepted a join over the limits: %+v", j)
				}
			} else if CodeOf(err) == CodeInternal {
				t.Fatalf("join error without a wire code: %v", err)
			}
		case TypeSignal:
			sig, err := m.Signal()
			if err != nil {
				return
			}
			for _, hide := range []bool{false, true} {
				out, ok, err := sig.Data.Clean(hide)
				if err != nil {
					if CodeOf(err) == CodeInternal {
						t.Fatalf("clean error without a wire code: %v", err)
					}
					return
				}
				if !ok {
					continue
				}
				frame := Encode(&Outbound{Type: TypeSignal, From: "p", Data: out})
				var back Outbound
				if err := json.Unmarshal(frame, &back); err != nil {
					t.Fatalf("a cleaned signal does not decode: %v", err)
				}
				if hide && out.SDP != nil {
					for _, line := range strings.Split(out.SDP.SDP, "\n") {
						if strings.HasPrefix(line, "a=candidate:") && !strings.Contains(line, " typ relay") {
							t.Fatalf("a non-relay candidate survived the hide-IP policy: %q", line)
						}
					}
				}
			}
		}
	})
}

// The hide-IP policy leaves no address of the sender: not in candidates,
// not in the related address of a relay candidate, not in o=, c= or a=rtcp.
func TestHiddenSDPLeavesNoAddress(t *testing.T) {
	const sdpIn = "v=0\r\n" +
		"o=- 4611731400430051336 2 IN IP4 203.0.113.7\r\n" +
		"s=-\r\nt=0 0\r\n" +
		"m=application 50000 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
		"c=IN IP4 203.0.113.7\r\n" +
		"a=rtcp:50001 IN IP4 203.0.113.7\r\n" +
		"a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host generation 0\r\n" +
		"a=candidate:2 1 udp 2130706431 abcd.local 50000 typ host\r\n" +
		"a=candidate:3 1 udp 1694498815 203.0.113.7 50000 typ srflx raddr 192.168.1.20 rport 50000\r\n" +
		"a=candidate:4 1 udp 16777215 198.51.100.9 40000 typ relay raddr 203.0.113.7 rport 50000\r\n" +
		"a=candidate:5 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active\r\n" +
		"m=video 50002 UDP/TLS/RTP/SAVPF 96\r\n" +
		"c=IN IP6 2001:db8::7\r\n" +
		"a=candidate:6 1 udp 2130706431 2001:db8::7 50002 typ host\r\n"
	d := &SignalData{SDP: &SessionDescription{Type: "offer", SDP: sdpIn}}
	cleaned, ok, err := d.Clean(true)
	if err != nil || !ok {
		t.Fatalf("clean: %v %v", ok, err)
	}
	out := cleaned.SDP.SDP
	for _, leak := range []string{"203.0.113.7", "192.168.1.20", "abcd.local", "2001:db8::7", "typ host", "typ srflx"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q survived:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "198.51.100.9 40000 typ relay raddr 0.0.0.0 rport 0") {
		t.Errorf("the relay candidate is gone or unblanked:\n%s", out)
	}
	if !strings.Contains(out, "\r\n") || strings.Count(out, "m=") != 2 {
		t.Errorf("the structure changed:\n%s", out)
	}
}

// FuzzCleanSDP feeds arbitrary descriptions to the cleaner. Nothing may
// panic; a refusal is ErrBadSDP; what is accepted parses with pion's parser,
// cleans again to itself, fits a frame, and under hide holds no candidate
// but relay ones. Seeds: testdata/fuzz/FuzzCleanSDP (the real descriptions
// of testdata/sdp, and attacks).
func FuzzCleanSDP(f *testing.F) {
	f.Add("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n", false, false)
	f.Fuzz(func(t *testing.T, text string, answer, hide bool) {
		typ := "offer"
		if answer {
			typ = "answer"
		}
		out, err := cleanSDP(&SessionDescription{Type: typ, SDP: text}, hide, 7)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) || CodeOf(err) != CodeBadSDP {
				t.Fatalf("a refusal that is not bad_sdp: %v", err)
			}
			return
		}
		if len(out.SDP) > maxSDPBytes {
			t.Fatalf("%d bytes out", len(out.SDP))
		}
		again, err := cleanSDP(&SessionDescription{Type: typ, SDP: out.SDP}, hide, 7)
		if err != nil || again.SDP != out.SDP {
			t.Fatalf("not idempotent (%v):\nonce:\n%s\ntwice:\n%v", err, out.SDP, again)
		}
		checkCleanSDP(t, out.SDP, hide)
		if hide {
			for _, line := range strings.Split(out.SDP, "\r\n") {
				if strings.HasPrefix(line, "a=candidate:") && !strings.Contains(line, " typ relay ") {
					t.Fatalf("a non-relay candidate survived the hide-IP policy: %q", line)
				}
			}
		}
	})
}

// FuzzCleanCandidate does the same for trickled candidates; what passes
// also parses with pion's candidate parser.
func FuzzCleanCandidate(f *testing.F) {
	for _, s := range []string{
		chromeCandidate,
		"candidate:0 1 UDP 2122252543 10.0.0.5 51022 typ host",
		"candidate:2 1 TCP 2105524479 10.0.0.5 9 typ host tcptype active",
		"candidate:1 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host generation 0 network-cost 999",
		"candidate:842163049 1 udp 1677729535 198.51.100.10 52200 typ srflx raddr 192.168.1.5 rport 52200 generation 0",
		"candidate:1 1 udp 41885439 2001:db8::5 61000 typ relay raddr 2001:db8::9 rport 52200",
		"",
	} {
		f.Add(s, "0", true, uint16(0), true, "QDIK", true, false)
		f.Add(s, "1", false, uint16(1), true, "", false, true)
	}
	f.Fuzz(func(t *testing.T, cand, mid string, hasMid bool, index uint16, hasIndex bool, ufrag string, hasUfrag bool, hide bool) {
		c := &Candidate{Candidate: cand}
		if hasMid {
			c.SDPMid = &mid
		}
		if hasIndex {
			c.SDPMLineIndex = &index
		}
		if hasUfrag {
			c.UsernameFragment = &ufrag
		}
		out, ok, err := cleanCandidate(c, hide)
		if err != nil {
			if !errors.Is(err, ErrBadCandidate) || CodeOf(err) != CodeBadCandidate {
				t.Fatalf("a refusal that is not bad_candidate: %v", err)
			}
			return
		}
		if !ok {
			return
		}
		again, ok, err := cleanCandidate(out, hide)
		if err != nil || !ok || candidateText(again) != candidateText(out) {
			t.Fatalf("not idempotent: %s then %s %v", candidateText(out), candidateText(again), err)
		}
		if out.Candidate == "" {
			return
		}
		parsed, err := ice.UnmarshalCandidate(out.Candidate)
		if err != nil {
			t.Fatalf("pion does not parse %q: %v", out.Candidate, err)
		}
		if hide && parsed.Type() != ice.CandidateTypeRelay {
			t.Fatalf("a non-relay candidate survived the hide-IP policy: %q", out.Candidate)
		}
	})
}

func candidateText(c *Candidate) string {
	b, _ := json.Marshal(c)
	return string(b)
}
