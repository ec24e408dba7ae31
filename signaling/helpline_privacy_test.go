package signaling_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/pion/webrtc/v4"
)

// waitOpen waits until the data channels to every one of the members are
// open, in whatever order they open.
func waitOpen(t testing.TB, c *client.Client, peers ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range peers {
		want[p] = true
	}
	for len(want) > 0 {
		delete(want, wait(t, c, client.EventOpen).Peer)
	}
}

// relayed reports whether a selected pair goes through the relay.
func relayed(p *webrtc.ICECandidatePair) bool {
	return p != nil && (p.Local.Typ == webrtc.ICECandidateTypeRelay || p.Remote.Typ == webrtc.ICECandidateTypeRelay)
}

// A visitor who sends hideIP:false still reaches the volunteer only
// through the relay: the server tells both ends to hide (matched and chat
// say hideIP), so honest clients gather relay candidates only; and a
// modified visitor that gathers and sends its host address anyway has it
// stripped, so no host or srflx candidate crosses the server's sockets to
// the volunteer.
func TestHelplineAlwaysRelayed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leaky bool
	}{{"honest client asking not to hide", false}, {"modified client leaking its address", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, withRelay(), withHelpline(helpline.Config{}))
			vol := ts.volunteer("Sam")
			onShift(t, vol, 1)
			w := &client.WebRTCConfig{SettingEngine: client.LoopbackEngine()}
			if tc.leaky {
				leaky := client.LoopbackEngine()
				leaky.SetNAT1To1IPs([]string{"127.0.0.77"}, webrtc.ICECandidateTypeHost) // a recognisable host address
				w = &client.WebRTCConfig{SettingEngine: leaky, IgnoreHideIP: true}
			}
			v := ts.visitor(withWebRTC(w))
			if err := v.JoinHelpline("", false); err != nil { // hideIP:false on the wire
				t.Fatal(err)
			}
			wait(t, v, "queued")
			off := wait(t, vol, "offer").Msg
			if err := vol.Accept(off.Offer); err != nil {
				t.Fatal(err)
			}
			// Read the volunteer's events until its channel opens, keeping
			// every signal.
			var ch *proto.Outbound
			var candidates, sdps []string
			for open := false; !open; {
				ev := wait(t, vol, "chat", "signal", client.EventOpen)
				switch {
				case ev.Type == "chat":
					ch = ev.Msg
					if ch.HideIP == nil || !*ch.HideIP {
						t.Fatalf("chat %+v does not tell the volunteer to hide", ch)
					}
				case ev.Type == client.EventOpen:
					open = true
				case ev.Msg.Data.Candidate != nil:
					candidates = append(candidates, ev.Msg.Data.Candidate.Candidate)
				case ev.Msg.Data.SDP != nil:
					sdps = append(sdps, ev.Msg.Data.SDP.SDP)
				}
			}
			if m := wait(t, v, "matched").Msg; m.HideIP == nil || !*m.HideIP {
				t.Fatalf("matched %+v does not tell the visitor to hide", m)
			}
			if len(candidates) == 0 {
				t.Fatal("the volunteer received no candidate: the relay candidates should pass")
			}
			for _, c := range candidates {
				if !strings.Contains(c, " typ relay") || strings.Contains(c, "127.0.0.77") {
					t.Errorf("the volunteer received %q", c)
				}
			}
			for _, s := range sdps {
				if strings.Contains(s, "127.0.0.77") || strings.Contains(s, "typ host") || strings.Contains(s, "typ srflx") {
					t.Errorf("the visitor's SDP as the volunteer got it leaks an address:\n%s", s)
				}
			}
			wait(t, v, client.EventOpen)
			chat(t, v, vol, "only through the relay")
			if p := vol.SelectedPairWith(ch.Peer); !relayed(p) || p.Local.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("the volunteer's selected pair %v is not its relay", p)
			}
			if !tc.leaky {
				if p := v.SelectedPair(); !relayed(p) || p.Local.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("the visitor's selected pair %v is not its relay", p)
				}
			}
			// The tap: every frame the server wrote (server to client frames
			// are not masked) holds relay candidates only.
			seen := ts.tap.Bytes()
			if !contains(seen, "typ relay") {
				t.Fatal("the tap saw no relay candidate: the capture is broken")
			}
			for _, leak := range []string{"typ host", "typ srflx", "typ prflx", "127.0.0.77"} {
				if contains(seen, leak) {
					t.Errorf("%q crossed the server's sockets", leak)
				}
			}
		})
	}
}

