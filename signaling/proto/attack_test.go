package proto

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// What a modified client puts where a browser would not. The marker must
// never reach the partner: either the cleaner drops what carries it, or it
// refuses the description with an error that does not quote it.

const marker = "Zq9PAYLOAD"

func chromeOffer(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/sdp/chromium-offer-gathered.sdp")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces the first old with new, failing the test when old is absent.
func edit(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("no %q in the description", old)
	}
	return strings.Replace(s, old, new, 1)
}

// after inserts lines after the first line starting with prefix.
func after(t testing.TB, s, prefix, lines string) string {
	t.Helper()
	i := strings.Index(s, prefix)
	if i < 0 {
		t.Fatalf("no %q in the description", prefix)
	}
	j := i + strings.Index(s[i:], "\r\n") + 2
	return s[:j] + lines + s[j:]
}

const audioLine = "m=audio 42831 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"

func TestCleanDropsWhatWebRTCDoesNotNeed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t testing.TB, s string) string
		absent string // besides the marker
	}{
		{"session name", func(t testing.TB, s string) string { return edit(t, s, "s=-", "s="+marker) }, ""},
		{"origin", func(t testing.TB, s string) string {
			return edit(t, s, "o=- 6262728591417458067 2 IN IP4 127.0.0.1", "o="+marker+" 1234567 7654321 IN IP4 203.0.113.9")
		}, "203.0.113.9"},
		{"session lines i u e p b k z r", func(t testing.TB, s string) string {
			return after(t, s, "s=", "i="+marker+"\r\nu=http://"+marker+"\r\ne="+marker+"@x\r\np=+1"+marker+"\r\nb=AS:"+marker+"\r\nk=clear:"+marker+"\r\nz="+marker+"\r\nr="+marker+"\r\n")
		}, ""},
		{"media lines i b k", func(t testing.TB, s string) string {
			return after(t, s, "m=audio", "i="+marker+"\r\nb=TIAS:"+marker+"\r\nk=clear:"+marker+"\r\n")
		}, ""},
		{"unknown attributes", func(t testing.TB, s string) string {
			s = after(t, s, "t=0 0", "a="+marker+"\r\na=x-google-flag:"+marker+"\r\na=ice-lite\r\n")
			return after(t, s, "a=mid:0", "a=x-payload:"+marker+"\r\na=label:"+marker+"\r\na=ptime:"+marker+"\r\n")
		}, "ice-lite"},
		{"connection and rtcp addresses", func(t testing.TB, s string) string {
			s = edit(t, s, "c=IN IP4 192.0.2.2", "c=IN IP4 "+marker)
			return edit(t, s, "a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 "+marker)
		}, ""},
		{"m= port", func(t testing.TB, s string) string { return s }, "42831 UDP"},
		{"candidate extensions", func(t testing.TB, s string) string {
			return edit(t, s, "typ host generation 0 network-id 1", "typ host generation 0 ufrag "+marker+" network-id 1 network-cost 999 x-payload "+marker)
		}, "network-"},
		{"candidate foundation", func(t testing.TB, s string) string {
			return edit(t, s, "a=candidate:3664091493 ", "a=candidate:"+marker+" ")
		}, "3664091493"},
		{"srflx related address", func(t testing.TB, s string) string {
			return after(t, s, "a=candidate:3664091493", "a=candidate:1 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 192.0.2.77 rport 41234\r\n")
		}, "192.0.2.77"},
		{"msid and ssrc identifiers", func(t testing.TB, s string) string {
			s = strings.ReplaceAll(s, "4d7ea117-8c55-4426-9cb0-3decba3763dc", marker)
			s = strings.ReplaceAll(s, "b37b794f-c307-447b-8b6b-b1ba2843f28b", marker+"t")
			s = strings.ReplaceAll(s, "/9XwzjELAtSPHPjA", marker)
			return after(t, s, "a=ssrc:3832562286 cname", "a=ssrc:3832562286 label:"+marker+"\r\na=ssrc:3832562286 mslabel:"+marker+"\r\n")
		}, "msid:4d7ea117"},
		{"codec parameters", func(t testing.TB, s string) string {
			s = edit(t, s, "a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 minptime=10;useinbandfec=1;x-"+marker+"=1;sprop-parameter-sets="+marker)
			return edit(t, s, "a=rtcp-fb:111 transport-cc", "a=rtcp-fb:111 transport-cc\r\na=rtcp-fb:111 "+marker+"\r\na=rtcp-fb:111 nack "+marker)
		}, ""},
		{"unknown codec and its rtx", func(t testing.TB, s string) string {
			s = edit(t, s, "m=video 9 UDP/TLS/RTP/SAVPF 96 97 ", "m=video 9 UDP/TLS/RTP/SAVPF 96 97 121 122 ")
			return after(t, s, "a=mid:1", "a=rtpmap:121 "+marker+"/90000\r\na=fmtp:121 x="+marker+"\r\na=rtpmap:122 rtx/90000\r\na=fmtp:122 apt=121\r\n")
		}, " 121 122 "},
		{"known codec at a wrong rate", func(t testing.TB, s string) string {
			s = edit(t, s, audioLine, strings.Replace(audioLine, " 111 ", " 111 35 ", 1))
			return after(t, s, "a=mid:0", "a=rtpmap:35 opus/44100/2\r\n")
		}, "a=rtpmap:35"},
		{"header extensions", func(t testing.TB, s string) string {
			return after(t, s, "a=mid:0", "a=extmap:9 urn:"+marker+"\r\na=extmap:10 urn:ietf:params:rtp-hdrext:toffset "+marker+"\r\na=extmap:12/"+marker+" urn:ietf:params:rtp-hdrext:toffset\r\na=extmap:15 urn:3gpp:video-orientation\r\n")
		}, "a=extmap:15 "},
		{"options and semantics", func(t testing.TB, s string) string {
			s = edit(t, s, "a=msid-semantic: WMS 4d7ea117-8c55-4426-9cb0-3decba3763dc", "a=msid-semantic: WMS "+marker)
			s = after(t, s, "a=group:BUNDLE", "a=group:LS "+marker+"\r\na=group:BUNDLE 0\r\n")
			return edit(t, s, "a=ice-options:trickle", "a=ice-options:trickle "+marker)
		}, "a=group:LS"},
		{"BUNDLE group with absent mids", func(t testing.TB, s string) string {
			return edit(t, s, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 77 0 1 2 78")
		}, "BUNDLE 77"},
		{"data channel extras", func(t testing.TB, s string) string {
			s = after(t, s, "a=sctp-port:5000", "a=sctp-init:"+marker+"\r\na=sctpmap:5000 "+marker+" 1024\r\n")
			return edit(t, s, "a=max-message-size:262144", "a=max-message-size:262399")
		}, "262399"},
		{"simulcast and rid", func(t testing.TB, s string) string {
			return after(t, s, "a=mid:1", "a=rid:"+marker+" send\r\na=simulcast:send "+marker+"\r\na=rtcp-xr:"+marker+"\r\na=ssrc-group:SIM 1 2 3\r\n")
		}, "ssrc-group:SIM"},
		{"tuning parameters out of their ranges", func(t testing.TB, s string) string {
			s = edit(t, s, "a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 maxaveragebitrate=5;maxplaybackrate=44100;minptime=11;useinbandfec=1;usedtx=2")
			s = edit(t, s, "profile-level-id=42001f", "profile-level-id=42001f;max-br=4294967;max-mbps=1234567;sprop-parameter-sets=Z0IAH")
			return edit(t, s, "a=fmtp:97 apt=96", "a=fmtp:97 apt=96;rtx-time=3000")
		}, "44100"},
		{"second msid of a track", func(t testing.TB, s string) string {
			return after(t, s, "a=msid:4d7ea117", "a=msid:"+marker+" "+marker+"\r\n")
		}, ""},
		{"red of another shape", func(t testing.TB, s string) string {
			return edit(t, s, "a=fmtp:63 111/111", "a=fmtp:63 111/0")
		}, " 63 "},
		{"telephone-event list", func(t testing.TB, s string) string {
			return after(t, s, "a=rtpmap:126 telephone-event/8000", "a=fmtp:126 "+marker+"\r\n")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.mutate(t, chromeOffer(t))
			for _, hide := range []bool{false, true} {
				out, ok, err := (&SignalData{SDP: &SessionDescription{Type: "offer", SDP: in}}).Clean(hide)
				if err != nil || !ok {
					t.Fatalf("hide %v: %v %v", hide, ok, err)
				}
				s := out.SDP.SDP
				if strings.Contains(s, marker) || (tc.absent != "" && strings.Contains(s, tc.absent)) {
					t.Fatalf("hide %v: forwarded:\n%s", hide, s)
				}
				checkCleanSDP(t, s, hide)
			}
		})
	}
}

