package proto

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
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

// realDescriptions are the captured and hand-written descriptions of
// testdata/sdp and descriptions pion makes now.
func realDescriptions(t testing.TB) map[string]*SessionDescription {
	t.Helper()
	out := map[string]*SessionDescription{}
	files, err := filepath.Glob("testdata/sdp/*.sdp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no descriptions: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		typ := "offer"
		if strings.Contains(f, "answer") {
			typ = "answer"
		}
		out[strings.TrimSuffix(filepath.Base(f), ".sdp")] = &SessionDescription{Type: typ, SDP: string(b)}
	}
	offer, answer := pionDescriptions(t)
	out["pion-offer"] = &SessionDescription{Type: "offer", SDP: offer}
	out["pion-answer"] = &SessionDescription{Type: "answer", SDP: answer}
	return out
}

// pionDescriptions makes an offer with audio, video and a data channel and
// its answer, with their candidates gathered.
func pionDescriptions(t testing.TB) (offer, answer string) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	var pcs [2]*webrtc.PeerConnection
	for i := range pcs {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeOpus}, {MimeType: webrtc.MimeTypeVP8}} {
			tr, err := webrtc.NewTrackLocalStaticSample(c, "t"+c.MimeType, fmt.Sprintf("stream%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTrack(tr); err != nil {
				t.Fatal(err)
			}
		}
		pcs[i] = pc
	}
	if _, err := pcs[0].CreateDataChannel("chat", nil); err != nil {
		t.Fatal(err)
	}
	gathered := func(pc *webrtc.PeerConnection, d webrtc.SessionDescription) string {
		done := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			t.Fatal(err)
		}
		<-done
		return pc.LocalDescription().SDP
	}
	o, err := pcs[0].CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	offer = gathered(pcs[0], o)
	if err := pcs[1].SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	a, err := pcs[1].CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer, gathered(pcs[1], a)
}

// section is what a browser takes from a media section, read with pion's
// parser: the summary the cleaner must keep unchanged for a description of
// a real browser or pion.
type section struct {
	Kind, Mid, Dir, Ufrag, Pwd, Fingerprint, Setup, SCTPPort string
	Port0, Mux                                               bool
	Formats, Rtpmap, Fmtp, Feedback, Extmap, SSRCs, Groups   []string
	Candidates                                               []string
}

func summarize(t testing.TB, text string) []section {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		t.Fatalf("pion does not parse: %v", err)
	}
	sess := func(key string) string { v, _ := d.Attribute(key); return v }
	var out []section
	for _, m := range d.MediaDescriptions {
		s := section{Kind: m.MediaName.Media, Port0: m.MediaName.Port.Value == 0, Formats: m.MediaName.Formats}
		get := func(key string) string {
			if v, ok := m.Attribute(key); ok {
				return v
			}
			return sess(key)
		}
		s.Mid, s.Ufrag, s.Pwd, s.Setup = get("mid"), get("ice-ufrag"), get("ice-pwd"), get("setup")
		s.Fingerprint = strings.ToUpper(get("fingerprint"))
		s.SCTPPort = get("sctp-port")
		for _, a := range append(slices.Clone(d.Attributes), m.Attributes...) {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				if s.Kind != "application" {
					s.Dir = a.Key // media level comes last and wins
				}
			}
		}
		if s.Dir == "" && s.Kind != "application" {
			s.Dir = "sendrecv"
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtcp-mux":
				s.Mux = true
			case "rtpmap":
				s.Rtpmap = append(s.Rtpmap, strings.TrimSuffix(strings.ToLower(a.Value), "/1"))
			case "fmtp":
				pt, params, _ := strings.Cut(a.Value, " ")
				list := strings.Split(strings.ToLower(params), ";")
				slices.Sort(list)
				s.Fmtp = append(s.Fmtp, pt+" "+strings.Join(list, ";"))
			case "rtcp-fb":
				s.Feedback = append(s.Feedback, a.Value)
			case "extmap":
				s.Extmap = append(s.Extmap, a.Value)
			case "ssrc":
				id, _, _ := strings.Cut(a.Value, " ")
				if !slices.Contains(s.SSRCs, id) {
					s.SSRCs = append(s.SSRCs, id)
				}
			case "ssrc-group":
				s.Groups = append(s.Groups, a.Value)
			case "candidate":
				f := strings.Fields(a.Value)
				s.Candidates = append(s.Candidates, strings.ToLower(strings.Join(f[1:8], " ")))
			}
		}
		// SSRCs keep their order: Chromium takes the first as the primary.
		for _, l := range []*[]string{&s.Rtpmap, &s.Fmtp, &s.Feedback, &s.Extmap, &s.Candidates} {
			slices.Sort(*l)
		}
		out = append(out, s)
	}
	return out
}

// Real descriptions lose nothing a browser uses: every section, codec,
// parameter, feedback, extension, SSRC, credential and candidate is there
// after cleaning, and the result parses and cleans again to itself.
func TestCleanRealDescriptionsKeepWhatBrowsersUse(t *testing.T) {
	for name, d := range realDescriptions(t) {
		t.Run(name, func(t *testing.T) {
			out, ok, err := (&SignalData{SDP: d}).Clean(false)
			if err != nil || !ok {
				t.Fatalf("clean: %v %v", ok, err)
			}
			checkCleanSDP(t, out.SDP.SDP, false)
			before, after := summarize(t, d.SDP), summarize(t, out.SDP.SDP)
			for i := range before {
				if diff := compareSections(before[i], after[i]); diff != "" {
					t.Errorf("section %d: %s", i, diff)
				}
			}
			if len(out.SDP.SDP) > len(d.SDP)+len(d.SDP)/8 {
				t.Errorf("grew from %d to %d bytes", len(d.SDP), len(out.SDP.SDP))
			}
		})
	}
}

