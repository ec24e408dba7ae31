package helpline

import (
	"testing"
	"time"

	"github.com/parley-chat/parley/store"
)

const period = 90 * 24 * time.Hour

// The contact count goes 1, 2, 3; it survives one rotation of the key (a
// visitor back in the next period keeps their count, and the record moves
// under the new key); two periods without a contact and it is gone, the
// period keys with it.
func TestContactCountRotation(t *testing.T) {
	st := openStore(t)
	c := NewContacts(st, period)
	// Late in a period, so the next contact falls in the next one.
	p0 := time.Unix(int64(1000*period/time.Second), 0).UTC()
	now := p0.Add(80 * 24 * time.Hour)
	const tok = "visitor-token-1"
	if s, err := c.Lookup(now, tok); err != nil || s.Tag != "" || s.Earlier != 0 {
		t.Fatalf("a first visit: %+v %v", s, err)
	}
	var tag string
	for want := 1; want <= 3; want++ {
		rec, err := c.Record(now.Add(time.Duration(want)*time.Hour), tok)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Count != want {
			t.Fatalf("count %d, want %d", rec.Count, want)
		}
		if tag == "" {
			tag = rec.Tag
		} else if rec.Tag != tag {
			t.Fatalf("the tag changed: %s then %s", tag, rec.Tag)
		}
	}
	if _, err := c.TimeOut(now.Add(4*time.Hour), tok, 24); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Lookup(now, "another-visitor"); s.Tag != "" {
		t.Fatal("another token found a record")
	}

	// The next period: the count is there, and the record moves.
	next := p0.Add(period + 10*24*time.Hour)
	s, err := c.Lookup(next, tok)
	if err != nil || s.Earlier != 3 || s.Tag != tag || len(s.TimeOuts) != 1 || s.TimeOuts[0].Hours != 24 {
		t.Fatalf("after one rotation: %+v %v", s, err)
	}
	if rec, err := c.Record(next, tok); err != nil || rec.Count != 4 {
		t.Fatalf("the fourth contact: %+v %v", rec, err)
	}
	pk0, _ := st.ContactPeriodKey(next, 1000, p0.Add(2*period), false)
	if _, err := st.GetContact(next, store.NewContactKey(pk0, tok)); err == nil {
		t.Fatal("the record stayed under the old key after it moved")
	}

	// Two periods later (no contact meanwhile): gone, keys and all.
	later := p0.Add(3*period + time.Hour)
	if _, err := st.Sweep(later); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Lookup(later, tok); err != nil || s.Tag != "" {
		t.Fatalf("two periods later: %+v %v", s, err)
	}
	for p := uint64(1000); p <= 1001; p++ {
		if _, err := st.ContactPeriodKey(later, p, later.Add(time.Hour), false); err != store.ErrNotFound {
			t.Fatalf("the key of period %d is still there: %v", p, err)
		}
	}

	// Gone after two: a record of period 0 not used in period 1 is gone in
	// period 2 even before any sweep: it ended a period after the last
	// contact, and its key with period 2.
	c2 := NewContacts(openStore(t), period)
	if _, err := c2.Record(p0.Add(80*24*time.Hour), tok); err != nil {
		t.Fatal(err)
	}
	if s, _ := c2.Lookup(p0.Add(period+time.Hour), tok); s.Earlier != 1 {
		t.Fatalf("one rotation: %+v", s)
	}
	if s, _ := c2.Lookup(p0.Add(2*period+time.Hour), tok); s.Tag != "" {
		t.Fatalf("two rotations: %+v", s)
	}
}

// Erasing finds the record under either key.
func TestContactErase(t *testing.T) {
	st := openStore(t)
	c := NewContacts(st, period)
	p0 := time.Unix(int64(1000*period/time.Second), 0).UTC()
	if _, err := c.Record(p0.Add(80*24*time.Hour), "tok"); err != nil {
		t.Fatal(err)
	}
	next := p0.Add(period + time.Hour)
	if rec, until, err := c.Get(next, "tok"); err != nil || rec == nil || !until.Equal(p0.Add(80*24*time.Hour+period)) {
		t.Fatalf("Get: %+v %v %v", rec, until, err)
	}
	if err := c.Erase(next, "tok"); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := c.Get(next, "tok"); rec != nil {
		t.Fatal("still there after the erase")
	}
}
