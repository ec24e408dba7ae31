package turn

import (
	"fmt"
	"log/slog"
	"net"
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
	q := newQuotas(1, 10, 10, 10)
	p := netip.MustParseAddr("203.0.113.0")
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
	if q.current() != 0 || len(q.bySession) != 0 || len(q.byPrefix) != 0 || len(q.byNetwork) != 0 {
		t.Errorf("counts left: %d %v %v %v", q.current(), q.bySession, q.byPrefix, q.byNetwork)
	}
}

// clientFrom opens a client over UDP from the loopback address from, with a
// fresh session of its own.
func (ts *testServer) clientFrom(t *testing.T, from, session string) *turnClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(from, "0"))
	if err != nil {
		t.Fatal(err)
	}
	user, pass := ts.Credentials(ts.live(session), time.Now())
	ts.secrets = append(ts.secrets, pass)
	return startClient(t, ts.UDPAddr().String(), conn, user, pass)
}

// Issue 10, point 4: 256 addresses of one network took all 4,096
// allocations and a newcomer got 486. Scaled down (128 in all, 4 per
// address): an attacker with as many addresses as it likes in one /24 gets
// that network's share and no more, and an attacker with many networks
// stops at the reserve; a newcomer from another network allocates either
// way.
func TestRelayQuotaExhaustion(t *testing.T) {
	take := func(t *testing.T, ts *testServer, addrs []string) (got int) {
		t.Helper()
		for i, a := range addrs {
			for j := range 5 { // one more than the per-address cap
				if err := ts.clientFrom(t, a, fmt.Sprintf("attacker-%d-%d", i, j)).allocate(); err != nil {
					if stunCode(err) != 486 {
						t.Fatalf("allocation from %s: %v", a, err)
					}
					break
				}
				got++
			}
		}
		return got
	}
	limits := func(c *Config) {
		c.MaxTotal, c.MaxPerPrefix, c.MaxPerSession = 128, 4, 2
		// pion draws a relay port at random and gives up (508) after a few
		// taken ones: 128 allocations need far more than 200 ports.
		c.RelayPortMin, c.RelayPortMax = 10000, 29999
	}

	t.Run("one network", func(t *testing.T) {
		ts := newTestServer(t, limits)
		var addrs []string
		for i := 1; i <= 40; i++ {
			addrs = append(addrs, fmt.Sprintf("127.0.1.%d", i))
		}
		got := take(t, ts, addrs)
		if got > 128/16 {
			t.Errorf("one /24 took %d allocations, want at most %d (its share)", got, 128/16)
		}
		ts.clientFrom(t, "127.0.2.9", "newcomer").mustAllocate(t)
	})
	t.Run("many networks", func(t *testing.T) {
		ts := newTestServer(t, limits)
		var addrs []string
		for n := 1; n <= 24; n++ {
			addrs = append(addrs, fmt.Sprintf("127.1.%d.1", n), fmt.Sprintf("127.1.%d.2", n))
		}
		got := take(t, ts, addrs)
		if got >= 128 {
			t.Errorf("the attacker took all %d allocations", got)
		}
		for i, a := range []string{"127.2.0.1", "127.2.0.1", "127.3.0.1"} {
			ts.clientFrom(t, a, fmt.Sprint("newcomer-", i)).mustAllocate(t)
		}
		if ts.Stats().Refused.Quota == 0 {
			t.Error("no refusal counted")
		}
	})
}

// BenchmarkRelayQuotaExhaustion replays the attack of issue 10, point 4 at
// the default quotas: 256 addresses of one /24 (127.0.1.0-255) each
// allocate until refused, every allocation with a session of its own, then
// newcomers from another network (127.0.2.x, one session each) allocate.
// It reports how many allocations the attacker got, how long that took,
// and how many of 32 newcomers got one.
//
//	go test -run '^$' -bench RelayQuotaExhaustion -benchtime 1x ./turn/
func BenchmarkRelayQuotaExhaustion(b *testing.B) {
	for range b.N {
		ts := newTestServer(b, func(c *Config) {
			c.Logger = slog.New(slog.DiscardHandler)
			c.RelayPortMin, c.RelayPortMax = 10000, 19999 // room for 4,096, below the ephemeral ports
		})
		start := time.Now()
		taken := 0
		for i := range 256 {
			from := fmt.Sprintf("127.0.1.%d", i)
			for j := 0; ; j++ {
				c := ts.benchClientFrom(b, from, fmt.Sprintf("attacker-%d-%d", i, j))
				if err := c.allocate(); err != nil {
					c.close()
					if stunCode(err) != 486 {
						b.Fatalf("allocation %d from %s: %v", j, from, err)
					}
					break
				}
				taken++
			}
		}
		took := time.Since(start)
		newcomers := 0
		for i := range 32 {
			c := ts.benchClientFrom(b, fmt.Sprintf("127.0.2.%d", i+1), fmt.Sprint("newcomer-", i))
			if c.allocate() == nil {
				newcomers++
			}
		}
		b.ReportMetric(float64(taken), "attacker-allocs")
		b.ReportMetric(took.Seconds(), "attack-s")
		b.ReportMetric(float64(newcomers), "newcomers-of-32")
	}
}

// benchClientFrom is clientFrom for a benchmark: a client over UDP from
// from with a fresh live session.
func (ts *testServer) benchClientFrom(b *testing.B, from, session string) *turnClient {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(from, "0"))
	if err != nil {
		b.Fatal(err)
	}
	user, pass := ts.Credentials(ts.live(session), time.Now())
	return startClient(b, ts.UDPAddr().String(), conn, user, pass)
}
