package signaling_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/pion/webrtc/v4"
)

// createRoom makes a room as c and returns its secret and the owner's
// room-joined.
func createRoom(t testing.TB, c *client.Client, r client.Room) (string, *proto.Outbound) {
	t.Helper()
	if err := c.CreateRoom(r); err != nil {
		t.Fatal(err)
	}
	created := wait(t, c, proto.TypeRoomCreated).Msg
	if !proto.ValidRoomSecret(created.Secret) || created.Room == "" {
		t.Fatalf("room-created %+v", created)
	}
	return created.Secret, wait(t, c, proto.TypeRoomJoined).Msg
}

// joinRoom joins c and returns its room-joined.
func joinRoom(t testing.TB, c *client.Client, secret, name string) *proto.Outbound {
	t.Helper()
	if err := c.JoinRoom(secret, name, false); err != nil {
		t.Fatal(err)
	}
	return wait(t, c, proto.TypeRoomJoined, proto.TypeError).Msg
}

// opens waits until c has n open data channels, keeping every signal it
// received on the way.
func opens(t testing.TB, c *client.Client, n int) []*proto.Outbound {
	t.Helper()
	var signals []*proto.Outbound
	for open := 0; open < n; {
		ev := wait(t, c, client.EventOpen, proto.TypeSignal)
		if ev.Type == client.EventOpen {
			open++
		} else {
			signals = append(signals, ev.Msg)
		}
	}
	return signals
}

// Six pion peers in one room open data channels to each other; a canary
// sent privately from one to another reaches that one member only, and
// no byte the server read or wrote, no log line and no database page
// holds it.
func TestSixPeersMeshAndAPrivateCanary(t *testing.T) {
	leakCheck(t)
	ts := newTestServer(t)
	var ps []*client.Client
	for range 6 {
		ps = append(ps, ts.dial())
	}
	secret, owned := createRoom(t, ps[0], client.Room{Name: "Book club", MemberName: "Ann", Media: "video"})
	if owned.Owner != owned.You || owned.Max != 6 || owned.RoomName != "Book club" {
		t.Fatalf("room-joined of the creator: %+v", owned)
	}
	ids := []string{owned.You}
	for i, p := range ps[1:] {
		m := joinRoom(t, p, secret, "Member "+string(rune('B'+i)))
		if m.Type != proto.TypeRoomJoined || len(m.Peers) != i+1 {
			t.Fatalf("joiner %d: %+v", i+1, m)
		}
		ids = append(ids, m.You)
	}
	for _, p := range ps {
		opens(t, p, 5)
	}
	const canary = "canary-room-private-5e1f"
	if err := ps[0].SendTo(ids[3], canary); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, ps[3], client.EventText); ev.Text != canary || ev.Peer != ids[0] {
		t.Fatalf("the target got %q from %s", ev.Text, ev.Peer)
	}
	// A marker to everyone after it: on each ordered channel it comes after
	// the canary, so whoever would have had the canary reads it first.
	if err := ps[0].Send("marker"); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps[1:] {
		if ev := wait(t, p, client.EventText); ev.Text != "marker" {
			t.Fatalf("member %d read %q before the marker", i+1, ev.Text)
		}
	}
	seen := ts.tap.Bytes()
	if !contains(seen, `"type":"room-joined"`) || !contains(seen, "a=fingerprint") {
		t.Fatal("the tap saw no room signaling: the capture is broken")
	}
	if contains(seen, canary) || strings.Contains(ts.logs.String(), canary) {
		t.Fatal("the canary crossed the server")
	}
	for _, p := range ps {
		p.Close()
	}
	ts.close()
	db, err := os.ReadFile(filepath.Join(ts.dir, store.DBName))
	if err != nil || len(db) == 0 {
		t.Fatalf("reading the database file: %v", err)
	}
	for _, s := range []string{canary, "Book club", "Member C", secret} {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("%q is in the database file", s)
		}
	}
}

