package store

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fixture is a closed database with two sessions, two bans and a report.
type fixture struct {
	dir              string
	a, b             *Session
	t1, t2, t3       netip.Addr
	ban1, ban2, rep3 []byte // bucket keys
	ka, kb           []byte // bucket keys of the sessions a and b
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	fx := fixture{dir: t.TempDir(), a: testSession("a", t0), b: testSession("b", t0),
		t1: addr("198.51.100.1"), t2: addr("198.51.100.2"), t3: addr("198.51.100.3")}
	s, err := Open(testConfig(fx.dir, newClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fx.ka, fx.kb = recKey(s, "a"), recKey(s, "b")
	put(t, s, "a", fx.a)
	put(t, s, "b", fx.b)
	for _, target := range []netip.Addr{fx.t1, fx.t2} {
		for _, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			if _, _, err := s.Report(t0, target, Reporter{Addr: addr(r)}, "abuse"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := s.Report(t0, fx.t3, Reporter{Addr: addr("192.0.2.1")}, "spam"); err != nil {
		t.Fatal(err)
	}
	fx.ban1, fx.ban2 = banKeyOf(s, fx.t1), banKeyOf(s, fx.t2)
	fx.rep3 = reportKey(s, fx.t3, addr("192.0.2.1"))
	return fx
}

// place is where a record lives.
type place struct{ bucket, key []byte }

func flip(i int) func(v []byte) []byte {
	return func(v []byte) []byte {
		v = bytes.Clone(v)
		if i < 0 {
			i += len(v)
		}
		v[i] ^= 0x10
		return v
	}
}

func isCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: %v, want ErrCorrupt", what, err)
	}
}

// stored returns the value at bucket/key in an open store.
func stored(s *Store, bucket, key []byte) []byte {
	var v []byte
	s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	})
	return v
}

