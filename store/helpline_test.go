package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestStaffRecords(t *testing.T) {
	s, clk := newStore(t)
	vol := &Staff{ID: NewStaffID(), Name: "Sam", Role: RoleVolunteer, Credentials: []json.RawMessage{json.RawMessage(`{"id":"AQID"}`)}, Created: t0}
	coord := &Staff{ID: NewStaffID(), Name: "Ada", Role: RoleCoordinator, Created: t0}
	for _, st := range []*Staff{vol, coord} {
		if err := s.PutStaff(st); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []*Staff{nil, {ID: "zz", Name: "x", Role: RoleVolunteer}, {ID: NewStaffID(), Name: "x", Role: "boss"}, {ID: NewStaffID(), Role: RoleVolunteer}} {
		if err := s.PutStaff(bad); !errors.Is(err, ErrBadStaff) {
			t.Errorf("PutStaff(%+v) = %v, want ErrBadStaff", bad, err)
		}
	}
	got, err := s.GetStaff(vol.ID)
	if err != nil || got.Name != "Sam" || len(got.Credentials) != 1 {
		t.Fatalf("GetStaff = %+v, %v", got, err)
	}
	// An active record has no expiry: a sweep years later leaves it.
	later := t0.Add(5 * 365 * day)
	clk.Set(later)
	if n, err := s.Sweep(later); err != nil || n != 0 {
		t.Fatalf("Sweep removed %d: %v", n, err)
	}
	list, err := s.ListStaff()
	if err != nil || len(list) != 2 || list[0].Name != "Ada" || list[1].Name != "Sam" {
		t.Fatalf("ListStaff = %+v, %v", list, err)
	}
	// Revoked: kept StaffRetention, then swept.
	vol.Revoked = later
	if err := s.PutStaff(vol); err != nil {
		t.Fatal(err)
	}
	clk.Set(later.Add(StaffRetention - time.Second))
	if got, err := s.GetStaff(vol.ID); err != nil || got.Revoked.IsZero() {
		t.Fatalf("a revoked record within its retention: %+v, %v", got, err)
	}
	gone := later.Add(StaffRetention)
	clk.Set(gone)
	if _, err := s.GetStaff(vol.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a revoked record past its retention: %v", err)
	}
	if n, err := s.Sweep(gone); err != nil || n != 1 {
		t.Fatalf("Sweep removed %d: %v", n, err)
	}
	if c := count(t, s, bucketStaff); c != 1 {
		t.Fatalf("%d staff records left, want the coordinator's", c)
	}
	checkDB(t, s)
}

// Invites work once, expire after InviteLifetime, and stop working when
// revoked; two registrations racing with one link cannot both use it.
func TestInvitesOnceExpireRevoked(t *testing.T) {
	s, clk := newStore(t)
	tok := func(label string) string { return "invite-token-" + label + "-0123456789" }
	for _, label := range []string{"once", "expires", "revoked", "race"} {
		if _, err := s.CreateInvite(t0, tok(label), RoleVolunteer, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateInvite(t0, tok("once"), RoleVolunteer, "admin"); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("a token made twice: %v", err)
	}
	if _, err := s.CreateInvite(t0, "short", RoleVolunteer, "admin"); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("a short token: %v", err)
	}
	list, err := s.Invites(t0)
	if err != nil || len(list) != 4 {
		t.Fatalf("Invites = %d, %v", len(list), err)
	}

	t.Run("once", func(t *testing.T) {
		if inv, err := s.PeekInvite(t0, tok("once")); err != nil || inv.Role != RoleVolunteer {
			t.Fatalf("PeekInvite = %+v, %v", inv, err)
		}
		if _, err := s.UseInvite(t0, tok("once")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(t0, tok("once")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second use: %v", err)
		}
		if _, err := s.PeekInvite(t0, tok("once")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("peek after use: %v", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		var id string
		list, _ := s.Invites(t0)
		for _, inv := range list {
			if inv.ID == s.inviteKeysHex(tok("revoked")) {
				id = inv.ID
			}
		}
		if id == "" {
			t.Fatal("the invite is not listed under the hex of its key")
		}
		if err := s.RevokeInvite(id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(t0, tok("revoked")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("use after revoke: %v", err)
		}
		if err := s.RevokeInvite(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second revoke: %v", err)
		}
	})
	t.Run("race", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			wg.Go(func() { _, results[i] = s.UseInvite(t0, tok("race")) })
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d registrations used one invite", ok)
		}
	})
	t.Run("expires", func(t *testing.T) {
		end := t0.Add(InviteLifetime)
		if _, err := s.PeekInvite(end.Add(-time.Second), tok("expires")); err != nil {
			t.Fatalf("within its lifetime: %v", err)
		}
		if _, err := s.UseInvite(end, tok("expires")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("at its end: %v", err)
		}
		clk.Set(end)
		if n, err := s.Sweep(end); err != nil || n != 1 {
			t.Fatalf("Sweep removed %d: %v", n, err)
		}
		if c := count(t, s, bucketInvites); c != 0 {
			t.Fatalf("%d invites left", c)
		}
	})
}

// inviteKeysHex is the id an invite of token is listed under.
func (s *Store) inviteKeysHex(token string) string { return hex.EncodeToString(s.inviteKeys(token)[0]) }

func TestContactRecords(t *testing.T) {
	s, clk := newStore(t)
	until := t0.Add(180 * day)
	pk, err := s.ContactPeriodKey(t0, 7, until, true)
	if err != nil || len(pk) != 32 {
		t.Fatalf("ContactPeriodKey = %x, %v", pk, err)
	}
	if again, err := s.ContactPeriodKey(t0, 7, until, true); err != nil || string(again) != string(pk) {
		t.Fatal("a period's key changed when asked again")
	}
	if _, err := s.ContactPeriodKey(t0, 8, until, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a key never made: %v", err)
	}
	k := NewContactKey(pk, "visitor-token")
	c := &Contact{Tag: "K7F2", Count: 1, First: t0.Truncate(day), Last: t0.Truncate(day)}
	if err := s.PutContact(k, c, t0.Add(90*day)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetContact(t0, k); err != nil || got.Count != 1 || got.Tag != "K7F2" {
		t.Fatalf("GetContact = %+v, %v", got, err)
	}
	// Another token, or the same token under another period's key, finds
	// nothing.
	pk2, _ := s.ContactPeriodKey(t0, 8, until, true)
	for _, other := range []ContactKey{NewContactKey(pk, "visitor-token2"), NewContactKey(pk2, "visitor-token"), {}} {
		if _, err := s.GetContact(t0, other); !errors.Is(err, ErrNotFound) {
			t.Errorf("another key found the record: %v", err)
		}
	}
	// Moving to a new period's key drops the old record in the same write.
	k2 := NewContactKey(pk2, "visitor-token")
	c.Count = 2
	if err := s.PutContact(k2, c, t0.Add(90*day), k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetContact(t0, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old record stayed: %v", err)
	}
	if got, _ := s.GetContact(t0, k2); got == nil || got.Count != 2 {
		t.Fatalf("moved record = %+v", got)
	}
	// The record goes 90 days after its last contact; the keys at their until.
	clk.Set(t0.Add(90 * day))
	if _, err := s.GetContact(t0.Add(90*day), k2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired record: %v", err)
	}
	if n, err := s.Sweep(t0.Add(90 * day)); err != nil || n != 1 {
		t.Fatalf("Sweep removed %d: %v", n, err)
	}
	if _, err := s.ContactPeriodKey(until, 7, until.Add(day), true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a key past its until: %v", err)
	}
	clk.Set(until)
	if n, err := s.Sweep(until); err != nil || n != 2 {
		t.Fatalf("Sweep removed %d keys: %v", n, err)
	}
	if err := s.DeleteContact(k, k2); err != nil {
		t.Fatalf("deleting absent records: %v", err)
	}
	checkDB(t, s)
}

func TestHelplineTimeOuts(t *testing.T) {
	s, _ := newStore(t)
	rule := TimeOutRule{For: 24 * time.Hour, Threshold: 3, LongFor: 90 * day, StrikeWindow: 90 * day}
	v4 := addr("198.51.100.9")
	if _, blocked, err := s.HelplineBlocked(t0, "tok-a", v4); err != nil || blocked {
		t.Fatalf("blocked before any time-out: %v %v", blocked, err)
	}
	at := t0
	var b HelplineBlock
	for i := 1; i <= 3; i++ {
		var err error
		if b, err = s.HelplineTimeOut(at, "tok-a", v4, rule); err != nil {
			t.Fatal(err)
		}
		if b.Strikes != i || b.Long != (i == 3) || !b.Address {
			t.Fatalf("time-out %d: %+v", i, b)
		}
		want := at.Add(rule.For)
		if i == 3 {
			want = at.Add(rule.LongFor)
		}
		if !b.Until.Equal(want) {
			t.Fatalf("time-out %d until %v, want %v", i, b.Until, want)
		}
		// Blocked by the token alone (another network) and by the network
		// alone (another token).
		for _, tc := range []struct {
			token string
			a     string
		}{{"tok-a", "203.0.113.1"}, {"tok-b", "198.51.100.9"}} {
			if got, blocked, err := s.HelplineBlocked(at, tc.token, addr(tc.a)); err != nil || !blocked || !got.Until.Equal(want) {
				t.Fatalf("time-out %d: %s at %s blocked=%v until %v: %v", i, tc.token, tc.a, blocked, got.Until, err)
			}
		}
		at = b.Until.Add(time.Hour) // each later time-out comes after the last block ended
		if i < 3 {
			if _, blocked, _ := s.HelplineBlocked(at, "tok-a", v4); blocked {
				t.Fatalf("time-out %d still blocks after it ended", i)
			}
		}
	}
	list, err := s.HelplineBlocks(t0)
	if err != nil || len(list) != 1 || list[0].ID != b.ID || !list[0].Long {
		t.Fatalf("HelplineBlocks = %+v, %v", list, err)
	}
	if err := s.LiftHelplineBlock(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, blocked, _ := s.HelplineBlocked(t0, "tok-a", v4); blocked {
		t.Fatal("still blocked after the lift")
	}
	if err := s.LiftHelplineBlock(b.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second lift: %v", err)
	}
	// Lifted: the count starts again.
	if b, err := s.HelplineTimeOut(t0, "tok-a", v4, rule); err != nil || b.Strikes != 1 || b.Long {
		t.Fatalf("after the lift: %+v, %v", b, err)
	}
	// Strikes older than the window do not count.
	if b, err := s.HelplineTimeOut(t0.Add(rule.StrikeWindow+time.Hour), "tok-a", v4, rule); err != nil || b.Strikes != 1 {
		t.Fatalf("after the window: %+v, %v", b, err)
	}
	if _, err := s.HelplineTimeOut(t0, "", v4, rule); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("no token: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	s, clk := newStore(t)
	for i, a := range []string{"invite", "revoke-staff", "lift-block"} {
		if err := s.Audit(AuditEntry{At: t0.Add(time.Duration(i) * time.Hour), Actor: "admin", Action: a, Target: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Audit(AuditEntry{At: t0}); !errors.Is(err, ErrBadAudit) {
		t.Fatalf("an empty entry: %v", err)
	}
	log, err := s.AuditLog(t0)
	if err != nil || len(log) != 3 || log[0].Action != "lift-block" {
		t.Fatalf("AuditLog = %+v, %v", log, err)
	}
	end := t0.Add(AuditRetention + 2*time.Hour)
	clk.Set(end)
	if n, err := s.Sweep(end); err != nil || n != 3 {
		t.Fatalf("Sweep removed %d: %v", n, err)
	}
}

// The helpline's records hold no token and no address: a canary token and
// addresses go through every helpline path, and the file's bytes are
// searched for them, before and after everything is swept.
func TestHelplineNoTokenOrAddressOnDisk(t *testing.T) {
	c := canaries{name: "Helper-Name-Q7", interest: "unused-interest-zz", token: "VisitorCanaryTok9q7xW",
		v4: addr("203.0.113.78"), v6: addr("2001:db8:cafe:beef:9:8:7:6"), reporter: addr("2001:db8:feed:f00d::9")}
	dir := t.TempDir()
	clk := newClock(t0)
	s := openT(t, testConfig(dir, clk))
	pk, err := s.ContactPeriodKey(t0, 1, t0.Add(180*day), true)
	if err != nil {
		t.Fatal(err)
	}
	k := NewContactKey(pk, c.token)
	if err := s.PutContact(k, &Contact{Tag: "AB12", Count: 3, First: t0, Last: t0, TimeOuts: []ContactTimeOut{{Day: t0, Hours: 24}}}, t0.Add(90*day)); err != nil {
		t.Fatal(err)
	}
	rule := TimeOutRule{For: time.Hour, Threshold: 3, LongFor: 90 * day, StrikeWindow: 90 * day}
	for _, a := range []string{c.v4.String(), c.v6.String()} {
		if _, err := s.HelplineTimeOut(t0, c.token, addr(a), rule); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateInvite(t0, c.token, RoleVolunteer, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStaff(&Staff{ID: NewStaffID(), Name: "Sam", Role: RoleVolunteer, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if n, b := count(t, s, bucketContacts), count(t, s, bucketHLBlocks); n != 1 || b != 3 {
		t.Fatalf("%d contact records and %d block entries: this test checks the wrong bytes", n, b)
	}
	s.Close()
	if found := findCanaries(c, fileBytes(t, dbPath(dir))); len(slices.DeleteFunc(found, func(f string) bool { return f == "name" || f == "interest" })) > 0 {
		t.Fatalf("the database file holds %v", found)
	}
	s = openT(t, testConfig(dir, clk))
	end := t0.Add(200 * day)
	clk.Set(end)
	if _, err := s.Sweep(end); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if found := findCanaries(c, fileBytes(t, dbPath(dir))); len(slices.DeleteFunc(found, func(f string) bool { return f == "name" || f == "interest" })) > 0 {
		t.Fatalf("after the sweep the database file holds %v", found)
	}
}
