package signaling

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// A block ends the chat, the partner hears only that it ended, the two are
// never matched again however often they queue together, and nothing is
// reported.
func TestBlockedPersonIsNeverMatchedAgain(t *testing.T) {
	r := newHubRig(t, nil)
	a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
	a.join()
	b.join()
	a.matched()
	b.matched()
	if err := r.h.block(a.s, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := a.got(); got != "blocked" {
		t.Fatalf("a got %q, want blocked", got)
	}
	if got := b.got(); got != "partner-left:leave" {
		t.Fatalf("b got %q: a block must look like a leave", got)
	}
	for range 10 { // MaxMeetings is 2: without the block they would meet again at once
		a.join()
		b.join()
		r.h.tick(time.Now().Add(time.Minute))
		if got := a.got() + " " + b.got(); got != "queued queued" {
			t.Fatalf("after a block they got %q", got)
		}
	}
	if h := r.h.q.history(a.s.id); len(h.Avoid) != 1 || h.Avoid[0] != b.s.id {
		t.Fatalf("a's history %+v: the block is kept with the session", h)
	}
	c := r.connect("192.0.2.3")
	c.join()
	if m := c.matched(); m.Type != proto.TypeMatched {
		t.Fatal("a third person is not matched")
	}
	if n := r.st.Stats().Reports; n != 0 || r.h.m.reports.Load() != 0 {
		t.Fatalf("a block counted as %d reports", n)
	}
	// The blocked person can still be reported by the one who blocked them.
	if err := r.h.report(a.s, "spam", time.Now()); err != nil {
		t.Fatalf("a report after a block: %v", err)
	}
}

// After a chat ended, the last partner can be blocked for ReportGrace; then
// there is nobody to block.
func TestBlockTheLastPartner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHubRig(t, nil)
		if err := r.h.block(r.connect("192.0.2.9").s, time.Now()); err != proto.ErrNothingToBlock {
			t.Fatalf("a block without a partner: %v", err)
		}
		a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
		a.join()
		b.join()
		a.matched()
		b.matched()
		r.h.leave(b.s, proto.ReasonLeave, time.Now()) // b leaves: no avoid, they could meet again
		time.Sleep(r.h.cfg.ReportGrace)
		if err := r.h.block(a.s, time.Now()); err != nil {
			t.Fatalf("a block within the grace: %v", err)
		}
		if got := a.got(); got != "partner-left:leave blocked" {
			t.Fatalf("a got %q", got)
		}
		a.join()
		b.join()
		r.h.tick(time.Now())
		if got := b.got(); got != "left queued" {
			t.Fatalf("b got %q", got)
		}
		time.Sleep(time.Second)
		if err := r.h.block(b.s, time.Now()); err != proto.ErrNothingToBlock {
			t.Fatalf("a block after the grace: %v", err)
		}
	})
}

// In a group room a block is refused and the room stays as it is.
func TestBlockInARoomIsRefused(t *testing.T) {
	r := newHubRig(t, nil)
	a := r.connect("192.0.2.1")
	if err := r.h.roomCreate(a.s, proto.RoomCreate{Name: "Us", Media: proto.MediaText}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.h.block(a.s, time.Now()); err != proto.ErrNothingToBlock {
		t.Fatalf("a block in a room: %v", err)
	}
	a.s.mu.Lock()
	still := a.s.chat != nil
	a.s.mu.Unlock()
	if !still {
		t.Fatal("the block took a out of the room")
	}
}
