package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Many sessions, swept in several collections and write transactions:
// exactly the due ones go, touched ones stay, none is skipped.
func TestSweepExactlyTheDue(t *testing.T) {
	tests := []struct {
		name           string
		chunk, collect int
	}{
		{"one pass", 256, 16384},
		{"small chunks", 37, 16384},
		{"several collections", 37, 100},
		{"one by one", 1, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStore(t)
			s.sweepChunk, s.sweepCollect = tt.chunk, tt.collect
			const n = 1000
			ids := make([]string, n)
			// Written in one transaction: this test is about sweeping.
			err := s.db.Update(func(tx *bolt.Tx) error {
				for i := range n {
					ids[i] = fmt.Sprint(i)
					if err := putSessionTx(s, tx, fmt.Sprint(i), testSession(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			touched := func(i int) bool { return i%7 == 0 }
			var wg sync.WaitGroup // concurrent, so the touches share batches
			for i := range n {
				if touched(i) { // seen again later: its old index entry is due, the record not
					wg.Go(func() {
						if err := s.PutSession(skey(s, fmt.Sprint(i)), testSession(fmt.Sprint(i), t0.Add(2*time.Hour))); err != nil {
							t.Error(err)
						}
					})
				}
			}
			wg.Wait()
			now := t0.Add(time.Hour + 500*time.Second)
			clk.Set(now)
			due := func(i int) bool { return i <= 500 && !touched(i) }
			want := 0
			for i := range n {
				if due(i) {
					want++
				}
			}
			removed, err := s.Sweep(now)
			if err != nil || removed != want {
				t.Fatalf("Sweep removed %d (%v), want %d", removed, err, want)
			}
			for i, id := range ids {
				var present bool
				s.db.View(func(tx *bolt.Tx) error {
					present = tx.Bucket(bucketSessions).Get(recKey(s, id)) != nil
					return nil
				})
				if present == due(i) {
					t.Fatalf("session %d: present=%v after the sweep", i, present)
				}
			}
			// One index entry per record, at its expiry; nothing due left.
			entries := indexEntries(t, s)
			if len(entries) != n-want {
				t.Fatalf("%d index entries for %d records", len(entries), n-want)
			}
			for _, e := range entries {
				k, _ := hex.DecodeString(e)
				if int64(binary.BigEndian.Uint64(k)) <= now.UnixNano() {
					t.Fatalf("a due index entry is left: %s", e)
				}
			}
			if removed, err := s.Sweep(now); err != nil || removed != 0 {
				t.Fatalf("second sweep removed %d: %v", removed, err)
			}
			if st := s.Stats(); st.Sweeps != 2 || st.Removed != uint64(want) {
				t.Fatalf("Stats = %+v", st)
			}
			checkDB(t, s)
		})
	}
}

// putSessionTx stores a session inside an open write transaction.
func putSessionTx(s *Store, tx *bolt.Tx, label string, sess *Session) error {
	vr := skey(s, label).variants[0]
	exp := sess.LastSeen.Add(s.cfg.SessionTTL).UnixNano()
	plain, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	return putRecord(tx, bucketSessions, vr.key, vr.ks.sealWith(vr.aead, bucketSessions, vr.key, exp, plain), exp)
}

// An index entry whose record went another way is dropped; a touch between
// collection and deletion keeps the record.
func TestSweepOneRaces(t *testing.T) {
	s, _ := newStore(t)
	a, b := testSession("a", t0), testSession("b", t0)
	put(t, s, "a", a)
	put(t, s, "b", b)
	now := t0.Add(time.Hour)
	due, err := s.collectDue(now.UnixNano(), nil)
	if err != nil || len(due) != 2 {
		t.Fatalf("collectDue = %d, %v", len(due), err)
	}
	// After collection: a is touched, b deleted.
	a.LastSeen = now
	put(t, s, "a", a)
	if err := s.DeleteSession(skey(s, "b")); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, ik := range due {
			gone, bad, err := s.sweepOne(tx, ik, now.UnixNano())
			if gone || bad || err != nil {
				return fmt.Errorf("sweepOne: gone=%v bad=%v err=%v", gone, bad, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(skey(s, "a")); err != nil {
		t.Fatalf("the touched session went: %v", err)
	}
	if e := indexEntries(t, s); len(e) != 1 {
		t.Fatalf("index = %v", e)
	}
}

// RunSweeper sweeps on its ticker with the injected clock, and stops with
// its context.
func TestRunSweeper(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(Config{Dir: dir, Key: keyA})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now() // the bubble's fake clock
		for i := range 3 {
			if err := s.PutSession(skey(s, fmt.Sprint(i)), testSession(fmt.Sprint(i), start.Add(time.Duration(i)*10*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			s.RunSweeper(ctx, time.Minute, time.Now)
			close(done)
		}()
		tests := []struct {
			after time.Duration
			left  int
		}{
			{59 * time.Minute, 3},
			{time.Hour + time.Minute, 2},
			{time.Hour + 21*time.Minute, 0},
		}
		for _, tt := range tests {
			time.Sleep(start.Add(tt.after).Sub(time.Now()))
			synctest.Wait()
			if n := count(t, s, bucketSessions); n != tt.left {
				t.Fatalf("after %v: %d sessions, want %d", tt.after, n, tt.left)
			}
		}
		cancel()
		<-done
		if st := s.Stats(); st.Sweeps < 80 || st.Removed != 3 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// The store cannot open a session without its token, so the sweeper goes by
// the header: a due session goes even when its sealed body is damaged, and
// retention holds whatever happened to the record.
func TestSweepRemovesDueSessionsItCannotOpen(t *testing.T) {
	s, _ := newStore(t)
	put(t, s, "a", testSession("a", t0))
	put(t, s, "b", testSession("b", t0))
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		v := bytes.Clone(b.Get(recKey(s, "a")))
		v[len(v)-1] ^= 1
		return b.Put(recKey(s, "a"), v)
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(t0.Add(time.Hour - time.Nanosecond)); err != nil || n != 0 {
		t.Fatalf("early sweep removed %d: %v", n, err)
	}
	if n, err := s.Sweep(t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("Sweep removed %d (%v), want both sessions", n, err)
	}
	if c := count(t, s, bucketSessions); c != 0 {
		t.Fatalf("%d sessions left", c)
	}
}
