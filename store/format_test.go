package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// The format-1 fixtures (testdata/format1/README.md says what they hold).
const fixtureDir = "testdata/format1"

// copyFixture puts a fixture in a new data dir as its database.
func copyFixture(t testing.TB, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(dbPath(dir), fileBytes(t, filepath.Join(fixtureDir, name)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// contents reads every bucket of a closed database file, read-only.
func contents(t testing.TB, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error {
				m[string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// format1Keys are the record keys of a format-1 file that name a person:
// the HMACs of banned, reported and reporting prefixes and the session
// ids. None may be left anywhere in the file after the upgrade.
func format1Keys(c map[string]map[string]string) [][]byte {
	var keys [][]byte
	for k := range c["bans"] {
		keys = append(keys, []byte(k))
	}
	for k := range c["reports"] {
		keys = append(keys, []byte(k[:32]), []byte(k[32:]))
	}
	for k := range c["sessions"] {
		keys = append(keys, []byte(k))
	}
	return keys
}

func lingering(file []byte, keys [][]byte) int {
	n := 0
	for _, k := range keys {
		if bytes.Contains(file, k) {
			n++
		}
	}
	return n
}

// The fixture's people.
var (
	fxBanned4   = addr("198.51.100.1")
	fxBanned6   = addr("2001:db8:77:1::5")
	fxTwice4    = addr("198.51.100.3") // reported by 192.0.2.1 and 192.0.2.2
	fxOnce      = addr("198.51.100.4") // reported by 192.0.2.4
	fxRotBanned = addr("198.51.100.5") // v1-rotated.db: banned under key B
)

func TestUpgradeFormat1(t *testing.T) {
	dir := copyFixture(t, "v1.db")
	before := contents(t, dbPath(dir))
	if lingering(fileBytes(t, dbPath(dir)), format1Keys(before)) == 0 {
		t.Fatal("the fixture's keys are not in its file: this test looks for the wrong bytes")
	}
	if len(before["sessions"]) != 3 || len(before["bans"]) != 2 || len(before["reports"]) != 11 || before["meta"][string(formatKey)] != "" {
		t.Fatalf("the fixture is not what README.md says: %d sessions, %d bans, %d reports", len(before["sessions"]), len(before["bans"]), len(before["reports"]))
	}
	s := openT(t, testConfig(dir, newClock(t0)))
	now := t0.Add(time.Hour)

	t.Run("the bans refuse the same addresses", func(t *testing.T) {
		for _, tc := range []struct {
			addr   string
			banned bool
			bits   int
		}{
			{"198.51.100.1", true, 32},
			{"::ffff:198.51.100.1", true, 32},
			{"2001:db8:77:1::5", true, 64},
			{"2001:db8:77:1:ffff::1", true, 64},
			{"2001:db8:77:3::1", false, 0},
			{"198.51.100.3", false, 0},
			{"198.51.100.2", false, 0},
		} {
			ban, banned, err := s.Banned(now, addr(tc.addr))
			if err != nil || banned != tc.banned || banned && (ban.Bits != tc.bits || !ban.Until.Equal(t0.Add(DefaultBanFor)) || ban.Count != 3) {
				t.Errorf("%s: %+v banned=%v err=%v, want banned=%v /%d", tc.addr, ban, banned, err, tc.banned, tc.bits)
			}
		}
		bans, err := s.Bans(now)
		if err != nil || len(bans) != 2 || bans[0].Bits != 0 {
			t.Fatalf("Bans: %+v %v, want the two of format 1 (width 0: a /32 or a /64)", bans, err)
		}
	})
	t.Run("reporters keep their identity", func(t *testing.T) {
		w := s.Stats().Writes
		if _, banned, err := s.Report(now, fxTwice4, Reporter{Addr: addr("192.0.2.1")}, "spam"); err != nil || banned {
			t.Fatalf("a repeated report: banned=%v err=%v", banned, err)
		}
		if s.Stats().Writes != w {
			t.Fatal("a reporter from before the upgrade counted again")
		}
		ban, banned, err := s.Report(now, fxTwice4, Reporter{Addr: addr("192.0.2.3")}, "spam")
		if err != nil || !banned || ban.Count != 3 || ban.Bits != 32 {
			t.Fatalf("a third reporter after the upgrade: %+v banned=%v err=%v, want the target banned", ban, banned, err)
		}
		if _, banned, _ := s.Report(now, fxOnce, Reporter{Addr: addr("192.0.2.5")}, "spam"); banned {
			t.Fatal("two reports banned")
		}
	})
	t.Run("sessions are gone", func(t *testing.T) {
		if n := count(t, s, bucketSessions); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
		if _, err := s.GetSession(s.SessionKey("fixture-token-1")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a session from before the upgrade: %v", err)
		}
		for _, e := range indexEntries(t, s) {
			if strings.Contains(e, fmt.Sprintf("%x", bucketSessions)) {
				t.Fatal("an index entry of a dropped session is left")
			}
		}
	})
	checkDB(t, s)
	s.Close()

	after := contents(t, dbPath(dir))
	if after["meta"][string(formatKey)] != string(formatValue(2)) || after["meta"][string(compactKey)] != "" {
		t.Fatalf("meta after the upgrade: %q", after["meta"])
	}
	if n := lingering(fileBytes(t, dbPath(dir)), format1Keys(before)); n > 0 {
		t.Fatalf("%d format-1 keys are still in the file (free pages?)", n)
	}
	for k, v := range before["meta"] {
		if strings.HasPrefix(k, "check") && after["meta"][k] != v {
			t.Fatal("the key check record changed")
		}
	}
	if fi, err := os.Stat(dbPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the upgraded file: %v %v, want mode 0600", fi.Mode(), err)
	}
}

// A fixture with records under an old and a new key upgrades with both,
// each record keeping the key that sealed it.
func TestUpgradeFormat1Rotated(t *testing.T) {
	dir := copyFixture(t, "v1-rotated.db")
	cfg := Config{Dir: dir, Key: keyB, OldKeys: []string{keyA}, Clock: newClock(t0).Now}
	if _, err := Open(Config{Dir: dir, Key: keyB, Clock: cfg.Clock}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("without the old key: %v, want ErrWrongKey", err)
	}
	s := openT(t, cfg)
	now := t0.Add(time.Hour)
	for _, a := range []string{"198.51.100.1", "198.51.100.5"} {
		if _, banned, err := s.Banned(now, addr(a)); err != nil || !banned {
			t.Fatalf("%s: banned=%v err=%v", a, banned, err)
		}
	}
	ids := map[string]bool{}
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).ForEach(func(k, v []byte) error {
			h, _ := parseHeader(v)
			ids[h.id.String()] = true
			return nil
		})
	})
	if len(ids) != 2 {
		t.Fatalf("ban records sealed under %v, want both keys", ids)
	}
	// One report under each key: a third reporter bans, an old one repeats.
	if _, banned, _ := s.Report(now, fxTwice4, Reporter{Addr: addr("192.0.2.1")}, "spam"); banned {
		t.Fatal("a repeated report banned")
	}
	if _, banned, err := s.Report(now, fxTwice4, Reporter{Addr: addr("192.0.2.3")}, "spam"); err != nil || !banned {
		t.Fatalf("a third reporter across the rotation: banned=%v err=%v", banned, err)
	}
	checkDB(t, s)
}

// A wrong key refuses the upgrade before anything is written.
func TestUpgradeWrongKeyWritesNothing(t *testing.T) {
	dir := copyFixture(t, "v1.db")
	before := fileBytes(t, dbPath(dir))
	if _, err := Open(Config{Dir: dir, Key: keyC}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open: %v, want ErrWrongKey", err)
	}
	if !bytes.Equal(fileBytes(t, dbPath(dir)), before) {
		t.Fatal("a refused upgrade changed the file")
	}
}

// TestFutureFormatRefused: a file from a newer parley is refused with both
// versions named, whatever the key, and never modified.
func TestFutureFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, testConfig(dir, newClock(t0)))
	banPrefix(t, s, t0, addr("198.51.100.1"))
	s.Close()
	raw(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(formatKey, formatValue(3)) })
	before := fileBytes(t, dbPath(dir))
	for _, key := range []string{keyA, keyB} {
		_, err := Open(Config{Dir: dir, Key: key})
		if !errors.Is(err, ErrFutureFormat) || !strings.Contains(err.Error(), "format 3") || !strings.Contains(err.Error(), "1 to 2") {
			t.Fatalf("Open with a key: %v, want ErrFutureFormat naming formats 3 and 2", err)
		}
	}
	if !bytes.Equal(fileBytes(t, dbPath(dir)), before) {
		t.Fatal("a refused open changed the file")
	}
}

