package store

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSessionRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	token := "Zm9vYmFyYmF6cXV4cXV1dXU"
	id := s.SessionID(token)
	if len(id) != 64 || strings.ToLower(id) != id {
		t.Fatalf("SessionID = %q, want 64 lower-case hex digits", id)
	}
	if id == s.SessionID(token+"x") {
		t.Fatal("two tokens, one ID")
	}
	want := &Session{
		ID: id, Name: "Ann", Mode: "interests", Media: "video", Interests: []string{"chess", "go"},
		HideIP: true, Pair: "p1", Partner: testID("other"), Role: "offerer", Statement: "st-1",
		Avoid: []string{testID("x")}, Met: map[string]int{testID("y"): 2},
		Created: t0.Add(-time.Minute), LastSeen: t0,
	}
	if err := s.PutSession(want); err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (*Session, error){
		"GetSession":    func() (*Session, error) { return s.GetSession(id) },
		"LookupSession": func() (*Session, error) { return s.LookupSession(token) },
	} {
		t.Run(name, func(t *testing.T) {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
	all, err := s.Sessions()
	if err != nil || len(all) != 1 || all[0].ID != id {
		t.Fatalf("Sessions = %v, %v", all, err)
	}
	if err := s.DeleteSession(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(id); err != nil {
		t.Fatalf("deleting an absent session: %v", err)
	}
	if _, err := s.LookupSession(token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
}

func TestSessionExpiryHidesRecord(t *testing.T) {
	s, clk := newStore(t)
	sess := testSession("a", t0)
	if err := s.PutSession(sess); err != nil {
		t.Fatal(err)
	}
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
			_, err := s.GetSession(sess.ID)
			if tt.found != (err == nil) {
				t.Fatalf("GetSession at %v: %v, want found=%v", tt.at, err, tt.found)
			}
			all, err := s.Sessions()
			if err != nil || tt.found != (len(all) == 1) {
				t.Fatalf("Sessions at %v: %d, %v", tt.at, len(all), err)
			}
		})
	}
}

func TestSessionValidation(t *testing.T) {
	s, _ := newStore(t)
	tests := []struct {
		name string
		sess *Session
		want error
	}{
		{"nil", nil, ErrBadSession},
		{"empty id", &Session{LastSeen: t0}, ErrBadID},
		{"short id", &Session{ID: "abc", LastSeen: t0}, ErrBadID},
		{"upper-case id", &Session{ID: strings.ToUpper(testID("a")), LastSeen: t0}, ErrBadID},
		{"token as id", &Session{ID: "Zm9vYmFyYmF6cXV4cXV1dXU", LastSeen: t0}, ErrBadID},
		{"zero LastSeen", &Session{ID: testID("a")}, ErrBadTime},
		{"pre-1970 LastSeen", &Session{ID: testID("a"), LastSeen: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrBadTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutSession(tt.sess); !errors.Is(err, tt.want) {
				t.Fatalf("PutSession: %v, want %v", err, tt.want)
			}
		})
	}
	for _, id := range []string{"", "xyz", strings.Repeat("g", 64)} {
		if _, err := s.GetSession(id); !errors.Is(err, ErrBadID) {
			t.Fatalf("GetSession(%q): %v", id, err)
		}
		if err := s.DeleteSession(id); !errors.Is(err, ErrBadID) {
			t.Fatalf("DeleteSession(%q): %v", id, err)
		}
	}
	if _, err := s.LookupSession(""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupSession(\"\"): %v", err)
	}
}

// PutSession replaces the record and its index entry: one entry per record.
func TestPutSessionMovesIndexEntry(t *testing.T) {
	s, _ := newStore(t)
	sess := testSession("a", t0)
	for i := range 5 {
		sess.LastSeen = t0.Add(time.Duration(i) * time.Minute)
		if err := s.PutSession(sess); err != nil {
			t.Fatal(err)
		}
	}
	entries := indexEntries(t, s)
	if len(entries) != 1 || entries[0] != indexString(t0.Add(4*time.Minute+time.Hour), bucketSessions, mustKey(t, sess.ID)) {
		t.Fatalf("index = %v", entries)
	}
}

func TestPingCloseAndClosedErrors(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Ping(); err != nil {
		t.Fatalf("Ping while open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	id := testID("a")
	calls := map[string]error{
		"Ping":          s.Ping(),
		"PutSession":    s.PutSession(testSession("a", t0)),
		"DeleteSession": s.DeleteSession(id),
		"LiftBan":       s.LiftBan(strings.Repeat("0", 64)),
	}
	_, calls["GetSession"] = s.GetSession(id)
	_, calls["LookupSession"] = s.LookupSession("tok")
	_, calls["Sessions"] = s.Sessions()
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
				sess := testSession(string(rune('a'+g))+string(rune('a'+i)), t0)
				if err := s.PutSession(sess); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.GetSession(sess.ID); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if err := s.DeleteSession(sess.ID); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	all, err := s.Sessions()
	if err != nil || len(all) != 8*16 {
		t.Fatalf("Sessions: %d, %v; want %d", len(all), err, 8*16)
	}
	if st := s.Stats(); st.Writes != 8*24 || st.WriteErrors != 0 || st.WriteTime <= 0 || st.WriteTimeMax <= 0 {
		t.Fatalf("Stats = %+v", st)
	}
	checkDB(t, s)
}
