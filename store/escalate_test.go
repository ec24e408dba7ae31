package store

import (
	"net/netip"
	"testing"
	"time"
)

// banPrefix bans target's /32 or /64 with BanAfter reports from distinct
// IPv4 reporters, and returns the ban Report gave.
func banPrefix(t *testing.T, s *Store, now time.Time, target netip.Addr) Ban {
	t.Helper()
	var ban Ban
	var banned bool
	for i := range s.cfg.BanAfter {
		r := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})
		var err error
		if ban, banned, err = s.Report(now, target, Reporter{Addr: r}, "abuse"); err != nil {
			t.Fatal(err)
		}
	}
	if !banned {
		t.Fatalf("%d reports did not ban the target", s.cfg.BanAfter)
	}
	return ban
}

// TestBanEvasionFromNeighbourPrefix is issue 10's attack: /64s of one /48
// banned, the target comes back from the next /64 of the same /56. On
// format 1 every neighbour was free; now IPv6 bans widen to the /56 and
// the /48, and IPv4 bans stay on the /32.
func TestBanEvasionFromNeighbourPrefix(t *testing.T) {
	tests := []struct {
		name     string
		banned   []string // targets banned one after another, each by 3 reporters
		lastBits int      // the width of the ban Report returns for the last one
		refused  []string // neighbours refused afterwards
		free     []string // neighbours still free
	}{
		{
			name:     "three /64s in three /56s of one /48 ban the /48",
			banned:   []string{"2001:db8:1:100::1", "2001:db8:1:200::1", "2001:db8:1:300::1"},
			lastBits: 48,
			refused:  []string{"2001:db8:1:301::1", "2001:db8:1:300:ffff::", "2001:db8:1:ff00::1", "2001:db8:1::1"},
			free:     []string{"2001:db8:2::1", "2001:db8::1"},
		},
		{
			name:     "two /64s under one /56 ban the /56",
			banned:   []string{"2001:db8:5:10::1", "2001:db8:5:11::1"},
			lastBits: 56,
			refused:  []string{"2001:db8:5:12::1", "2001:db8:5:ff::9"},
			free:     []string{"2001:db8:5:100::1", "2001:db8:6:10::1"},
		},
		{
			name:     "two /56s under one /48 ban the /48",
			banned:   []string{"2001:db8:7:1::1", "2001:db8:7:2::1", "2001:db8:7:101::1", "2001:db8:7:102::1"},
			lastBits: 48,
			refused:  []string{"2001:db8:7:ff03::1"},
			free:     []string{"2001:db8:8::1"},
		},
		{
			name:     "one /64 is banned alone",
			banned:   []string{"2001:db8:9:1::1"},
			lastBits: 64,
			refused:  []string{"2001:db8:9:1:abcd::1"},
			free:     []string{"2001:db8:9:2::1", "2001:db8:9:100::1"},
		},
		{
			name:     "IPv4 stays on the /32",
			banned:   []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"},
			lastBits: 32,
			refused:  []string{"::ffff:198.51.100.4"},
			free:     []string{"198.51.100.5", "198.51.100.0", "198.51.101.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			var last Ban
			for i, a := range tt.banned {
				last = banPrefix(t, s, t0.Add(time.Duration(i)*time.Minute), addr(a))
			}
			now := t0.Add(time.Hour)
			if last.Bits != tt.lastBits {
				t.Errorf("the last ban covers a /%d, want a /%d", last.Bits, tt.lastBits)
			}
			for _, a := range tt.refused {
				if ban, banned, err := s.Banned(now, addr(a)); err != nil || !banned {
					t.Errorf("%s: banned=%v err=%v, want refused", a, banned, err)
				} else if ban.Bits > tt.lastBits && tt.lastBits != 32 {
					t.Errorf("%s: refused by a /%d ban", a, ban.Bits)
				}
			}
			for _, a := range tt.free {
				if _, banned, err := s.Banned(now, addr(a)); err != nil || banned {
					t.Errorf("%s: banned=%v err=%v, want free", a, banned, err)
				}
			}
			checkDB(t, s)
		})
	}
}

// A wider ban lasts as long as the latest ban under it, ends with it, and
// is swept with its strikes.
func TestWiderBanExpiry(t *testing.T) {
	s, _ := newStore(t)
	banPrefix(t, s, t0, addr("2001:db8:5:10::1"))
	banPrefix(t, s, t0.Add(time.Hour), addr("2001:db8:5:11::1"))
	neighbour := addr("2001:db8:5:12::1")
	first, second := t0.Add(DefaultBanFor), t0.Add(time.Hour+DefaultBanFor)
	ban, banned, err := s.Banned(t0.Add(2*time.Hour), neighbour)
	if err != nil || !banned || ban.Bits != 56 || !ban.Until.Equal(second) || ban.Count != 2 {
		t.Fatalf("neighbour: %+v %v %v, want the /56 until %v", ban, banned, err, second)
	}
	if _, err := s.Sweep(first); err != nil {
		t.Fatal(err)
	}
	if _, banned, _ := s.Banned(first, neighbour); !banned {
		t.Fatal("the /56 ended with the first /64's ban")
	}
	if _, banned, _ := s.Banned(first, addr("2001:db8:5:10::1")); !banned {
		t.Fatal("the first /64 is free but the /56 around it is not")
	}
	if _, err := s.Sweep(second); err != nil {
		t.Fatal(err)
	}
	if _, banned, _ := s.Banned(second, neighbour); banned {
		t.Fatal("the /56 outlived every ban under it")
	}
	for name, b := range map[string][]byte{"bans": bucketBans, "strikes": bucketStrikes, "reports": bucketReports} {
		if n := count(t, s, b); n != 0 {
			t.Errorf("%d %s left", n, name)
		}
	}
	if n := len(indexEntries(t, s)); n != 0 {
		t.Errorf("%d index entries left", n)
	}
}