// A crash after the upgrade's commit and before its compaction: the next
// Open compacts, and the format-1 keys left in free pages go with it.
func TestUpgradeResumesCompaction(t *testing.T) {
	dir := copyFixture(t, "v1.db")
	old := format1Keys(contents(t, dbPath(dir)))
	cfg := testConfig(dir, newClock(t0)).withDefaults()
	db, err := openBolt(dbPath(dir), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	master, _ := parseKey(keyA)
	s := build(cfg, db, newKeyring(master, nil))
	kc, err := verifyKeys(db, s.keys)
	if err == nil {
		err = s.upgrade(kc) // and no compaction: the crash
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if lingering(fileBytes(t, dbPath(dir)), old) == 0 {
		t.Fatal("no format-1 key in the uncompacted file: this test proves nothing")
	}
	if c := contents(t, dbPath(dir)); c["meta"][string(compactKey)] == "" {
		t.Fatal("no compaction flag after the upgrade's commit")
	}
	s = openT(t, cfg)
	if _, banned, err := s.Banned(t0, fxBanned6); err != nil || !banned {
		t.Fatalf("after the compaction: banned=%v err=%v", banned, err)
	}
	s.Close()
	if n := lingering(fileBytes(t, dbPath(dir)), old); n > 0 {
		t.Fatalf("%d format-1 keys left after the compaction", n)
	}
	if c := contents(t, dbPath(dir)); c["meta"][string(compactKey)] != "" {
		t.Fatal("the compaction flag is still set")
	}
}

// upgradeChild opens (and so upgrades) the database and says so.
func upgradeChild() {
	s, err := Open(Config{Dir: os.Getenv("PARLEY_STORE_DIR"), Key: keyA, LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	s.Close()
	fmt.Println("upgraded")
}

// TestUpgradeCrash kills an upgrading child with SIGKILL at random moments
// of its upgrade: the file is then format 1 exactly as it was, or format
// 2 whole (compacted or about to be), never a mix; the next Open finishes
// the job and leaves no format-1 key and no temporary file.
func TestUpgradeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop skipped in -short")
	}
	fixture := contents(t, filepath.Join(fixtureDir, "v1.db"))
	old := format1Keys(fixture)
	run := func(dir string, kill time.Duration) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := childCmd(ctx, "upgrade", dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		timer := time.NewTimer(kill)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out.String())
			}
			return false
		case <-timer.C:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return true
		}
	}
	start := time.Now()
	run(copyFixture(t, "v1.db"), time.Minute)
	whole := time.Since(start)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	states := map[string]int{}
	for round := range 16 {
		dir := copyFixture(t, "v1.db")
		// The first third or so is the process starting: kill later.
		killed := run(dir, whole/3+time.Duration(rng.Int64N(int64(whole*2/3))))
		c := contents(t, dbPath(dir))
		var state string
		switch {
		case c["meta"][string(formatKey)] == "":
			state = "format 1"
			if fmt.Sprint(c) != fmt.Sprint(fixture) {
				t.Fatalf("round %d: format 1, but not the file it was", round)
			}
		case c["meta"][string(formatKey)] == string(formatValue(2)):
			state = "format 2"
			if c["meta"][string(compactKey)] != "" {
				state += ", compaction pending"
			}
			if len(c["sessions"]) != 0 || len(c["bans"]) != 2 || len(c["reports"]) != 11 {
				t.Fatalf("round %d: format 2 with %d sessions, %d bans, %d reports", round, len(c["sessions"]), len(c["bans"]), len(c["reports"]))
			}
			for k := range c["reports"] {
				if len(k) != banKeySize+tagSize {
					t.Fatalf("round %d: a report key of %d bytes in format 2", round, len(k))
				}
			}
		default:
			t.Fatalf("round %d: format record %x", round, c["meta"][string(formatKey)])
		}
		if !killed {
			state = "finished"
		}
		states[state]++

		s, err := Open(testConfig(dir, newClock(t0)))
		if err != nil {
			t.Fatalf("round %d (%s): reopening: %v", round, state, err)
		}
		checkDB(t, s)
		_, banned, err := s.Banned(t0, fxBanned4)
		s.Close()
		if err != nil || !banned {
			t.Fatalf("round %d (%s): the ban is gone: %v", round, state, err)
		}
		if n := lingering(fileBytes(t, dbPath(dir)), old); n > 0 {
			t.Fatalf("round %d (%s): %d format-1 keys left", round, state, n)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(m) > 0 {
			t.Fatalf("round %d (%s): temporary files left: %v", round, state, m)
		}
	}
	t.Logf("a whole upgrade in a child takes %v; states after kill -9: %v", whole.Round(time.Millisecond), states)
}

