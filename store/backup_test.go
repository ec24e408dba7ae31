package store

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backupOf takes a backup of s into memory.
func backupOf(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes, %v (buffer %d)", n, err, buf.Len())
	}
	return buf.Bytes()
}

// TestBackupRestoreRoundTrip: bans, reports and sessions survive a backup
// restored on a fresh data dir with the same key.
func TestBackupRestoreRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	banPrefix(t, s, t0, addr("198.51.100.1"))
	banPrefix(t, s, t0, addr("2001:db8:5:10::1"))
	banPrefix(t, s, t0, addr("2001:db8:5:11::1")) // and the /56
	twice := addr("198.51.100.3")
	for _, r := range []string{"192.0.2.1", "192.0.2.2"} {
		if _, _, err := s.Report(t0, twice, Reporter{Addr: addr(r)}, "spam"); err != nil {
			t.Fatal(err)
		}
	}
	sess := testSession("kept", t0)
	put(t, s, "kept", sess)
	b := backupOf(t, s)

	fresh := filepath.Join(t.TempDir(), "new-data")
	if n, err := Restore(Config{Dir: fresh, Key: keyA}, bytes.NewReader(b)); err != nil || n != int64(len(b)) {
		t.Fatalf("Restore: %d %v", n, err)
	}
	if fi, err := os.Stat(dbPath(fresh)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", fi, err)
	}
	r := openT(t, testConfig(fresh, newClock(t0)))
	for _, a := range []string{"198.51.100.1", "2001:db8:5:10::1", "2001:db8:5:ff::1"} {
		if _, banned, err := r.Banned(t0, addr(a)); err != nil || !banned {
			t.Errorf("%s after the restore: banned=%v err=%v", a, banned, err)
		}
	}
	if _, banned, _ := r.Report(t0, twice, Reporter{Addr: addr("192.0.2.1")}, "spam"); banned {
		t.Error("a reporter's report from before the backup counted again")
	}
	if _, banned, err := r.Report(t0, twice, Reporter{Addr: addr("192.0.2.3")}, "spam"); err != nil || !banned {
		t.Errorf("the third reporter after the restore: banned=%v err=%v", banned, err)
	}
	if got, err := r.GetSession(skey(r, "kept")); err != nil || got.Name != sess.Name {
		t.Errorf("session after the restore: %v", err)
	}
	checkDB(t, r)
}