// Lifting a wider ban takes its strikes with it; the bans under it stay.
func TestLiftWiderBan(t *testing.T) {
	s, _ := newStore(t)
	banPrefix(t, s, t0, addr("2001:db8:5:10::1"))
	wide := banPrefix(t, s, t0, addr("2001:db8:5:11::1"))
	if wide.Bits != 56 {
		t.Fatalf("no /56 ban: %+v", wide)
	}
	strikes := count(t, s, bucketStrikes)
	if err := s.LiftBan(wide.Key); err != nil {
		t.Fatal(err)
	}
	if _, banned, _ := s.Banned(t0, addr("2001:db8:5:12::1")); banned {
		t.Fatal("the /56 is still banned")
	}
	if _, banned, _ := s.Banned(t0, addr("2001:db8:5:11::1")); !banned {
		t.Fatal("lifting the /56 lifted a /64 under it")
	}
	// Its strikes of the two /64s and its own strike on the /48 are gone.
	if n := count(t, s, bucketStrikes); n != strikes-3 {
		t.Fatalf("%d strikes after the lift, want %d", n, strikes-3)
	}
	// Lifting a /64 takes its strike on the /48 (the one on the /56 went
	// with the /56): the other /64's strike on the /48 is what is left.
	narrow, _, _ := s.Banned(t0, addr("2001:db8:5:11::1"))
	if err := s.LiftBan(narrow.Key); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, bucketStrikes); n != 1 {
		t.Fatalf("%d strikes after lifting the /64, want 1", n)
	}
	checkDB(t, s)
}

// Reporters from one group count as one; a group inside the target's
// prefix counts for nothing.
func TestGroupReporters(t *testing.T) {
	tests := []struct {
		name      string
		reporters []Reporter
		banned    bool
	}{
		{"one room, three addresses", []Reporter{
			{Addr: addr("192.0.2.1"), Group: "room-1"}, {Addr: addr("192.0.2.2"), Group: "room-1"}, {Addr: addr("2001:db8::1"), Group: "room-1"},
		}, false},
		{"three rooms from one address", []Reporter{
			{Addr: addr("192.0.2.1"), Group: "room-1"}, {Addr: addr("192.0.2.1"), Group: "room-2"}, {Addr: addr("192.0.2.1"), Group: "room-3"},
		}, true},
		{"a room and two one-to-one chats", []Reporter{
			{Addr: addr("192.0.2.1"), Group: "room-1"}, {Addr: addr("192.0.2.2")}, {Addr: addr("192.0.2.3")},
		}, true},
		{"a room from the target's own address", []Reporter{
			{Addr: addr("198.51.100.1"), Group: "room-1"}, {Addr: addr("192.0.2.2")}, {Addr: addr("192.0.2.3")},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			var banned bool
			for _, r := range tt.reporters {
				var err error
				if _, banned, err = s.Report(t0, addr("198.51.100.1"), r, "spam"); err != nil {
					t.Fatal(err)
				}
			}
			if banned != tt.banned {
				t.Fatalf("banned = %v, want %v", banned, tt.banned)
			}
		})
	}
}

// Two reporters whose tags collide count as one: a collision only ever
// under-counts.
func TestReporterTagCollisionUnderCounts(t *testing.T) {
	s, _ := newStore(t)
	ks := s.keys.current()
	seen := map[[tagSize]byte]netip.Addr{}
	var a, b netip.Addr
	for i := 0; !b.IsValid(); i++ {
		r := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tag := ks.reporterTag(Reporter{Addr: r})
		if prev, ok := seen[tag]; ok {
			a, b = prev, r
		}
		seen[tag] = r
	}
	target := addr("198.51.100.1")
	for _, r := range []netip.Addr{a, b, addr("192.0.2.9")} {
		if _, banned, err := s.Report(t0, target, Reporter{Addr: r}, "abuse"); err != nil || banned {
			t.Fatalf("report by %v: banned=%v err=%v", r, banned, err)
		}
	}
	if n := count(t, s, bucketReports); n != 2 {
		t.Fatalf("%d reports stored, want 2 (the colliding pair is one)", n)
	}
	if _, banned, err := s.Report(t0, target, Reporter{Addr: addr("192.0.2.10")}, "abuse"); err != nil || !banned {
		t.Fatalf("a third distinct tag: banned=%v err=%v", banned, err)
	}
	t.Logf("%v and %v share a tag (%d addresses tried)", a, b, len(seen)+1)
}