func TestCleanRefusesMalformedDescriptions(t *testing.T) {
	fp := func(pairs int, alg string) string {
		return "a=fingerprint:" + alg + " " + strings.TrimSuffix(strings.Repeat("AB:", pairs), ":")
	}
	many := func(line string, n int) string { return strings.Repeat(line, n) }
	for _, tc := range []struct {
		name   string
		typ    string
		mutate func(t testing.TB, s string) string
		host   bool // a bad host candidate: dropped under hide rather than refused
	}{
		{"ufrag too long", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "a=ice-ufrag:QDIK", "a=ice-ufrag:"+marker+marker)
		}, false},
		{"ufrag too short", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "a=ice-ufrag:QDIK", "a=ice-ufrag:Zq9")
		}, false},
		{"ufrag not ice-chars", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "a=ice-ufrag:QDIK", "a=ice-ufrag:Zq9-")
		}, false},
		{"pwd too long", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "nh7mzpp/rHPsztFau0CC98gH", marker+marker+marker+marker)
		}, false},
		{"pwd too short", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "nh7mzpp/rHPsztFau0CC98gH", marker+marker)
		}, false},
		{"sha-1 fingerprint", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", fp(20, "sha-1")+"\r\n") }, false},
		{"short fingerprint", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", fp(31, "sha-256")+"\r\n") }, false},
		{"fingerprint not hex", "", func(t testing.TB, s string) string {
			return after(t, s, "t=0 0", "a=fingerprint:sha-256 "+strings.Repeat("Zq:", 31)+"Zq\r\n")
		}, false},
		{"second fingerprint", "", func(t testing.TB, s string) string { return after(t, s, "a=mid:1", fp(48, "sha-384")+"\r\n") }, false},
		{"sections disagree on the ufrag", "", func(t testing.TB, s string) string {
			i := strings.LastIndex(s, "a=ice-ufrag:QDIK")
			return s[:i] + "a=ice-ufrag:Zq9P" + s[i+len("a=ice-ufrag:QDIK"):]
		}, false},
		{"session and section disagree on the fingerprint", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", fp(32, "sha-256")+"\r\n") }, false},
		{"bad setup", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "a=setup:actpass", "a=setup:holdconn")
		}, false},
		{"actpass in an answer", "answer", func(t testing.TB, s string) string { return s }, false},
		{"Plan B mid", "", func(t testing.TB, s string) string { return edit(t, s, "a=mid:1", "a=mid:video") }, false},
		{"mid with a leading zero", "", func(t testing.TB, s string) string { return edit(t, s, "a=mid:1", "a=mid:01") }, false},
		{"mid too large", "", func(t testing.TB, s string) string { return edit(t, s, "a=mid:1", "a=mid:1000") }, false},
		{"mid not a number", "", func(t testing.TB, s string) string { return edit(t, s, "a=mid:1", "a=mid:"+marker) }, false},
		{"two sections with one mid", "", func(t testing.TB, s string) string { return edit(t, s, "a=mid:1", "a=mid:0") }, false},
		{"too many sections", "", func(t testing.TB, s string) string {
			return s + many("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", 14)
		}, false},
		{"too many formats", "", func(t testing.TB, s string) string {
			return edit(t, s, audioLine, "m=audio 9 UDP/TLS/RTP/SAVPF"+many(" 0", 1)+func() string {
				var b strings.Builder
				for i := 1; i <= 64; i++ {
					fmt.Fprintf(&b, " %d", i)
				}
				return b.String()
			}()+"\r\n")
		}, false},
		{"payload type twice", "", func(t testing.TB, s string) string { return edit(t, s, " 111 63 ", " 111 111 ") }, false},
		{"payload type over 127", "", func(t testing.TB, s string) string { return edit(t, s, " 111 63 ", " 111 128 ") }, false},
		{"too many candidates", "", func(t testing.TB, s string) string {
			return after(t, s, "a=mid:0", many("a=candidate:1 1 udp 2122194687 192.0.2.2 42831 typ host\r\n", 65))
		}, false},
		{"host name candidate", "", func(t testing.TB, s string) string {
			return edit(t, s, "192.0.2.2 42831 typ host", marker+".example 42831 typ host")
		}, true},
		{"mDNS name not a UUID", "", func(t testing.TB, s string) string {
			return edit(t, s, "192.0.2.2 42831 typ host", marker+".local 42831 typ host")
		}, true},
		{"IPv6 zone", "", func(t testing.TB, s string) string { return edit(t, s, "fd00::2 57717", "fe80::1%"+marker+" 57717") }, true},
		{"IPv4 written as IPv6", "", func(t testing.TB, s string) string { return edit(t, s, "fd00::2 57717", "::ffff:192.0.2.9 57717") }, true},
		{"multicast address", "", func(t testing.TB, s string) string { return edit(t, s, "fd00::2 57717", "ff02::1 57717") }, true},
		{"UDP port 0", "", func(t testing.TB, s string) string { return edit(t, s, "192.0.2.2 42831 typ", "192.0.2.2 0 typ") }, true},
		{"component 3", "", func(t testing.TB, s string) string { return edit(t, s, "3664091493 1 udp", "3664091493 3 udp") }, true},
		{"TLS transport", "", func(t testing.TB, s string) string { return edit(t, s, "3664091493 1 udp", "3664091493 1 tls") }, true},
		{"priority not a number", "", func(t testing.TB, s string) string { return edit(t, s, "udp 2122194687", "udp "+marker) }, true},
		{"unknown candidate type", "", func(t testing.TB, s string) string { return edit(t, s, "42831 typ host", "42831 typ "+marker) }, false},
		{"TCP without tcptype", "", func(t testing.TB, s string) string { return edit(t, s, "3664091493 1 udp", "3664091493 1 tcp") }, true},
		{"sctp-port not 5000", "", func(t testing.TB, s string) string { return edit(t, s, "a=sctp-port:5000", "a=sctp-port:5001") }, false},
		{"unknown media", "", func(t testing.TB, s string) string { return edit(t, s, "m=application", "m=text") }, false},
		{"not a WebRTC profile", "", func(t testing.TB, s string) string {
			return edit(t, s, "m=audio 42831 UDP/TLS/RTP/SAVPF", "m=audio 42831 RTP/AVP")
		}, false},
		{"port range", "", func(t testing.TB, s string) string { return edit(t, s, "m=audio 42831 ", "m=audio 42831/2 ") }, false},
		{"no v=0", "", func(t testing.TB, s string) string { return strings.TrimPrefix(s, "v=0\r\n") }, false},
		{"no media", "", func(t testing.TB, s string) string { return s[:strings.Index(s, "m=")] }, false},
		{"pranswer", "pranswer", func(t testing.TB, s string) string { return s }, false},
		{"line too long", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", "a=x:"+many(marker, 110)+"\r\n") }, false},
		{"too many lines", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", many("a=x\r\n", 4096)) }, false},
		{"malformed line", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", marker+"\r\n") }, false},
		{"bad profile-level-id", "", func(t testing.TB, s string) string {
			return edit(t, s, "profile-level-id=42001f", "profile-level-id=Zq9PAY")
		}, false},
		{"unknown H.264 level", "", func(t testing.TB, s string) string {
			return edit(t, s, "profile-level-id=42001f", "profile-level-id=4200ff")
		}, false},
		{"bad packetization-mode", "", func(t testing.TB, s string) string { return edit(t, s, "packetization-mode=1", "packetization-mode=7") }, false},
		{"apt out of range", "", func(t testing.TB, s string) string { return edit(t, s, "apt=96", "apt=300") }, false},
		{"two fmtp lines", "", func(t testing.TB, s string) string { return after(t, s, "a=fmtp:111", "a=fmtp:111 minptime=20\r\n") }, false},
		{"two rtpmap lines", "", func(t testing.TB, s string) string {
			return after(t, s, "a=rtpmap:111", "a=rtpmap:111 opus/48000/2\r\n")
		}, false},
		{"too many ssrcs", "", func(t testing.TB, s string) string {
			return after(t, s, "a=ssrc:3832562286 cname", "a=ssrc:1 cname:x\r\na=ssrc:2 cname:x\r\na=ssrc:3 cname:x\r\na=ssrc:4 cname:x\r\n")
		}, false},
		{"msid too long", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "4d7ea117-8c55-4426-9cb0-3decba3763dc", many(marker, 7))
		}, false},
		{"msid with control characters", "", func(t testing.TB, s string) string {
			return strings.ReplaceAll(s, "4d7ea117-8c55-4426-9cb0-3decba3763dc", marker+"\x01")
		}, false},
		{"max-message-size not a number", "", func(t testing.TB, s string) string {
			return edit(t, s, "a=max-message-size:262144", "a=max-message-size:"+marker)
		}, false},
		{"session-level direction twice", "", func(t testing.TB, s string) string { return after(t, s, "t=0 0", "a=sendonly\r\na=recvonly\r\n") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = "offer"
			}
			in := tc.mutate(t, chromeOffer(t))
			for _, hide := range []bool{false, true} {
				_, ok, err := (&SignalData{SDP: &SessionDescription{Type: typ, SDP: in}}).Clean(hide)
				if hide && tc.host {
					if err != nil || !ok {
						t.Fatalf("hide: got %v %v, want the candidate dropped", ok, err)
					}
					continue
				}
				if !errors.Is(err, ErrBadSDP) || ok || CodeOf(err) != CodeBadSDP {
					t.Fatalf("hide %v: got %v %v, want ErrBadSDP", hide, ok, err)
				}
				for _, quoted := range []string{marker, "Zq", "192.0.2", "QDIK", "nh7mzpp", "AB:AB"} {
					if strings.Contains(err.Error(), quoted) {
						t.Fatalf("the error quotes the input: %v", err)
					}
				}
			}
		})
	}
}