// A handover with notes: the chat moves from Ann to Bo while the visitor
// waits, Ann's notes go from her browser to Bo's over a data channel of
// their own, and no canary (of the notes, of either chat) is in any byte
// the server read or wrote, in its logs or in its data directory.
func TestHelplineHandoverNotesNeverReachTheServer(t *testing.T) {
	leakCheck(t)
	ts := newTestServer(t, withRelay(), withHelpline(helpline.Config{}))
	ann := ts.volunteer("Ann")
	onShift(t, ann, 1)
	bo := ts.volunteer("Bo")
	onShift(t, bo, 1)
	var boHandle string // Ann sees Bo come on shift
	for boHandle == "" {
		for _, c := range wait(t, ann, "shift").Msg.Colleagues {
			if c.Name == "Bo" {
				boHandle = c.Volunteer
			}
		}
	}
	v := ts.visitor()
	queueUp(t, v)
	first := takeOffer(t, ann, v).Msg
	waitOpen(t, ann, first.Peer)
	wait(t, v, client.EventOpen)
	const canaryVisitor = "canary-3b1e77-visitor-to-ann"
	chat(t, v, ann, canaryVisitor)

	if err := ann.Handover(first.Chat, boHandle); err != nil {
		t.Fatal(err)
	}
	off := wait(t, bo, "offer").Msg
	if off.Handover == nil || off.Handover.From != "Ann" {
		t.Fatalf("the handover's offer %+v", off)
	}
	if err := bo.Accept(off.Offer); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, ann, "chat-ended").Msg; m.Chat != first.Chat || m.Reason != proto.ReasonHandover {
		t.Fatalf("Ann's chat-ended %+v", m)
	}
	annNotes := wait(t, ann, "chat").Msg
	boNotes := wait(t, bo, "chat").Msg
	boChat := wait(t, bo, "chat").Msg
	if annNotes.Notes == nil || boNotes.Notes == nil || annNotes.Chat != boNotes.Chat || annNotes.With != "Bo" || boNotes.With != "Ann" ||
		annNotes.Role != proto.RoleOfferer || boChat.Notes != nil || boChat.Contact == nil {
		t.Fatalf("notes %+v / %+v, chat %+v", annNotes, boNotes, boChat)
	}
	if m := wait(t, v, "partner-left").Msg; m.Reason != proto.ReasonHandover {
		t.Fatalf("the visitor's partner-left %+v", m)
	}
	if m := wait(t, v, "matched").Msg; m.Partner.Name != "Bo" {
		t.Fatalf("the visitor's matched %+v", m)
	}
	waitOpen(t, ann, annNotes.Peer)
	waitOpen(t, bo, boNotes.Peer, boChat.Peer)
	wait(t, v, client.EventOpen)
	const canaryNotes = "canary-9c04d1-notes-ann-to-bo"
	if err := ann.SendTo(annNotes.Peer, canaryNotes); err != nil {
		t.Fatal(err)
	}
	for {
		if ev := wait(t, bo, client.EventText); ev.Peer == boNotes.Peer {
			if ev.Text != canaryNotes {
				t.Fatalf("Bo read %q", ev.Text)
			}
			break
		}
	}
	const canaryBo = "canary-5ae2f0-bo-to-visitor"
	if err := bo.SendTo(boChat.Peer, canaryBo); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, v, client.EventText); ev.Text != canaryBo {
		t.Fatalf("the visitor read %q", ev.Text)
	}
	if err := bo.EndChat(boNotes.Chat); err != nil {
		t.Fatal(err)
	}
	wait(t, ann, "chat-ended")

	seen := ts.tap.Bytes()
	if !contains(seen, `"notes":true`) || !contains(seen, "a=fingerprint") {
		t.Fatalf("the tap saw no handover signaling (%d bytes): the capture is broken", len(seen))
	}
	for _, canary := range []string{canaryVisitor, canaryNotes, canaryBo} {
		if contains(seen, canary) {
			t.Errorf("%s crossed the server's sockets", canary)
		}
		if strings.Contains(ts.logs.String(), canary) {
			t.Errorf("%s is in the logs", canary)
		}
		notOnDisk(t, ts.dir, canary)
	}
}

// notOnDisk fails if s is in any file of dir.
func notOnDisk(t *testing.T, dir, s string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q", p, s)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

// The database never holds a visitor's token or address: a visitor from a
// recognisable address (through a trusted proxy) has chats counted and a
// time-out given, and the file's bytes hold neither, before or after the
// records are swept.
func TestHelplineDatabaseHoldsNoTokenOrAddress(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{}), withConfig(func(c *signaling.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))
	vol := ts.volunteer("Sam", signalingOnly())
	onShift(t, vol, 1)
	cookie := ts.visitorCookie()
	token := strings.TrimPrefix(cookie, signaling.VisitorCookieName+"=")
	const addr = "203.0.113.199"
	v := ts.dial(signalingOnly(), withCookie(cookie), func(c *client.Config) {
		c.Header.Set("X-Forwarded-For", addr)
	})
	for range 2 {
		queueUp(t, v)
		ch := takeOffer(t, vol, v).Msg
		if err := vol.EndChat(ch.Chat); err != nil {
			t.Fatal(err)
		}
		wait(t, v, "partner-left")
	}
	queueUp(t, v)
	ch := takeOffer(t, vol, v).Msg
	if err := vol.TimeOut(ch.Chat, 1); err != nil {
		t.Fatal(err)
	}
	wait(t, v, "partner-left")
	ts.close()
	file, err := os.ReadFile(filepath.Join(ts.dir, "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr(addr).As4()
	for what, b := range map[string][]byte{"token": []byte(token), "address text": []byte(addr), "address bytes": ip[:]} {
		if bytes.Contains(file, b) {
			t.Errorf("the database holds the visitor's %s", what)
		}
	}
	if !bytes.Contains(file, []byte("helpline-blocks")) || !bytes.Contains(file, []byte("contacts")) {
		t.Fatal("no helpline buckets in the file: this test reads the wrong bytes")
	}
}
