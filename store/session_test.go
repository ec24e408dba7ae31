package store

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSessionRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	k := skey(s, "a")
	if len(k.Hex()) != 64 || k.Hex() == skey(s, "b").Hex() {
		t.Fatalf("Hex = %q: want 64 hex digits, one per token", k.Hex())
	}
	want := &Session{
		ID: testID("a"), Name: "Ann", Mode: "interests", Media: "video", Interests: []string{"chess", "go"},
		HideIP: true, Chat: "r1", Peer: "pa", PartnerPeer: "pb", Role: "offerer", Statement: "st-1",
		Avoid: []string{testID("x")}, Met: map[string]int{testID("y"): 2},
		Created: t0.Add(-time.Minute), LastSeen: t0,
	}
	if err := s.PutSession(k, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(k)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if _, err := s.GetSession(skey(s, "b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another token: %v, want ErrNotFound", err)
	}
	if n, err := s.SessionCount(); err != nil || n != 1 {
		t.Fatalf("SessionCount = %d, %v", n, err)
	}
	if err := s.DeleteSession(k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(k); err != nil {
		t.Fatalf("deleting an absent session: %v", err)
	}
}

// The store cannot open a session record without its token: the master key
// alone (a copy of the data dir with its key file) opens nothing. A record
// copied under another session's key does not open either.
func TestSessionOpensOnlyWithItsToken(t *testing.T) {
	s, _ := newStore(t)
	put(t, s, "a", testSession("a", t0))
	put(t, s, "b", testSession("b", t0))
	v := rawValueOpen(t, s, bucketSessions, recKey(s, "a"))
	if _, _, err := s.keys.open(bucketSessions, recKey(s, "a"), v); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the master key opened a session record: %v", err)
	}
	// Move a's sealed value under b's key: it must not open as b.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put(recKey(s, "b"), v) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(skey(s, "b")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a swapped record opened: %v", err)
	}
	if bytes.Contains(v, []byte("name-a")) {
		t.Fatal("a name in the clear")
	}
}

func TestSessionExpiryHidesRecord(t *testing.T) {
	s, clk := newStore(t)
	put(t, s, "a", testSession("a", t0))
	tests := []struct {
		at    time.Time
		found bool
	}{
		{t0, true},
		{t0.Add(time.Hour - time.Nanosecond), true},
		{t0.Add(time.Hour), false}, // gone exactly SessionTTL after LastSeen
		{t0.Add(2 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.at.Sub(t0).String(), func(t *testing.T) {
			clk.Set(tt.at)
			_, err := s.GetSession(skey(s, "a"))
			if tt.found != (err == nil) {
				t.Fatalf("GetSession at %v: %v, want found=%v", tt.at, err, tt.found)
			}
		})
	}
}

func TestSessionValidation(t *testing.T) {
	s, _ := newStore(t)
	tests := []struct {
		name string
		key  SessionKey
		sess *Session
		want error
	}{
		{"nil", skey(s, "a"), nil, ErrBadSession},
		{"no key", SessionKey{}, testSession("a", t0), ErrBadSession},
		{"empty id", skey(s, "a"), &Session{LastSeen: t0}, ErrBadSession},
		{"zero LastSeen", skey(s, "a"), &Session{ID: testID("a")}, ErrBadTime},
		{"pre-1970 LastSeen", skey(s, "a"), &Session{ID: testID("a"), LastSeen: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrBadTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutSession(tt.key, tt.sess); !errors.Is(err, tt.want) {
				t.Fatalf("PutSession: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := s.GetSession(SessionKey{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSession without a key: %v", err)
	}
	if err := s.DeleteSession(SessionKey{}); err != nil {
		t.Fatalf("DeleteSession without a key: %v", err)
	}
}

// PutSession replaces the record and its index entry: one entry per record.
func TestPutSessionMovesIndexEntry(t *testing.T) {
	s, _ := newStore(t)
	sess := testSession("a", t0)
	for i := range 5 {
		sess.LastSeen = t0.Add(time.Duration(i) * time.Minute)
		put(t, s, "a", sess)
	}
	entries := indexEntries(t, s)
	if len(entries) != 1 || entries[0] != indexString(t0.Add(4*time.Minute+time.Hour), bucketSessions, recKey(s, "a")) {
		t.Fatalf("index = %v", entries)
	}
}

func TestPingCloseAndClosedErrors(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Ping(); err != nil {
		t.Fatalf("Ping while open: %v", err)
	}
	k := skey(s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]error{
		"Ping":          s.Ping(),
		"PutSession":    s.PutSession(k, testSession("a", t0)),
		"DeleteSession": s.DeleteSession(k),
		"LiftBan":       s.LiftBan(strings.Repeat("0", 64)),
	}
	_, calls["GetSession"] = s.GetSession(k)
	_, calls["SessionCount"] = s.SessionCount()
	_, _, calls["Report"] = s.Report(t0, addr("192.0.2.1"), Reporter{Addr: addr("192.0.2.2")}, "spam")
	_, _, calls["Banned"] = s.Banned(t0, addr("192.0.2.1"))
	_, calls["Bans"] = s.Bans(t0)
	_, calls["Sweep"] = s.Sweep(t0)
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// Concurrent writers and readers through the shared batches, for -race.
func TestConcurrentUse(t *testing.T) {
	s, _ := newStore(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				label := string(rune('a'+g)) + string(rune('a'+i))
				k := skey(s, label)
				if err := s.PutSession(k, testSession(label, t0)); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.GetSession(k); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if err := s.DeleteSession(k); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if n, err := s.SessionCount(); err != nil || n != 8*16 {
		t.Fatalf("SessionCount: %d, %v; want %d", n, err, 8*16)
	}
	if st := s.Stats(); st.Writes != 8*24 || st.WriteErrors != 0 || st.WriteTime <= 0 || st.WriteTimeMax <= 0 {
		t.Fatalf("Stats = %+v", st)
	}
	checkDB(t, s)
}

// rawValueOpen copies a stored value out of an open store.
func rawValueOpen(t testing.TB, s *Store, bucket, key []byte) []byte {
	t.Helper()
	var v []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	}); err != nil || v == nil {
		t.Fatalf("no value: %v", err)
	}
	return v
}
