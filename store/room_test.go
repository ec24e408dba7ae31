package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// A group room's record opens only under the keyed hash of its secret, holds
// neither the secret nor a name in the clear, names members by a hash bound
// to the room, is hidden once it is a session TTL past its last activity,
// and is swept; DeleteRoom removes it at once (docs/PRIVACY.md, "Data at
// rest").
func TestRoomRecords(t *testing.T) {
	s, clk := newStore(t)
	const secret, name = "Sd8fJq2LmZx0Vb7NcR4tYw", "Canary-Room-Name-p3"
	member := s.MemberHash("g1", testID("member"))
	if member == s.MemberHash("g2", testID("member")) {
		t.Fatal("a member's hash is the same in two rooms: it would link them")
	}
	room := &Room{ID: "g1", Name: name, Media: "text", Max: 8, Owner: "p1",
		Members: []RoomMember{{Peer: "p1", Session: member, Joined: t0}}, Created: t0, LastActive: t0}
	if err := s.PutRoom(s.RoomKey(secret), room); err != nil {
		t.Fatal(err)
	}
	gone := &Room{ID: "g2", Media: "video", Max: 6, Created: t0, LastActive: t0}
	if err := s.PutRoom(s.RoomKey(secret+"x"), gone); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRoom(s.RoomKey(secret)); err != nil || got.Name != name || got.Members[0].Session != member {
		t.Fatalf("GetRoom: %+v %v", got, err)
	}
	if _, err := s.GetRoom(s.RoomKey("Sd8fJq2LmZx0Vb7NcR4tYx")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another secret: %v", err)
	}
	if err := s.DeleteRoom(s.RoomKey(secret + "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRoom(s.RoomKey(secret + "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted room: %v", err)
	}
	db := fileBytes(t, s.db.Path())
	for _, clear := range []string{secret, name, member} {
		if bytes.Contains(db, []byte(clear)) {
			t.Fatalf("%q is in the database file", clear)
		}
	}

	due := t0.Add(DefaultSessionTTL)
	clk.Set(due.Add(-time.Second))
	if _, err := s.GetRoom(s.RoomKey(secret)); err != nil {
		t.Fatalf("a room within its TTL: %v", err)
	}
	clk.Set(due)
	if _, err := s.GetRoom(s.RoomKey(secret)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a room past its TTL: %v", err)
	}
	if _, err := s.Sweep(due); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, bucketRooms); n != 0 {
		t.Fatalf("%d rooms left after the sweep", n)
	}
}
