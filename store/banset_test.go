package store

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestBannedReadsNoDisk: Banned and Bans answer from the in-memory set.
// bbolt counts every read transaction it starts (Stats.TxN); a thousand
// checks of banned and free addresses, both families, start none.
func TestBannedReadsNoDisk(t *testing.T) {
	s, _ := newStore(t)
	banPrefix(t, s, t0, addr("198.51.100.1"))
	banPrefix(t, s, t0, addr("2001:db8:5:10::1"))
	banPrefix(t, s, t0, addr("2001:db8:5:11::1")) // and the /56
	tests := []struct {
		addr   string
		banned bool
	}{
		{"198.51.100.1", true},
		{"::ffff:198.51.100.1", true},
		{"198.51.100.2", false},
		{"2001:db8:5:10::9", true},
		{"2001:db8:5:77::1", true},
		{"2001:db8:5:100::1", false},
	}
	before := s.db.Stats().TxN
	for i := range 1000 {
		tt := tests[i%len(tests)]
		if _, banned, err := s.Banned(t0.Add(time.Minute), addr(tt.addr)); err != nil || banned != tt.banned {
			t.Fatalf("%s: banned=%v err=%v, want %v", tt.addr, banned, err, tt.banned)
		}
		if i%100 == 0 {
			if bans, err := s.Bans(t0); err != nil || len(bans) != 4 {
				t.Fatalf("Bans: %d %v", len(bans), err)
			}
		}
	}
	if after := s.db.Stats().TxN; after != before {
		t.Fatalf("%d read transactions during the checks, want none", after-before)
	}
}

// The ban set is loaded at Open: bans made before a restart still refuse,
// without a read per check.
func TestBanSetLoadedAtOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, newClock(t0))
	s := openT(t, cfg)
	banPrefix(t, s, t0, addr("198.51.100.1"))
	banPrefix(t, s, t0, addr("2001:db8:5:10::1"))
	banPrefix(t, s, t0, addr("2001:db8:5:11::1"))
	s.Close()
	s = openT(t, cfg)
	before := s.db.Stats().TxN
	for _, a := range []string{"198.51.100.1", "2001:db8:5:10::1", "2001:db8:5:ff::1"} {
		if ban, banned, err := s.Banned(t0, addr(a)); err != nil || !banned {
			t.Fatalf("%s after reopening: %+v %v %v", a, ban, banned, err)
		}
	}
	if s.db.Stats().TxN != before {
		t.Fatal("Banned read the disk")
	}
}

// TestBanKeyCache: a prefix seen again costs no memory-hard hash; the
// cache stays within its bound; no more hashes run at once than there are
// CPUs; and with no bans at all, none runs.
func TestBanKeyCache(t *testing.T) {
	t.Run("no bans, no hashes", func(t *testing.T) {
		s, _ := newStore(t)
		for i := range 50 {
			if _, banned, err := s.Banned(t0, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})); err != nil || banned {
				t.Fatal(banned, err)
			}
		}
		if n := s.Stats().BanKeys; n != 0 {
			t.Fatalf("%d hashes computed with no ban to find", n)
		}
	})
	t.Run("a prefix seen again is free", func(t *testing.T) {
		s, _ := newStore(t)
		banPrefix(t, s, t0, addr("198.51.100.1"))
		n := s.Stats().BanKeys
		for range 100 {
			s.Banned(t0, addr("203.0.113.5"))
			s.Banned(t0, addr("::ffff:203.0.113.5"))
		}
		if got := s.Stats().BanKeys - n; got != 1 {
			t.Fatalf("%d hashes for one address checked 200 times, want 1", got)
		}
		// An IPv6 address needs only the levels some ban has.
		n = s.Stats().BanKeys
		s.Banned(t0, addr("2001:db8:1:2::3"))
		if got := s.Stats().BanKeys - n; got != 1 {
			t.Fatalf("%d hashes for an IPv6 address with only /32 and /64 bans, want 1 (the /64)", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		cfg := testConfig(t.TempDir(), newClock(t0))
		cfg.BanKeyCache = 8
		s := openT(t, cfg)
		banPrefix(t, s, t0, addr("198.51.100.1"))
		for i := range 40 {
			s.Banned(t0, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
			if n := s.keyCache.len(); n > 8 {
				t.Fatalf("%d entries in a cache of 8", n)
			}
		}
		if _, banned, err := s.Banned(t0, addr("198.51.100.1")); err != nil || !banned {
			t.Fatal("an evicted key is not computed again")
		}
	})
	t.Run("a flood waits for the CPUs", func(t *testing.T) {
		s, _ := newStore(t)
		banPrefix(t, s, t0, addr("198.51.100.1"))
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				s.Banned(t0, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
				s.Banned(t0, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})) // and once more, cached
			})
		}
		wg.Wait()
		if peak := int(s.keyCache.peak.Load()); peak > runtime.GOMAXPROCS(0) {
			t.Fatalf("%d hashes at once, more than GOMAXPROCS=%d", peak, runtime.GOMAXPROCS(0))
		}
		if n := s.Stats().BanKeys; n != 1+32 {
			t.Fatalf("%d hashes, want 33: the target's, then one per address however often and concurrently it is checked", n)
		}
	})
}

// Concurrent reports and lifts leave the in-memory set equal to the disk.
func TestBanSetMatchesDisk(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, newClock(t0))
	cfg.BanAfter = 1
	s := openT(t, cfg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				target := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
				ban, banned, err := s.Report(t0.Add(time.Duration(g)*time.Second), target, Reporter{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(g)})}, "spam")
				if err != nil || !banned {
					t.Error(banned, err)
					return
				}
				if i%3 == g%3 {
					if err := s.LiftBan(ban.Key); err != nil && err != ErrNotFound {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	mem, err := s.Bans(t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	disk := openT(t, cfg) // loads the set from the disk
	fromDisk, err := disk.Bans(t0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(mem) != fmt.Sprint(fromDisk) {
		t.Fatalf("in memory %v\non disk    %v", mem, fromDisk)
	}
}