// A seventh joiner of a video room gets room_full; a wrong secret and a
// secret of the wrong shape get no_such_room.
func TestRoomLimitsAndSecrets(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.dial(signalingOnly())
	// welcome announces the sizes, so the browser offers only what is accepted.
	if l := owner.Welcome().Limits; l == nil || l.RoomMaxText != proto.DefaultRoomMaxText || l.RoomMaxVideo != proto.DefaultRoomMaxVideo {
		t.Fatalf("welcome limits %+v", l)
	}
	secret, _ := createRoom(t, owner, client.Room{MemberName: "Ann", Media: "video"})
	for i := range 5 {
		if m := joinRoom(t, ts.dial(signalingOnly()), secret, "M"); m.Type != proto.TypeRoomJoined {
			t.Fatalf("member %d: %+v", i+2, m)
		}
	}
	if m := joinRoom(t, ts.dial(signalingOnly()), secret, "Seventh"); m.Code != proto.CodeRoomFull {
		t.Fatalf("the seventh: %+v", m)
	}
	wrong := []byte(secret)
	wrong[0] ^= 1
	for _, s := range []string{string(wrong), "short", strings.Repeat("A", 22)} {
		if m := joinRoom(t, ts.dial(signalingOnly()), s, "X"); m.Code != proto.CodeNoSuchRoom {
			t.Fatalf("secret %q: %+v", s, m)
		}
	}
	// A text room can be asked smaller than its limit, never larger.
	c := ts.dial(signalingOnly())
	if err := c.CreateRoom(client.Room{MemberName: "Ann", Max: 9}); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, c, proto.TypeError); ev.Msg.Code != proto.CodeBadRoom {
		t.Fatalf("a room of 9: %+v", ev.Msg)
	}
	small, _ := createRoom(t, c, client.Room{MemberName: "Ann", Max: 2})
	joinRoom(t, ts.dial(signalingOnly()), small, "B")
	if m := joinRoom(t, ts.dial(signalingOnly()), small, "C"); m.Code != proto.CodeRoomFull {
		t.Fatalf("a room of 2 took a third: %+v", m)
	}
}

// The owner kicks with a ban: the member is told, the others hear
// peer-left kicked, and the banned one cannot come back, not with another
// session from the same address either. A locked room refuses newcomers.
// Only the owner may kick or lock. The owner leaving hands ownership to
// the longest present member.
func TestRoomModeration(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.dial(signalingOnly(), from("127.0.0.21"))
	secret, om := createRoom(t, owner, client.Room{MemberName: "Ann"})
	b := ts.dial(signalingOnly(), from("127.0.0.22"))
	bm := joinRoom(t, b, secret, "Bo")
	c := ts.dial(signalingOnly(), from("127.0.0.23"))
	cm := joinRoom(t, c, secret, "Cy")
	wait(t, owner, proto.TypePeerJoined)
	wait(t, b, proto.TypePeerJoined)

	if err := b.Kick(cm.You, false); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, b, proto.TypeError); ev.Msg.Code != proto.CodeForbidden {
		t.Fatalf("a member kicked: %+v", ev.Msg)
	}
	if err := owner.Kick(cm.You, true); err != nil {
		t.Fatal(err)
	}
	if k := wait(t, c, proto.TypeKicked).Msg; k.Ban == nil || !*k.Ban {
		t.Fatalf("kicked %+v", k)
	}
	if pl := wait(t, b, proto.TypePeerLeft).Msg; pl.Peer != cm.You || pl.Reason != proto.ReasonKicked {
		t.Fatalf("b heard %+v", pl)
	}
	if m := joinRoom(t, c, secret, "Cy"); m.Code != proto.CodeForbidden {
		t.Fatalf("the banned member came back: %+v", m)
	}
	if m := joinRoom(t, ts.dial(signalingOnly(), from("127.0.0.23")), secret, "Cy again"); m.Code != proto.CodeForbidden {
		t.Fatalf("a new session from the banned address came in: %+v", m)
	}

	if err := owner.Lock(true); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client.Client{owner, b} {
		if l := wait(t, x, proto.TypeRoomLock).Msg; l.Locked == nil || !*l.Locked {
			t.Fatalf("room-lock %+v", l)
		}
	}
	if m := joinRoom(t, ts.dial(signalingOnly(), from("127.0.0.24")), secret, "Di"); m.Code != proto.CodeForbidden {
		t.Fatalf("a locked room took a newcomer: %+v", m)
	}
	if err := owner.Lock(false); err != nil {
		t.Fatal(err)
	}
	// The unlock is the owner's message on another connection: a join sent
	// before the server took it would still find the room locked.
	if l := wait(t, owner, proto.TypeRoomLock).Msg; l.Locked == nil || *l.Locked {
		t.Fatalf("room-lock %+v", l)
	}
	d := ts.dial(signalingOnly(), from("127.0.0.25"))
	if m := joinRoom(t, d, secret, "Di"); m.Type != proto.TypeRoomJoined {
		t.Fatalf("the unlocked room refused: %+v", m)
	}

	if err := owner.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client.Client{b, d} {
		pl := wait(t, x, proto.TypePeerLeft).Msg
		for pl.Peer != om.You {
			pl = wait(t, x, proto.TypePeerLeft).Msg
		}
		if pl.Owner != bm.You {
			t.Fatalf("after the owner left the owner is %q, want the longest present %q", pl.Owner, bm.You)
		}
	}
	if err := d.Kick(bm.You, false); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, d, proto.TypeError); ev.Msg.Code != proto.CodeForbidden {
		t.Fatalf("a non-owner kicked: %+v", ev.Msg)
	}
	if err := b.Kick(d.You(), false); err != nil {
		t.Fatal(err)
	}
	wait(t, d, proto.TypeKicked)
}

