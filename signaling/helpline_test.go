package signaling_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// A visitor (or anyone without the staff cookie) who sends a volunteer's
// messages gets forbidden, and nothing happens.
func TestHelplineVisitorSendingStaffMessagesIsForbidden(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{}))
	vol := ts.volunteer("Sam", signalingOnly())
	onShift(t, vol, 1)
	visitor := ts.visitor(signalingOnly())
	queueUp(t, visitor)
	off := wait(t, vol, "offer").Msg
	for _, m := range []*proto.Inbound{
		{Type: proto.TypeShift, On: proto.Bool(true)},
		{Type: proto.TypeShift},
		{Type: proto.TypeOfferAccept, Offer: off.Offer},
		{Type: proto.TypeOfferDecline, Offer: off.Offer},
		{Type: proto.TypeChatEnd, Chat: "h123"},
		{Type: proto.TypeChatTimeOut, Chat: "h123", Hours: 1},
		{Type: proto.TypeChatHandover, Chat: "h123"},
	} {
		t.Run(m.Type, func(t *testing.T) {
			for _, c := range []*client.Client{visitor, ts.dial(signalingOnly())} {
				if err := c.SendJSON(m); err != nil {
					t.Fatal(err)
				}
				if e := wait(t, c, "error").Msg; e.Code != proto.CodeForbidden {
					t.Fatalf("error %s, want forbidden", e.Code)
				}
			}
		})
	}
	// The offer is still the volunteer's to take.
	if err := vol.Accept(off.Offer); err != nil {
		t.Fatal(err)
	}
	wait(t, vol, "chat")
	wait(t, visitor, "matched")
}

// The whole visitor's path: the place in the queue, nobody on shift said
// plainly, the offer with the contact summary, the chat (peer to peer,
// relayed), a time-out that ends it and blocks, and the visitor told.
func TestHelplineVisitorAndVolunteer(t *testing.T) {
	ts := newTestServer(t, withRelay(), withHelpline(helpline.Config{OpeningHours: "every day 18-23"}))
	v1 := ts.visitor()
	q := queueUp(t, v1).Msg
	if q.Position != 1 || q.Ahead == nil || *q.Ahead != 0 || q.Staffed == nil || *q.Staffed || q.OpeningHours != "every day 18-23" {
		t.Fatalf("queued with nobody on shift: %+v", q)
	}
	v2 := ts.visitor(signalingOnly())
	if q := queueUp(t, v2).Msg; q.Position != 2 || *q.Ahead != 1 {
		t.Fatalf("the second visitor: %+v", q)
	}
	vol := ts.volunteer("Sam")
	onShift(t, vol, 1)
	// Somebody is on shift now: both visitors hear it.
	for _, v := range []*client.Client{v1, v2} {
		for {
			if m := wait(t, v, "queued").Msg; *m.Staffed {
				break
			}
		}
	}
	off := wait(t, vol, "offer").Msg
	if off.Contact == nil || off.Contact.Earlier != 0 || off.ExpiresIn < 1 || off.ExpiresIn > 30 {
		t.Fatalf("offer %+v", off)
	}
	if err := vol.Accept(off.Offer); err != nil {
		t.Fatal(err)
	}
	ch := wait(t, vol, "chat").Msg
	m := wait(t, v1, "matched").Msg
	// The volunteer answers, the visitor offers as soon as it hears of the
	// chat: the volunteer is told first (the tap keeps the server's writes
	// in their order), or the offer can reach it before it knows the chat
	// and is dropped.
	tap := ts.tap.Bytes()
	if c, mt := bytes.Index(tap, []byte(`{"type":"chat"`)), bytes.Index(tap, []byte(`{"type":"matched"`)); c < 0 || mt < 0 || c > mt {
		t.Fatalf("the visitor heard matched (at byte %d) before the volunteer heard chat (at %d)", mt, c)
	}
	if m.Partner == nil || m.Partner.Name != "Sam" || ch.Chat != m.Pair || ch.Peer != m.You {
		t.Fatalf("chat %+v, matched %+v", ch, m)
	}
	wait(t, v1, client.EventOpen)
	wait(t, vol, client.EventOpen)
	chat(t, v1, vol, "hello, I need to talk")
	if err := vol.SendTo(ch.Peer, "I am listening"); err != nil {
		t.Fatal(err)
	}
	if ev := wait(t, v1, client.EventText); ev.Text != "I am listening" {
		t.Fatalf("visitor heard %q", ev.Text)
	}
	// Capacity 1: the second visitor is not offered meanwhile, and moves up.
	if m := wait(t, v2, "queued").Msg; m.Position != 1 {
		t.Fatalf("the second visitor after the first was served: %+v", m)
	}
	// The time-out: the chat ends, the visitor sees until when, and is
	// blocked when they come back.
	if err := vol.TimeOut(ch.Chat, 2); err != nil {
		t.Fatal(err)
	}
	left := wait(t, v1, "partner-left").Msg
	ended := wait(t, vol, "chat-ended").Msg
	until, err := time.Parse(time.RFC3339, left.Until)
	if left.Reason != proto.ReasonTimeOut || ended.Reason != proto.ReasonTimeOut || err != nil ||
		until.Before(time.Now().Add(time.Hour)) || until.After(time.Now().Add(2*time.Hour+time.Minute)) {
		t.Fatalf("partner-left %+v, chat-ended %+v", left, ended)
	}
	if err := v1.JoinHelpline("", true); err != nil {
		t.Fatal(err)
	}
	if b := wait(t, v1, "helpline-blocked").Msg; b.Until != left.Until {
		t.Fatalf("blocked %+v, want until %s", b, left.Until)
	}
	// The volunteer is free again: the second visitor is offered.
	off = wait(t, vol, "offer").Msg
	if err := vol.Decline(off.Offer); err != nil {
		t.Fatal(err)
	}
	if err := vol.Accept(off.Offer); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, vol, "error").Msg; e.Code != proto.CodeNoSuchOffer {
		t.Fatalf("accepting a declined offer: %s", e.Code)
	}
}