// TestFixtureIsWhatTheTestsSay: the fixture's bans are format 1's HMACs of
// the prefixes these tests name, so a regenerated fixture that drifted
// from gen.go.txt fails here first.
func TestFixtureIsWhatTheTestsSay(t *testing.T) {
	c := contents(t, filepath.Join(fixtureDir, "v1.db"))
	master, _ := parseKey(keyA)
	ks := newKeyset(master)
	for _, a := range []netip.Addr{fxBanned4, fxBanned6} {
		if _, ok := c["bans"][string(ks.prefixHash(prefix.Of(a)))]; !ok {
			t.Errorf("no format-1 ban of %v in the fixture", a)
		}
	}
	for _, r := range []string{"192.0.2.1", "192.0.2.2"} {
		k := string(ks.prefixHash(prefix.Of(fxTwice4))) + string(ks.prefixHash(prefix.Of(addr(r))))
		if _, ok := c["reports"][k]; !ok {
			t.Errorf("no format-1 report of %v by %s in the fixture", fxTwice4, r)
		}
	}
}

// TestFormatRecordStopsFormat1Code: format-1 code takes every meta key
// starting with "check" for a key check record of exactly that prefix and
// a key id, and refuses to open a database with any other (checked by hand
// against 9b7f98c: "malformed key check record"). The format record's key
// is such a key, so an older parley refuses an upgraded file instead of
// running with bans it cannot find.
func TestFormatRecordStopsFormat1Code(t *testing.T) {
	if !bytes.HasPrefix(formatKey, checkPrefix) || len(formatKey) == len(checkPrefix)+keyIDSize {
		t.Fatalf("format key %q: format-1 code would not refuse it", formatKey)
	}
	s, _ := newStore(t)
	dir := s.cfg.Dir
	s.Close()
	if c := contents(t, dbPath(dir)); c["meta"][string(formatKey)] != string(formatValue(FormatVersion)) {
		t.Fatal("a new database has no format record")
	}
}

// A format-1 record that fails to open moves to its format-2 key as it
// is: still failing, still reported, and still refusing its address (fail
// closed), while the rest upgrades.
func TestUpgradeCarriesCorruptRecords(t *testing.T) {
	dir := copyFixture(t, "v1.db")
	master, _ := parseKey(keyA)
	bad := newKeyset(master).prefixHash(prefix.Of(fxBanned6))
	raw(t, dir, func(tx *bolt.Tx) error {
		edit(tx, bucketBans, bad, flip(-1))
		return nil
	})
	s := openT(t, testConfig(dir, newClock(t0)))
	if _, _, err := s.Banned(t0, fxBanned6); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the address of the corrupt ban: %v, want ErrCorrupt", err)
	}
	if _, banned, err := s.Banned(t0, fxBanned4); err != nil || !banned {
		t.Fatalf("the sound ban: banned=%v err=%v", banned, err)
	}
	bans, err := s.Bans(t0)
	if !errors.Is(err, ErrCorrupt) || len(bans) != 1 {
		t.Fatalf("Bans: %d %v, want the sound one and ErrCorrupt", len(bans), err)
	}
	if s.Stats().Corrupt == 0 {
		t.Fatal("Stats.Corrupt did not count it")
	}
}