// Reports from members of one room count as one reporter: a room cannot
// gang up on someone.
func TestReportsFromOneRoomCountOnce(t *testing.T) {
	ts := newTestServer(t)
	target := ts.dial(signalingOnly(), from("127.0.0.30"))
	secret, tm := createRoom(t, target, client.Room{MemberName: "T"})
	var reporters []*client.Client
	for _, a := range []string{"127.0.0.31", "127.0.0.32", "127.0.0.33"} {
		r := ts.dial(signalingOnly(), from(a))
		joinRoom(t, r, secret, "R")
		reporters = append(reporters, r)
	}
	for _, r := range reporters {
		if err := r.ReportMember(tm.You, "abuse"); err != nil {
			t.Fatal(err)
		}
		wait(t, r, proto.TypeReported)
	}
	if _, banned, err := ts.store.Banned(time.Now(), netipAddr("127.0.0.30")); err != nil || banned {
		t.Fatalf("three reports from one room banned the target: %v %v", banned, err)
	}
}

// With hide-IP on for one member, every candidate that member sends or
// receives is a relay candidate, even from a modified client that gathers
// its host address anyway; and the mesh still connects, through the relay.
func TestHideIPInARoom(t *testing.T) {
	ts := newTestServer(t, withRelay())
	leaky := client.LoopbackEngine()
	leaky.SetNAT1To1IPs([]string{"127.0.0.77"}, webrtc.ICECandidateTypeHost)
	hider := ts.dial(withWebRTC(&client.WebRTCConfig{SettingEngine: leaky, IgnoreHideIP: true}))
	b, c := ts.dial(), ts.dial()
	if err := hider.CreateRoom(client.Room{MemberName: "H", HideIP: true}); err != nil {
		t.Fatal(err)
	}
	secret := wait(t, hider, proto.TypeRoomCreated).Msg.Secret
	hm := wait(t, hider, proto.TypeRoomJoined).Msg
	joinRoom(t, b, secret, "B")
	joinRoom(t, c, secret, "C")
	check := func(who string, signals []*proto.Outbound, fromHider bool) {
		for _, s := range signals {
			if fromHider != (s.From == hm.You) && who != "hider" {
				continue
			}
			var lines []string
			if s.Data.Candidate != nil {
				lines = []string{s.Data.Candidate.Candidate}
			} else {
				for _, l := range strings.Split(s.Data.SDP.SDP, "\n") {
					if strings.HasPrefix(l, "a=candidate:") {
						lines = append(lines, l)
					}
				}
			}
			for _, l := range lines {
				if l != "" && (!strings.Contains(l, " typ relay") || strings.Contains(l, "127.0.0.77")) {
					t.Errorf("%s received %q", who, l)
				}
			}
		}
	}
	check("hider", opens(t, hider, 2), false)
	check("b", opens(t, b, 2), true)
	check("c", opens(t, c, 2), true)
	if err := hider.Send("through the relay"); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client.Client{b, c} {
		if ev := wait(t, x, client.EventText); ev.Text != "through the relay" {
			t.Fatalf("got %q", ev.Text)
		}
	}
	if got := ts.relay.Stats().Allocations; got < 2 {
		t.Fatalf("%d relay allocations for a hidden member of three", got)
	}
}