// The contact count goes 1, 2, 3 over the wire: the volunteer sees the
// earlier contacts and the day of the last one, GET /api/me shows the
// record and DELETE /api/me erases it.
func TestHelplineContactCount(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{}))
	vol := ts.volunteer("Sam", signalingOnly())
	onShift(t, vol, 2)
	cookie := ts.visitorCookie()
	v := ts.dial(signalingOnly(), withCookie(cookie))
	var tag string
	for n := 1; n <= 3; n++ {
		queueUp(t, v)
		off := wait(t, vol, "offer").Msg
		if off.Contact.Earlier != n-1 || (n > 1) != (off.Contact.Last != "") || (n > 1 && off.Contact.Tag != tag) {
			t.Fatalf("contact %d: %+v", n, off.Contact)
		}
		if err := vol.Accept(off.Offer); err != nil {
			t.Fatal(err)
		}
		ch := wait(t, vol, "chat").Msg
		wait(t, v, "matched")
		if err := vol.EndChat(ch.Chat); err != nil {
			t.Fatal(err)
		}
		if m := wait(t, v, "partner-left").Msg; m.Reason != proto.ReasonLeave {
			t.Fatalf("partner-left %+v", m)
		}
		wait(t, vol, "chat-ended")
		me := ts.me(cookie)["helpline"].(map[string]any)
		if me["contacts"].(float64) != float64(n) {
			t.Fatalf("GET /api/me after contact %d: %v", n, me)
		}
		tag = me["tag"].(string)
	}
	if err := ts.erase(cookie); err != nil {
		t.Fatal(err)
	}
	if me := ts.me(cookie); me["helpline"] != nil {
		t.Fatalf("still there after DELETE /api/me: %v", me["helpline"])
	}
}

// An offer not answered moves on to another volunteer after the timeout;
// the one who let it lapse is told.
func TestHelplineOfferMovesOn(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{Queue: helpline.QueueConfig{OfferTimeout: time.Second}}))
	a := ts.volunteer("Ann", signalingOnly())
	onShift(t, a, 1)
	b := ts.volunteer("Bo", signalingOnly())
	onShift(t, b, 1)
	v := ts.visitor(signalingOnly())
	queueUp(t, v)
	off := wait(t, a, "offer").Msg // Ann went on shift first: free the longest
	if gone := wait(t, a, "offer-gone").Msg; gone.Offer != off.Offer || gone.Reason != helpline.WithdrawnTimeout {
		t.Fatalf("offer-gone %+v", gone)
	}
	takeOffer(t, b, v)
}

