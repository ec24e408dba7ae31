package store

import (
	"errors"
	"github.com/parley-chat/parley/store/prefix"
	"net/netip"
	"testing"
	"time"
)

func TestBanKeying(t *testing.T) {
	s, _ := newStore(t)
	ks := s.keys.current()
	key := func(a string) banKey { return s.keyCache.get(ks, prefix.Of(addr(a))) }
	tests := []struct {
		a, b string
		same bool
	}{
		{"1.2.3.4", "::ffff:1.2.3.4", true},
		{"1.2.3.4", "1.2.3.5", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"1.2.3.4", "::1.2.3.4", false},     // IPv4-compatible is an IPv6 address, not mapped
		{"0.0.0.0", "::", false},            // same zero bytes, different families
		{"1.2.3.4", "102:304::", false},     // same leading bytes, different families
		{"fe80::1%eth0", "fe80::2%1", true}, // zones dropped
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			if got := key(tt.a) == key(tt.b); got != tt.same {
				t.Fatalf("same key = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestReportsAndBans(t *testing.T) {
	const day = 24 * time.Hour
	type report struct {
		at       time.Duration // after t0
		target   string
		reporter string
		banned   bool // what Report returns
	}
	tests := []struct {
		name     string
		cfg      func(*Config)
		reports  []report
		stored   int      // report records stored
		bannedAt []string // addresses banned just after the last report
		freeAt   []string // addresses not banned then
	}{
		{
			name: "one reporter three times bans nobody",
			reports: []report{
				{0, "198.51.100.1", "192.0.2.1", false},
				{time.Minute, "198.51.100.1", "192.0.2.1", false},
				{time.Hour, "198.51.100.1", "::ffff:192.0.2.1", false},
			},
			stored: 1,
			freeAt: []string{"198.51.100.1"},
		},
		{
			name: "three reporters in one /64 count once",
			reports: []report{
				{0, "198.51.100.1", "2001:db8:5:5::1", false},
				{0, "198.51.100.1", "2001:db8:5:5::2", false},
				{0, "198.51.100.1", "2001:db8:5:5:ffff::3", false},
			},
			stored: 1,
			freeAt: []string{"198.51.100.1"},
		},
		{
			name: "reports from the target's own prefix count for nothing",
			reports: []report{
				{0, "2001:db8:7:7::1", "2001:db8:7:7::2", false},
				{0, "2001:db8:7:7::1", "2001:db8:7:7::3", false},
				{0, "2001:db8:7:7::1", "2001:db8:7:7::1", false},
				{0, "1.2.3.4", "::ffff:1.2.3.4", false},
			},
			stored: 0,
			freeAt: []string{"2001:db8:7:7::1", "1.2.3.4"},
		},
		{
			name: "three distinct reporter prefixes ban the target prefix",
			reports: []report{
				{0, "2001:db8:9:9::1", "192.0.2.1", false},
				{time.Hour, "2001:db8:9:9::2", "192.0.2.2", false},
				{2 * time.Hour, "2001:db8:9:9:abcd::3", "2001:db8:1::1", true},
				{3 * time.Hour, "2001:db8:9:9::4", "2001:db8:2::1", true}, // a fourth extends it
			},
			stored:   4,
			bannedAt: []string{"2001:db8:9:9::1", "2001:db8:9:9:ffff::"},
			freeAt:   []string{"2001:db8:9:a::1", "192.0.2.1"},
		},
		{
			name: "mapped and plain IPv4 are one target",
			reports: []report{
				{0, "1.2.3.4", "192.0.2.1", false},
				{0, "::ffff:1.2.3.4", "192.0.2.2", false},
				{0, "1.2.3.4", "192.0.2.3", true},
			},
			stored:   3,
			bannedAt: []string{"1.2.3.4", "::ffff:1.2.3.4"},
			freeAt:   []string{"1.2.3.5"},
		},
		{
			name: "reports expire after ReportWindow",
			reports: []report{
				{0, "198.51.100.1", "192.0.2.1", false},
				{day, "198.51.100.1", "192.0.2.2", false},
				{90 * day, "198.51.100.1", "192.0.2.3", false},          // the first has expired
				{90*day + time.Hour, "198.51.100.1", "192.0.2.1", true}, // so its reporter counts again
			},
			stored:   3, // the expired report is replaced, not added
			bannedAt: []string{"198.51.100.1"},
		},
		{
			name: "BanAfter 1",
			cfg:  func(c *Config) { c.BanAfter = 1 },
			reports: []report{
				{0, "198.51.100.1", "192.0.2.1", true},
			},
			stored:   1,
			bannedAt: []string{"198.51.100.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			cfg := testConfig(t.TempDir(), clk)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			s := openT(t, cfg)
			var last time.Time
			for i, r := range tt.reports {
				last = t0.Add(r.at)
				ban, banned, err := s.Report(last, addr(r.target), Reporter{Addr: addr(r.reporter)}, "abuse")
				if err != nil || banned != r.banned {
					t.Fatalf("report %d: banned=%v err=%v, want banned=%v", i, banned, err, r.banned)
				}
				if banned && (!ban.Until.Equal(last.Add(DefaultBanFor)) || len(ban.Key) != 64) {
					t.Fatalf("report %d: ban %+v, want until %v", i, ban, last.Add(DefaultBanFor))
				}
			}
			if n := count(t, s, bucketReports); n != tt.stored {
				t.Fatalf("%d reports stored, want %d", n, tt.stored)
			}
			for _, a := range tt.bannedAt {
				if _, banned, err := s.Banned(last, addr(a)); err != nil || !banned {
					t.Errorf("%s: banned=%v err=%v, want banned", a, banned, err)
				}
			}
			for _, a := range tt.freeAt {
				if _, banned, err := s.Banned(last, addr(a)); err != nil || banned {
					t.Errorf("%s: banned=%v err=%v, want free", a, banned, err)
				}
			}
			checkDB(t, s)
		})
	}
}

// A ban ends after BanFor and is swept then, with the reports behind it.
func TestBanExpiresAndIsSwept(t *testing.T) {
	s, _ := newStore(t)
	target := addr("203.0.113.9")
	for _, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, _, err := s.Report(t0, target, Reporter{Addr: addr(r)}, "spam"); err != nil {
			t.Fatal(err)
		}
	}
	end := t0.Add(DefaultBanFor)
	tests := []struct {
		at     time.Time
		banned bool
	}{
		{t0, true},
		{end.Add(-time.Nanosecond), true},
		{end, false},
	}
	for _, tt := range tests {
		_, banned, err := s.Banned(tt.at, target)
		bans, lerr := s.Bans(tt.at)
		if err != nil || lerr != nil || banned != tt.banned || (len(bans) == 1) != tt.banned {
			t.Fatalf("at %v: banned=%v bans=%v (%v %v), want %v", tt.at, banned, bans, err, lerr, tt.banned)
		}
	}
	if n, err := s.Sweep(end.Add(-time.Nanosecond)); err != nil || n != 0 {
		t.Fatalf("early sweep removed %d: %v", n, err)
	}
	if n, err := s.Sweep(end); err != nil || n != 4 {
		t.Fatalf("sweep removed %d: %v, want the ban and 3 reports", n, err)
	}
	if count(t, s, bucketBans)+count(t, s, bucketReports)+len(indexEntries(t, s)) != 0 {
		t.Fatal("records or index entries left")
	}
}

func TestLiftBan(t *testing.T) {
	s, _ := newStore(t)
	target := addr("2001:db8:4:4::4")
	for _, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, _, err := s.Report(t0, target, Reporter{Addr: addr(r)}, "illegal"); err != nil {
			t.Fatal(err)
		}
	}
	bans, err := s.Bans(t0)
	if err != nil || len(bans) != 1 || bans[0].Count != 3 {
		t.Fatalf("Bans = %+v, %v", bans, err)
	}
	if err := s.LiftBan(bans[0].Key); err != nil {
		t.Fatal(err)
	}
	if _, banned, err := s.Banned(t0, target); err != nil || banned {
		t.Fatalf("after LiftBan: banned=%v %v", banned, err)
	}
	if count(t, s, bucketReports) != 0 || len(indexEntries(t, s)) != 0 {
		t.Fatal("LiftBan left the reports behind it")
	}
	// One new report does not ban again at once.
	if _, banned, err := s.Report(t0, target, Reporter{Addr: addr("192.0.2.4")}, "spam"); err != nil || banned {
		t.Fatalf("report after LiftBan: banned=%v %v", banned, err)
	}
	tests := []struct {
		key  string
		want error
	}{
		{bans[0].Key, ErrNotFound},
		{"", ErrBadBanKey},
		{"zz", ErrBadBanKey},
		{"Z" + bans[0].Key[1:], ErrBadBanKey},
	}
	for _, tt := range tests {
		if err := s.LiftBan(tt.key); !errors.Is(err, tt.want) {
			t.Errorf("LiftBan(%q): %v, want %v", tt.key, err, tt.want)
		}
	}
}

func TestReportValidation(t *testing.T) {
	s, _ := newStore(t)
	a, b := addr("192.0.2.1"), addr("192.0.2.2")
	tests := []struct {
		name     string
		now      time.Time
		target   netip.Addr
		reporter netip.Addr
		reason   string
		want     error
	}{
		{"zero target", t0, netip.Addr{}, b, "spam", ErrBadAddr},
		{"zero reporter", t0, a, netip.Addr{}, "spam", ErrBadAddr},
		{"empty reason", t0, a, b, "", ErrBadReason},
		{"unknown reason", t0, a, b, "boring", ErrBadReason},
		{"reason case", t0, a, b, "Spam", ErrBadReason},
		{"zero time", time.Time{}, a, b, "spam", ErrBadTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Report(tt.now, tt.target, Reporter{Addr: tt.reporter}, tt.reason); !errors.Is(err, tt.want) {
				t.Fatalf("Report: %v, want %v", err, tt.want)
			}
		})
	}
	for _, r := range Reasons {
		if _, _, err := s.Report(t0, a, Reporter{Addr: b}, r); err != nil {
			t.Fatalf("reason %q: %v", r, err)
		}
	}
	if _, _, err := s.Banned(t0, netip.Addr{}); !errors.Is(err, ErrBadAddr) {
		t.Fatalf("Banned(zero): %v", err)
	}
	if _, _, err := s.Banned(time.Time{}, a); !errors.Is(err, ErrBadTime) {
		t.Fatalf("Banned(zero time): %v", err)
	}
	if _, err := s.Bans(time.Time{}); !errors.Is(err, ErrBadTime) {
		t.Fatalf("Bans(zero time): %v", err)
	}
	if count(t, s, bucketReports) != 1 {
		t.Fatal("want exactly one stored report")
	}
}

// A repeated report is answered from a read: no write, no fsync.
func TestDuplicateReportWritesNothing(t *testing.T) {
	s, _ := newStore(t)
	a, b := addr("192.0.2.1"), addr("192.0.2.2")
	if _, _, err := s.Report(t0, a, Reporter{Addr: b}, "spam"); err != nil {
		t.Fatal(err)
	}
	w := s.Stats().Writes
	for range 3 {
		if _, _, err := s.Report(t0.Add(time.Hour), a, Reporter{Addr: b}, "abuse"); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Writes != w || st.Reports != 1 {
		t.Fatalf("Stats = %+v after duplicates", st)
	}
}