// TestBackupWithoutItsKey: a backup holds no plaintext, and with another
// key it restores nothing and opens nothing.
func TestBackupWithoutItsKey(t *testing.T) {
	c := canaries{
		name: "Backup-Canary-Name-7Qx", interest: "backupcanaryinterest", token: "BackupCanaryTokenW9z",
		v4: addr("203.0.113.78"), v6: addr("2001:db8:cafe:f00d:1:2:3:4"), reporter: addr("2001:db8:feed:beef::5"),
	}
	s, _ := newStore(t)
	k := s.SessionKey(c.token)
	sess := &Session{ID: testID("canary"), Name: c.name, Interests: []string{c.interest}, Created: t0, LastSeen: t0}
	if err := s.PutSession(k, sess); err != nil {
		t.Fatal(err)
	}
	for _, target := range []netip.Addr{c.v4, c.v6} {
		for _, r := range []netip.Addr{c.reporter, addr("192.0.2.1"), addr("192.0.2.2")} {
			if _, _, err := s.Report(t0, target, Reporter{Addr: r}, "abuse"); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := backupOf(t, s)
	if !bytes.Contains(b, k.variants[0].key) {
		t.Fatal("the session's key is not in the backup: this test reads the wrong bytes")
	}
	if found := findCanaries(c, b); len(found) > 0 {
		t.Fatalf("plaintext in the backup: %v", found)
	}

	fresh := t.TempDir()
	if _, err := Restore(Config{Dir: fresh, Key: keyB}, bytes.NewReader(b)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Restore with another key: %v, want ErrWrongKey", err)
	}
	if _, err := os.Stat(dbPath(fresh)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left a database: %v", err)
	}
	// Put in place by hand, it does not open either.
	if err := os.WriteFile(dbPath(fresh), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: fresh, Key: keyB}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
}

// TestBackupWhileWriting: backups taken while sessions, reports and bans
// are written open, pass bbolt's consistency check and restore.
func TestBackupWhileWriting(t *testing.T) {
	s, _ := newStore(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	progress := make(chan struct{}, 64)
	for g := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				label := fmt.Sprintf("g%d-%d", g, i)
				if err := s.PutSession(skey(s, label), testSession(label, t0)); err != nil {
					t.Error(err)
					return
				}
				target := netip.AddrFrom4([4]byte{198, 51, byte(g), byte(i % 8)}) // a few targets: their keys are cached
				if _, _, err := s.Report(t0, target, Reporter{Addr: netip.AddrFrom4([4]byte{192, 0, byte(i % 8), byte(i)})}, "spam"); err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	dir := t.TempDir()
	for i := range 5 {
		for range 20 { // writes go on between backups, and during them
			select {
			case <-progress:
			case <-time.After(10 * time.Second):
				t.Fatal("the writers stopped")
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Backup(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatalf("backup %d does not open: %v", i, err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
		db.Close()
		if err != nil {
			t.Fatalf("backup %d: tx.Check: %v", i, err)
		}
		into := filepath.Join(dir, fmt.Sprintf("restored-%d", i))
		in, _ := os.Open(path)
		_, err = Restore(Config{Dir: into, Key: keyA}, in)
		in.Close()
		if err != nil {
			t.Fatalf("backup %d: Restore: %v", i, err)
		}
		r := openT(t, Config{Dir: into, Key: keyA, Clock: newClock(t0).Now})
		if n := count(t, r, bucketSessions); n == 0 {
			t.Fatalf("backup %d holds no session", i)
		}
		r.Close()
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d writes went on during 5 backups", writes.Load())
}

// TestRestoreRefusals: nothing is replaced unless the backup is sound, of
// a known format, opened by the key, and no process holds the database.
func TestRestoreRefusals(t *testing.T) {
	s, _ := newStore(t)
	banPrefix(t, s, t0, addr("198.51.100.1"))
	good := backupOf(t, s)
	s.Close()
	future := t.TempDir()
	if err := os.WriteFile(dbPath(future), good, 0o600); err != nil {
		t.Fatal(err)
	}
	raw(t, future, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(formatKey, formatValue(FormatVersion+1)) })
	empty := filepath.Join(t.TempDir(), "empty.db")
	if db, err := bolt.Open(empty, 0o600, nil); err == nil {
		db.Close()
	}
	tests := []struct {
		name   string
		backup []byte
		cfg    func(*Config)
		want   error
	}{
		{"garbage", bytes.Repeat([]byte("not a database "), 1000), nil, ErrBadBackup},
		{"nothing", nil, nil, ErrBadBackup},
		{"truncated", good[:len(good)/2], nil, ErrBadBackup},
		{"an empty bbolt file", fileBytes(t, empty), nil, ErrBadBackup},
		{"a newer format", fileBytes(t, dbPath(future)), nil, ErrFutureFormat},
		{"another key", good, func(c *Config) { c.Key = keyB }, ErrWrongKey},
		{"no key at all", good, func(c *Config) { c.Key = "" }, ErrMissingKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, existing := range []bool{false, true} {
				dir := t.TempDir()
				var before []byte
				if existing {
					other := openT(t, testConfig(dir, newClock(t0)))
					other.Close()
					before = fileBytes(t, dbPath(dir))
				}
				cfg := Config{Dir: dir, Key: keyA}
				if tt.cfg != nil {
					tt.cfg(&cfg)
				}
				if _, err := Restore(cfg, bytes.NewReader(tt.backup)); !errors.Is(err, tt.want) {
					t.Fatalf("Restore (existing=%v): %v, want %v", existing, err, tt.want)
				}
				after, err := os.ReadFile(dbPath(dir))
				if existing && !bytes.Equal(after, before) || !existing && !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a refused restore (existing=%v) changed the database", existing)
				}
				if m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(m) > 0 {
					t.Fatalf("temporary files left: %v", m)
				}
			}
		})
	}
	t.Run("a running server", func(t *testing.T) {
		dir := t.TempDir()
		running := openT(t, testConfig(dir, newClock(t0)))
		before := fileBytes(t, dbPath(dir))
		_, err := Restore(Config{Dir: dir, Key: keyA, LockTimeout: 100 * time.Millisecond}, bytes.NewReader(good))
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Restore beside an open store: %v, want ErrLocked", err)
		}
		if !bytes.Equal(fileBytes(t, dbPath(dir)), before) {
			t.Fatal("the refused restore changed the database")
		}
		if err := running.Ping(); err != nil {
			t.Fatal(err)
		}
	})
}

// A format-1 backup restores, and the next Open upgrades it.
func TestRestoreFormat1Backup(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open(filepath.Join(fixtureDir, "v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Restore(Config{Dir: dir, Key: keyA}, f); err != nil {
		t.Fatal(err)
	}
	s := openT(t, testConfig(dir, newClock(t0)))
	if _, banned, err := s.Banned(t0, fxBanned4); err != nil || !banned {
		t.Fatalf("banned=%v err=%v", banned, err)
	}
}

// TestOpenWaitingThroughARestore: a server that starts while a restore
// holds the database waits, then opens the restored file, not the one it
// first opened (which the restore renamed away).
func TestOpenWaitingThroughARestore(t *testing.T) {
	src, _ := newStore(t)
	banPrefix(t, src, t0, addr("198.51.100.1"))
	b := backupOf(t, src)
	dir := t.TempDir()
	first := openT(t, testConfig(dir, newClock(t0))) // a database without the ban
	first.Close()

	unlock, err := lockPath(dbPath(dir), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 1)
	testHookOpened = func() {
		select {
		case opened <- struct{}{}:
		default:
		}
	}
	type result struct {
		s   *Store
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, err := Open(Config{Dir: dir, Key: keyA, LockTimeout: 10 * time.Second})
		res <- result{s, err}
	}()
	<-opened // it holds the old file and waits for its lock
	tmp := filepath.Join(dir, tempPrefix+"test")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dbPath(dir)); err != nil {
		t.Fatal(err)
	}
	unlock(true)
	r := <-res
	testHookOpened = nil
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.s.Close()
	if _, banned, err := r.s.Banned(t0, addr("198.51.100.1")); err != nil || !banned {
		t.Fatalf("the waiting Open kept the old file: banned=%v err=%v", banned, err)
	}
}
