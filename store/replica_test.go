package store

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// A store that replicates hands every change to another, which then has
// the same sessions (opened with the same token), reports and bans, and
// refuses a banned address at once; deletions travel too. What travels is
// sealed: no name, no address in any op.
func TestReplicationKeepsACopy(t *testing.T) {
	clk := newClock(t0)
	a := openT(t, testConfig(t.TempDir(), clk))
	b := openT(t, testConfig(t.TempDir(), clk))
	var mu sync.Mutex
	var seen [][]byte
	done := make(chan struct{}, 64)
	a.Replicate(func(ops []Op) error {
		mu.Lock()
		for _, op := range ops {
			seen = append(seen, op.Value)
		}
		mu.Unlock()
		defer func() { done <- struct{}{} }()
		return b.Apply(ops)
	})
	put(t, a, "s", &Session{ID: testID("s"), Name: "Replicated-Name", Created: t0, LastSeen: t0})
	for _, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, _, err := a.Report(t0, addr("198.51.100.9"), Reporter{Addr: addr(r)}, "spam"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, done, func() bool {
		_, banned, _ := b.Banned(t0, addr("198.51.100.9"))
		s, err := b.GetSession(skey(b, "s"))
		return banned && err == nil && s.Name == "Replicated-Name"
	})
	if err := a.DeleteSession(skey(a, "s")); err != nil {
		t.Fatal(err)
	}
	bans, _ := a.Bans(t0)
	if err := a.LiftBan(bans[0].Key); err != nil {
		t.Fatal(err)
	}
	eventually(t, done, func() bool {
		_, banned, _ := b.Banned(t0, addr("198.51.100.9"))
		_, err := b.GetSession(skey(b, "s"))
		return !banned && errors.Is(err, ErrNotFound)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, v := range seen {
		for _, s := range []string{"Replicated-Name", "198.51.100.9", "192.0.2.1"} {
			if bytes.Contains(v, []byte(s)) {
				t.Fatalf("%q travelled in the clear", s)
			}
		}
	}
	a.StopReplicating()
}

// A node that starts to replicate hands on what it already holds, and a
// failed send is tried again.
func TestReplicationCatchesUpAndRetries(t *testing.T) {
	clk := newClock(t0)
	a := openT(t, testConfig(t.TempDir(), clk))
	b := openT(t, testConfig(t.TempDir(), clk))
	put(t, a, "before", testSession("before", t0))
	fail := 2
	done := make(chan struct{}, 64)
	a.Replicate(func(ops []Op) error {
		defer func() { done <- struct{}{} }()
		if fail > 0 {
			fail--
			return errors.New("no quorum")
		}
		return b.Apply(ops)
	})
	eventually(t, done, func() bool {
		_, err := b.GetSession(skey(b, "before"))
		return err == nil
	})
	a.StopReplicating()
}

// Apply refuses what is not a sealed record of a replicated bucket.
func TestApplyRefusesWhatIsNotARecord(t *testing.T) {
	s, _ := newStore(t)
	for _, op := range []Op{
		{Bucket: "meta", Key: []byte("check"), Value: []byte("x")},
		{Bucket: "sessions", Key: []byte("k"), Value: []byte("not sealed")},
		{Bucket: "sessions", Key: nil},
	} {
		if err := s.Apply([]Op{op}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%+v: %v, want ErrCorrupt", op, err)
		}
	}
}

// eventually waits on tick (a replication round) until ok.
func eventually(t *testing.T, tick <-chan struct{}, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case <-tick:
		case <-deadline:
			t.Fatal("the copy never caught up")
		}
	}
}
