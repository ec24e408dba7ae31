package turn

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// The allocation over each limit gets 486, and the count falls back when an
// allocation ends: the next one succeeds.
func TestQuotas(t *testing.T) {
	tests := []struct {
		name    string
		limit   func(*Config)
		session func(i int) string
	}{
		{"per session", func(c *Config) { c.MaxPerSession = 2 }, func(int) string { return "same" }},
		{"per prefix", func(c *Config) { c.MaxPerPrefix = 2 }, func(i int) string { return fmt.Sprint("s", i) }},
		{"total", func(c *Config) { c.MaxTotal = 2 }, func(i int) string { return fmt.Sprint("s", i) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.limit)
			client := func(i int) *turnClient { return ts.sessionClient(t, ts.live(tt.session(i))) }
			first, second := client(0), client(1)
			first.mustAllocate(t)
			second.mustAllocate(t)
			if err := client(2).allocate(); stunCode(err) != 486 {
				t.Fatalf("third allocation: %v, want 486", err)
			}
			if err := first.relay.Close(); err != nil { // refresh with lifetime 0
				t.Fatal(err)
			}
			first.relay = nil
			eventually(t, "the count to fall", func() bool { return ts.Stats().Allocations == 1 })
			client(3).mustAllocate(t)
			st := ts.Stats()
			if st.Allocations != 2 || st.AllocationsTotal != 3 || st.Refused.Quota != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// A reservation whose allocation never comes (no relay port was free) stops
// holding a slot after reserveFor.
func TestQuotaReservationExpires(t *testing.T) {
	q := newQuotas(1, 10, 10)
	p := netip.MustParsePrefix("203.0.113.0/32")
	now := time.Unix(1_700_000_000, 0)
	if kind := q.reserve(now, "a", p); kind != "" {
		t.Fatal(kind)
	}
	if kind := q.reserve(now.Add(time.Second), "a", p); kind != "session" {
		t.Fatalf("second reservation: %q, want session", kind)
	}
	if kind := q.reserve(now.Add(reserveFor), "a", p); kind != "" {
		t.Fatalf("after expiry: %q", kind)
	}
	q.created("a", p)
	if kind := q.reserve(now.Add(reserveFor), "a", p); kind != "session" {
		t.Fatalf("with a live allocation: %q, want session", kind)
	}
	q.deleted("a", p)
	if q.current() != 0 || len(q.bySession) != 0 || len(q.byPrefix) != 0 {
		t.Errorf("counts left: %d %v %v", q.current(), q.bySession, q.byPrefix)
	}
}