func TestTamperedRecords(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(fx fixture, tx *bolt.Tx) place // returns where the bad value now is
		check  func(t *testing.T, fx fixture, s *Store)
	}{
		{
			name: "flipped bit in a session's ciphertext",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				return edit(tx, bucketSessions, fx.ka, flip(-1))
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, err := s.GetSession(skey(s, "a"))
				isCorrupt(t, "GetSession", err)
				if _, err := s.GetSession(skey(s, "b")); err != nil {
					t.Fatalf("the good one: %v", err)
				}
				isCorrupt(t, "PutSession over it", s.PutSession(skey(s, "a"), fx.a))
			},
		},
		{
			name: "flipped bit in a session's expiry",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				return edit(tx, bucketSessions, fx.ka, flip(headerSize-1))
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, err := s.GetSession(skey(s, "a"))
				isCorrupt(t, "GetSession", err)
				isCorrupt(t, "PutSession over it", s.PutSession(skey(s, "a"), fx.a))
			},
		},
		{
			name: "flipped bit in a session's key id",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				return edit(tx, bucketSessions, fx.ka, flip(1))
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, err := s.GetSession(skey(s, "a"))
				isCorrupt(t, "GetSession", err)
			},
		},
		{
			name: "truncated session",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				return edit(tx, bucketSessions, fx.ka, func(v []byte) []byte { return bytes.Clone(v[:minSealed-1]) })
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, err := s.GetSession(skey(s, "a"))
				isCorrupt(t, "GetSession", err)
				isCorrupt(t, "PutSession over it", s.PutSession(skey(s, "a"), fx.a))
			},
		},
		{
			name: "session moved under another session's key",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				b := tx.Bucket(bucketSessions)
				b.Put(fx.kb, bytes.Clone(b.Get(fx.ka)))
				return place{bucketSessions, fx.kb}
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, err := s.GetSession(skey(s, "b"))
				isCorrupt(t, "GetSession of the moved one", err)
				if _, err := s.GetSession(skey(s, "a")); err != nil {
					t.Fatalf("the original: %v", err)
				}
			},
		},
		{
			name: "ban moved under another ban's key",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				b := tx.Bucket(bucketBans)
				b.Put(fx.ban2, bytes.Clone(b.Get(fx.ban1)))
				return place{bucketBans, fx.ban2}
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				_, _, err := s.Banned(t0, fx.t2)
				isCorrupt(t, "Banned", err)
				if _, banned, err := s.Banned(t0, fx.t1); err != nil || !banned {
					t.Fatalf("the original ban: %v %v", banned, err)
				}
				bans, err := s.Bans(t0)
				isCorrupt(t, "Bans", err)
				if len(bans) != 1 {
					t.Fatalf("Bans kept %d, want 1", len(bans))
				}
				_, _, err = s.Report(t0, fx.t2, Reporter{Addr: addr("192.0.2.9")}, "spam")
				isCorrupt(t, "Report against the target", err)
			},
		},
		{
			name: "session moved into the bans bucket",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				k := fx.ka
				tx.Bucket(bucketBans).Put(k, bytes.Clone(tx.Bucket(bucketSessions).Get(k)))
				return place{bucketBans, k}
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				bans, err := s.Bans(t0)
				isCorrupt(t, "Bans", err)
				if len(bans) != 2 {
					t.Fatalf("Bans kept %d, want 2", len(bans))
				}
			},
		},
		{
			name: "flipped bit in a report",
			tamper: func(fx fixture, tx *bolt.Tx) place {
				return edit(tx, bucketReports, fx.rep3, flip(headerSize+nonceSize))
			},
			check: func(t *testing.T, fx fixture, s *Store) {
				n := count(t, s, bucketReports)
				_, _, err := s.Report(t0, fx.t3, Reporter{Addr: addr("192.0.2.8")}, "spam")
				isCorrupt(t, "Report against the target", err)
				if count(t, s, bucketReports) != n {
					t.Fatal("a report was stored beside a corrupt one")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			var at place
			var bad []byte
			raw(t, fx.dir, func(tx *bolt.Tx) error {
				at = tt.tamper(fx, tx)
				bad = bytes.Clone(tx.Bucket(at.bucket).Get(at.key))
				return nil
			})
			s := openT(t, testConfig(fx.dir, newClock(t0)))
			tt.check(t, fx, s)
			if !bytes.Equal(stored(s, at.bucket, at.key), bad) {
				t.Fatal("the record that failed to open was changed")
			}
			if s.Stats().Corrupt == 0 {
				t.Fatal("Stats.Corrupt did not count it")
			}
			checkDB(t, s)
		})
	}
}

// edit replaces the value at bucket/key with change(value).
func edit(tx *bolt.Tx, bucket, key []byte, change func([]byte) []byte) place {
	b := tx.Bucket(bucket)
	if err := b.Put(key, change(b.Get(key))); err != nil {
		panic(err)
	}
	return place{bucket, key}
}

// keyACheck is the meta key of keyA's key check record.
func keyACheck(t *testing.T) []byte {
	m, err := parseKey(keyA)
	if err != nil {
		t.Fatal(err)
	}
	return checkKey(newKeyset(m).id)
}

// A damaged or removed key check makes Open refuse, writing nothing.
func TestTamperedKeyCheck(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(tx *bolt.Tx)
		want   error
	}{
		{"flipped bit", func(tx *bolt.Tx) {
			k := keyACheck(t)
			tx.Bucket(bucketMeta).Put(k, flip(-1)(tx.Bucket(bucketMeta).Get(k)))
		}, ErrWrongKey},
		{"removed while records exist", func(tx *bolt.Tx) {
			tx.Bucket(bucketMeta).Delete(keyACheck(t))
		}, ErrCorrupt},
		{"malformed key", func(tx *bolt.Tx) {
			tx.Bucket(bucketMeta).Put([]byte("checkX"), []byte("x"))
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			raw(t, fx.dir, func(tx *bolt.Tx) error { tt.tamper(tx); return nil })
			before := fileBytes(t, dbPath(fx.dir))
			if _, err := Open(testConfig(fx.dir, newClock(t0))); !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			if !bytes.Equal(before, fileBytes(t, dbPath(fx.dir))) {
				t.Fatal("the refused open changed the file")
			}
		})
	}
}