// A handover to the queue keeps the visitor's place: ahead of everyone
// who came later.
func TestHelplineHandoverToQueueKeepsPlace(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{}))
	vol := ts.volunteer("Sam", signalingOnly())
	onShift(t, vol, 1)
	v1 := ts.visitor(signalingOnly())
	queueUp(t, v1)
	ch := takeOffer(t, vol, v1).Msg
	v2, v3 := ts.visitor(signalingOnly()), ts.visitor(signalingOnly())
	queueUp(t, v2)
	queueUp(t, v3)
	if err := vol.Handover(ch.Chat, ""); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, v1, "partner-left").Msg; m.Reason != proto.ReasonHandover {
		t.Fatalf("partner-left %+v", m)
	}
	if q := wait(t, v1, "queued").Msg; q.Position != 1 || *q.Ahead != 0 {
		t.Fatalf("handed back to the queue at %d", q.Position)
	}
	// Sam has room again, and is offered the next visitor, not v1 again at
	// once.
	takeOffer(t, vol, v2)
}

// Revoking a volunteer ends their connection, and their visitors go back
// to the queue at their place.
func TestHelplineRevokedVolunteer(t *testing.T) {
	ts := newTestServer(t, withHelpline(helpline.Config{}))
	cookie, m := ts.staffCookie("Sam", store.RoleVolunteer)
	vol := ts.dial(signalingOnly(), withCookie(cookie))
	wait(t, vol, "shift")
	onShift(t, vol, 1)
	v := ts.visitor(signalingOnly())
	queueUp(t, v)
	takeOffer(t, vol, v)
	if err := ts.srv.Helpline().Revoke(time.Now(), m.ID, helpline.Admin); err != nil {
		t.Fatal(err)
	}
	if c := wait(t, vol, client.EventClosed); c.Code != proto.ClosePolicy {
		t.Fatalf("closed with %d", c.Code)
	}
	if m := wait(t, v, "partner-left").Msg; m.Reason != proto.ReasonGone {
		t.Fatalf("partner-left %+v", m)
	}
	if q := wait(t, v, "queued").Msg; q.Position != 1 {
		t.Fatalf("queued %+v", q)
	}
	// Their cookie signs nobody in any more.
	again := ts.dial(signalingOnly(), withCookie(cookie))
	if err := again.Shift(true, 1); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, again, "error").Msg; e.Code != proto.CodeForbidden {
		t.Fatalf("a revoked volunteer's shift: %s", e.Code)
	}
}

// A volunteer holds up to their capacity of chats at once, side by side.
func TestHelplineCapacity(t *testing.T) {
	ts := newTestServer(t, withRelay(), withHelpline(helpline.Config{}))
	vol := ts.volunteer("Sam")
	onShift(t, vol, 2)
	var visitors []*client.Client
	for range 3 {
		v := ts.visitor()
		queueUp(t, v)
		visitors = append(visitors, v)
	}
	offers := []string{wait(t, vol, "offer").Msg.Offer, wait(t, vol, "offer").Msg.Offer}
	chats := map[string]string{}
	for i, off := range offers {
		if err := vol.Accept(off); err != nil {
			t.Fatal(err)
		}
		ch := wait(t, vol, "chat").Msg
		chats[ch.Peer] = fmt.Sprint("to visitor ", i) // offered oldest first
	}
	for i := range 2 {
		wait(t, visitors[i], client.EventOpen)
	}
	// A visitor's channel opens a moment before the volunteer's end of it
	// (whose open event may have passed while the test waited for a chat).
	for peer, text := range chats {
		if err := vol.WaitOpen(ctxT(t, 10*time.Second), peer); err != nil {
			t.Fatal(err)
		}
		if err := vol.SendTo(peer, text); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if ev := wait(t, visitors[i], client.EventText); ev.Text != fmt.Sprint("to visitor ", i) {
			t.Fatalf("visitor %d heard %q", i, ev.Text)
		}
	}
	if m := wait(t, visitors[2], "queued").Msg; m.Position != 1 {
		t.Fatalf("the third visitor: %+v", m)
	}
	ctx := ctxT(t, 500*time.Millisecond)
	if ev, err := vol.WaitFor(ctx, "offer"); err == nil {
		t.Fatalf("an offer past capacity: %+v", ev.Msg)
	}
	if s := strings.Count(string(ts.tap.Bytes()), `"type":"chat"`); s != 2 {
		t.Fatalf("%d chats opened", s)
	}
}
