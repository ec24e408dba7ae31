package signaling

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary frames through everything the server does with
// a client message before acting on it: decode, validate, and the hide-IP
// policy. Nothing may panic, and what is accepted must re-encode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","v":1}`,
		`{"type":"join","mode":"random","media":"text","consent":true,"adult":true}`,
		`{"type":"join","mode":"interests","media":"video","interests":["chess","Jazz "],"name":"Ann","consent":true,"adult":true,"hideIP":true}`,
		`{"type":"join","mode":"opposite","media":"text","preference":"left","preferenceConsent":true,"consent":true,"adult":true}`,
		`{"type":"signal","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}}`,
		`{"type":"signal","data":{"candidate":{"candidate":"candidate:2 1 udp 16777215 198.51.100.1 50000 typ relay raddr 192.0.2.1 rport 5000"}}}`,
		`{"type":"signal","data":{"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 192.0.2.1\r\na=rtcp:9 IN IP4 192.0.2.1\r\na=candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host\r\n"}}}`,
		`{"type":"report","reason":"spam"}`,
		`{"type":"next"}`, `{"type":"leave"}`, `{"type":"leave","reason":"failed"}`, `{"type":"bye"}`, `{"type":`, `[]`, `null`, `{"type":"x","v":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			if codeOf(err) == CodeInternal {
				t.Fatalf("decode error without a wire code: %v", err)
			}
			return
		}
		switch m.Type {
		case TypeJoin:
			if j, err := validateJoin(m, false); err == nil {
				if len([]rune(j.Name)) > MaxNameLength || len(j.Interests) > MaxInterests {
					t.Fatalf("accepted a join over the limits: %+v", j)
				}
			}
		case TypeSignal:
			if err := validateSignal(m.Data); err != nil {
				return
			}
			out, ok := applyHideIP(m.Data)
			if !ok {
				return
			}
			b, err := json.Marshal(&Outbound{Type: TypeSignal, Data: out})
			if err != nil {
				t.Fatal(err)
			}
			if out.SDP != nil {
				for _, line := range strings.Split(out.SDP.SDP, "\n") {
					if strings.HasPrefix(line, "a=candidate:") && !strings.Contains(line, " typ relay") {
						t.Fatalf("a non-relay candidate survived the hide-IP policy: %q", line)
					}
				}
			}
			_ = b
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
	out := hiddenSDP(sdpIn)
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

func TestClientAddressBehindProxies(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct", "192.0.2.1:5000", "", "192.0.2.1"},
		{"direct ignores XFF", "192.0.2.1:5000", "198.51.100.1", "192.0.2.1"},
		{"trusted proxy", "10.0.0.1:5000", "198.51.100.1", "198.51.100.1"},
		{"right to left", "10.0.0.1:5000", "203.0.113.5, 198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"spoofed left part ignored", "10.0.0.1:5000", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"mapped", "[::ffff:192.0.2.1]:5000", "", "192.0.2.1"},
		{"garbage from proxy", "10.0.0.1:5000", "not-an-ip", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &httpRequest{RemoteAddr: tc.remote}
			if tc.xff != "" {
				r.Header = map[string][]string{"X-Forwarded-For": {tc.xff}}
			}
			got := s.clientAddr(r.req())
			if (tc.want == "" && got.IsValid()) || (tc.want != "" && got.String() != tc.want) {
				t.Fatalf("got %v, want %q", got, tc.want)
			}
		})
	}
}

type httpRequest struct {
	RemoteAddr string
	Header     map[string][]string
}

func (h *httpRequest) req() *http.Request {
	return &http.Request{RemoteAddr: h.RemoteAddr, Header: http.Header(h.Header)}
}