// A reload brings a member back into the room and its peers reconnect.
func TestRoomResumeAfterReload(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.ResumeWindow = 10 * time.Second }))
	a, b := ts.dial(), ts.dial(func(c *client.Config) { c.Reconnect = true })
	secret, _ := createRoom(t, a, client.Room{MemberName: "A"})
	bm := joinRoom(t, b, secret, "B")
	opens(t, a, 1)
	opens(t, b, 1)
	b.Drop()
	wait(t, b, client.EventReconnected)
	back := wait(t, b, proto.TypeRoomJoined).Msg
	if back.You != bm.You || len(back.Peers) != 1 {
		t.Fatalf("room-joined on return %+v", back)
	}
	// a hears partner-reconnecting for b, unless b's new connection said
	// hello before the server saw the old one close (a takeover), then
	// peer-joined, resumed.
	for {
		m := wait(t, a, proto.TypePartnerReconnecting, proto.TypePeerJoined).Msg
		if m.Peer != bm.You {
			t.Fatalf("a heard %+v", m)
		}
		if m.Type == proto.TypePeerJoined {
			if m.Resumed == nil || !*m.Resumed {
				t.Fatalf("peer-joined %+v", m)
			}
			break
		}
	}
	opens(t, a, 1)
	opens(t, b, 1)
	chat(t, a, b, "still here")
	if !slices.Contains(b.Peers(), a.You()) {
		t.Fatalf("b's peers %v", b.Peers())
	}
}

// relayCandidate is a candidate every hide-IP policy forwards.
const relayCandidate = `{"candidate":{"candidate":"candidate:1 1 udp 16777215 192.0.2.1 50000 typ relay raddr 0.0.0.0 rport 0","sdpMid":"0","sdpMLineIndex":0}}`

// A room-join the room refuses (locked, full, banned) leaves the joiner's
// one-to-one chat as it was: the partner is not told anything, and the two
// go on signalling. A report without a member named, inside a room, is
// refused and leaves the reporter in the room.
func TestRefusedRoomJoinKeepsTheChat(t *testing.T) {
	ts := newTestServer(t)
	a := ts.dial(signalingOnly(), from("127.0.0.41"))
	b := ts.dial(signalingOnly(), from("127.0.0.42"))
	j := client.Join{Mode: "random", Media: "text"}
	if err := a.Join(j); err != nil {
		t.Fatal(err)
	}
	wait(t, a, proto.TypeQueued)
	if err := b.Join(j); err != nil {
		t.Fatal(err)
	}
	wait(t, a, proto.TypeMatched)
	wait(t, b, proto.TypeMatched)

	owner := ts.dial(signalingOnly(), from("127.0.0.43"))
	secret, _ := createRoom(t, owner, client.Room{MemberName: "Ann", Max: 2})
	if err := owner.Lock(true); err != nil {
		t.Fatal(err)
	}
	wait(t, owner, proto.TypeRoomLock)
	if m := joinRoom(t, a, secret, "A"); m.Code != proto.CodeForbidden {
		t.Fatalf("a locked room: %+v", m)
	}
	if err := owner.Lock(false); err != nil {
		t.Fatal(err)
	}
	wait(t, owner, proto.TypeRoomLock)
	member := ts.dial(signalingOnly(), from("127.0.0.44"))
	if m := joinRoom(t, member, secret, "M"); m.Type != proto.TypeRoomJoined {
		t.Fatalf("a member: %+v", m)
	}
	if m := joinRoom(t, a, secret, "A"); m.Code != proto.CodeRoomFull {
		t.Fatalf("a full room: %+v", m)
	}
	// Still paired: a signal from a reaches b, and b heard of no leaving.
	if err := a.SendJSON(json.RawMessage(`{"type":"signal","data":` + relayCandidate + `}`)); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, b, proto.TypeSignal, proto.TypePartnerLeft); ev.Type != proto.TypeSignal {
		t.Fatalf("the partner of a refused joiner got %+v", ev.Msg)
	}

	if err := member.Report("abuse"); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, member, proto.TypeError); ev.Msg.Code != proto.CodeNoSuchPeer {
		t.Fatalf("a report without a member in a room: %+v", ev.Msg)
	}
	if err := owner.SendJSON(json.RawMessage(`{"type":"signal","peer":"` + member.You() + `","data":` + relayCandidate + `}`)); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, member, proto.TypeSignal, proto.TypePeerLeft, proto.TypeLeft); ev.Type != proto.TypeSignal {
		t.Fatalf("the reporter left the room: %+v", ev.Msg)
	}
}