func compareSections(a, b section) string {
	// The section keeps its shape; what the server writes anew (ports,
	// CNAMEs, msids, foundations, priorities' low byte) is not compared.
	for i := range a.Candidates {
		a.Candidates[i] = candidateCore(a.Candidates[i])
	}
	for i := range b.Candidates {
		b.Candidates[i] = candidateCore(b.Candidates[i])
	}
	x, y := fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b)
	if x != y {
		return "changed:\nbefore " + x + "\nafter  " + y
	}
	return ""
}

// candidateCore is a candidate without its priority's low byte: component,
// transport, priority>>8, address, port, type.
func candidateCore(c string) string {
	f := strings.Fields(c)
	var p uint64
	fmt.Sscan(f[2], &p)
	f[2] = fmt.Sprint(p >> 8)
	return strings.Join(f, " ")
}

// Under hide-IP the same descriptions keep their relay candidates only.
func TestCleanRealDescriptionsHidden(t *testing.T) {
	for name, d := range realDescriptions(t) {
		t.Run(name, func(t *testing.T) {
			out, _, err := (&SignalData{SDP: d}).Clean(true)
			if err != nil {
				t.Fatal(err)
			}
			checkCleanSDP(t, out.SDP.SDP, true)
			want := 0
			for _, s := range summarize(t, d.SDP) {
				for _, c := range s.Candidates {
					if strings.HasSuffix(c, "typ relay") {
						want++
					}
				}
			}
			got := strings.Count(out.SDP.SDP, "a=candidate:")
			if got != want || strings.Count(out.SDP.SDP, " typ relay ") != want {
				t.Errorf("%d candidates, want %d relay ones:\n%s", got, want, out.SDP.SDP)
			}
		})
	}
}

// A renegotiation and an ICE restart keep what must stay the same for the
// PeerConnection (session ID, stream and track IDs, CNAME) and the version
// grows; a new stream gets an ID of its own.
func TestCleanRenegotiationKeepsIdentifiers(t *testing.T) {
	descs := realDescriptions(t)
	var outs []string
	for _, name := range []string{"chromium-offer", "chromium-reoffer-add-video", "chromium-ice-restart-offer"} {
		out, _, err := (&SignalData{SDP: descs[name]}).Clean(false)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out.SDP.SDP)
	}
	origin := regexp.MustCompile(`(?m)^o=- (\d+) (\d+) `)
	msid := regexp.MustCompile(`(?m)^a=msid:(\S+) (\S+)\r$`)
	cname := regexp.MustCompile(`(?m) cname:(\S+)\r$`)
	first := origin.FindStringSubmatch(outs[0])
	firstMsids := msid.FindAllStringSubmatch(outs[0], -1)
	if len(firstMsids) != 2 || firstMsids[0][1] != firstMsids[1][1] || firstMsids[0][2] == firstMsids[1][2] {
		t.Fatalf("audio and video must share a stream and have their own tracks: %q", firstMsids)
	}
	for i, out := range outs[1:] {
		o := origin.FindStringSubmatch(out)
		if o[1] != first[1] {
			t.Errorf("description %d: session ID %s, first %s", i+1, o[1], first[1])
		}
		var prev, cur uint64
		fmt.Sscan(origin.FindStringSubmatch(outs[i])[2], &prev)
		fmt.Sscan(o[2], &cur)
		if cur <= prev {
			t.Errorf("description %d: version %d after %d", i+1, cur, prev)
		}
		m := msid.FindAllStringSubmatch(out, -1)
		if len(m) != 3 || m[0][0] != firstMsids[0][0] || m[1][0] != firstMsids[1][0] {
			t.Errorf("description %d: msids %q, first %q", i+1, m, firstMsids)
		}
		if m[2][1] == m[0][1] || m[2][2] == m[0][2] || m[2][2] == m[1][2] {
			t.Errorf("description %d: the new track reuses an ID: %q", i+1, m)
		}
		if c := cname.FindAllStringSubmatch(out, -1); c[0][1] != cname.FindStringSubmatch(outs[0])[1] {
			t.Errorf("description %d: CNAME changed", i+1)
		}
	}
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)\r`)
	if ufrag.FindStringSubmatch(outs[2])[1] == ufrag.FindStringSubmatch(outs[1])[1] {
		t.Error("the ICE restart lost its new ufrag")
	}
	// The other side's descriptions get other identifiers.
	ans, _, err := (&SignalData{SDP: descs["chromium-answer"]}).Clean(false)
	if err != nil {
		t.Fatal(err)
	}
	if origin.FindStringSubmatch(ans.SDP.SDP)[1] == first[1] || msid.FindStringSubmatch(ans.SDP.SDP)[1] == firstMsids[0][1] {
		t.Error("both sides got the same derived identifiers")
	}
}

func TestSessionVersionGrows(t *testing.T) {
	now := time.Now()
	prev := sessionVersion(now)
	for _, at := range []time.Time{now, now.Add(-time.Hour), now.Add(time.Millisecond), now} {
		v := sessionVersion(at)
		if v <= prev {
			t.Fatalf("version %d after %d", v, prev)
		}
		prev = v
	}
}
