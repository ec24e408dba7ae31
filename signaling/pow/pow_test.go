package pow

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newGuard(t testing.TB, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func solve(t testing.TB, c *proto.PowChallenge) *proto.PowSolution {
	t.Helper()
	s, err := proto.SolvePow(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	home  = netip.MustParsePrefix("192.0.2.1/32")
	other = netip.MustParsePrefix("2001:db8:1:2::/64")
)

// A right solution passes once; forged, eased, extended, expired, replayed,
// wrong and other sessions' solutions are refused.
func TestVerify(t *testing.T) {
	g := newGuard(t, Config{Bits: 8})
	tests := []struct {
		name string
		edit func(s *proto.PowSolution) (session string, now time.Time)
		want error
	}{
		{"right", func(*proto.PowSolution) (string, time.Time) { return "s1", t0 }, nil},
		{"just before it expires", func(*proto.PowSolution) (string, time.Time) { return "s1", t0.Add(DefaultTTL - time.Second) }, nil},
		{"expired", func(*proto.PowSolution) (string, time.Time) { return "s1", t0.Add(DefaultTTL) }, ErrExpired},
		{"another session's", func(*proto.PowSolution) (string, time.Time) { return "s2", t0 }, ErrForged},
		{"forged mac", func(s *proto.PowSolution) (string, time.Time) {
			s.MAC = strings.Repeat("A", len(s.MAC))
			return "s1", t0
		}, ErrForged},
		{"eased", func(s *proto.PowSolution) (string, time.Time) { s.Bits = 1; return "s1", t0 }, ErrForged},
		{"fewer parts", func(s *proto.PowSolution) (string, time.Time) {
			s.Parts, s.Nonces = 1, s.Nonces[:1]
			return "s1", t0
		}, ErrForged},
		{"extended", func(s *proto.PowSolution) (string, time.Time) { s.Expires += 3600; return "s1", t0 }, ErrForged},
		{"another id", func(s *proto.PowSolution) (string, time.Time) {
			s.ID = "B" + s.ID[1:]
			return "s1", t0
		}, ErrForged},
		{"a nonce missing", func(s *proto.PowSolution) (string, time.Time) { s.Nonces = s.Nonces[1:]; return "s1", t0 }, ErrWrong},
		{"a wrong nonce", func(s *proto.PowSolution) (string, time.Time) {
			for proto.PowPartOK(s.ID, s.Bits, 2, s.Nonces[2]) {
				s.Nonces[2]++
			}
			return "s1", t0
		}, ErrWrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := solve(t, g.Issue("s1", home, t0))
			session, now := tt.edit(s)
			if err := g.Verify(session, s, now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if err := g.Verify(session, s, now); !errors.Is(err, ErrReplayed) {
					t.Fatalf("a second use: %v, want ErrReplayed", err)
				}
			}
		})
	}
	if err := g.Verify("s1", nil, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("no solution: %v", err)
	}
	// Another Guard (another process, another key) issued none of these.
	s := solve(t, g.Issue("s1", home, t0))
	if err := newGuard(t, Config{Bits: 8}).Verify("s1", s, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("another server's challenge: %v", err)
	}
}

// The difficulty of a prefix doubles each time it opens SessionsPerHour more
// sessions, up to 8x, leaves other prefixes alone, and falls back to the
// baseline ten minutes after the last rise; on synctest's clock.
func TestDifficultyRisesAndFallsForAPrefix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{})
		base := DefaultBits
		open := func(n int) {
			for range n {
				g.SessionOpened(home, time.Now())
			}
		}
		open(DefaultSessionsPerHour)
		if b := g.Bits(home, time.Now()); b != base {
			t.Fatalf("after %d sessions: %d bits, want the baseline %d", DefaultSessionsPerHour, b, base)
		}
		open(1)
		if b := g.Issue("x", home, time.Now()).Bits; b != base+1 {
			t.Fatalf("one more: %d bits, want %d", b, base+1)
		}
		for want := base + 2; want <= base+DefaultMaxDoublings+1; want++ {
			open(DefaultSessionsPerHour + 1)
			if b := g.Bits(home, time.Now()); b != min(want, base+DefaultMaxDoublings) {
				t.Fatalf("%d bits, want %d", b, min(want, base+DefaultMaxDoublings))
			}
		}
		if b := g.Bits(other, time.Now()); b != base {
			t.Fatalf("another prefix: %d bits", b)
		}
		time.Sleep(DefaultCooldown - time.Second)
		if b := g.Bits(home, time.Now()); b != base+DefaultMaxDoublings {
			t.Fatalf("before the cooldown: %d bits", b)
		}
		time.Sleep(time.Second)
		if b := g.Bits(home, time.Now()); b != base {
			t.Fatalf("after the cooldown: %d bits, want %d", b, base)
		}
		// A rise after the fall starts again from the baseline.
		open(DefaultSessionsPerHour + 1)
		if b := g.Bits(home, time.Now()); b != base+1 {
			t.Fatalf("a new rise: %d bits", b)
		}
	})
}

// Joins count per minute, per prefix and for the whole server.
func TestDifficultyRisesWithJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{GlobalJoinsPerMinute: 100})
		base := DefaultBits
		for range DefaultJoinsPerMinute {
			g.Joined(home, time.Now())
		}
		time.Sleep(time.Minute) // a new minute: the count starts again
		for range DefaultJoinsPerMinute {
			g.Joined(home, time.Now())
		}
		if b := g.Bits(home, time.Now()); b != base {
			t.Fatalf("%d joins a minute: %d bits", DefaultJoinsPerMinute, b)
		}
		g.Joined(home, time.Now())
		if b := g.Bits(home, time.Now()); b != base+1 {
			t.Fatalf("one join too many: %d bits, want %d", b, base+1)
		}
		if b := g.Bits(other, time.Now()); b != base {
			t.Fatalf("another prefix: %d bits", b)
		}
		// Everyone's joins together: past 100 a minute, everyone's doubles.
		time.Sleep(time.Minute)
		for i := range 101 {
			g.Joined(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32), time.Now())
		}
		if b := g.Bits(other, time.Now()); b != base+1 {
			t.Fatalf("a busy server: another prefix has %d bits, want %d", b, base+1)
		}
		time.Sleep(DefaultCooldown)
		if b := g.Bits(other, time.Now()); b != base {
			t.Fatalf("a quiet server again: %d bits", b)
		}
	})
}

// What the Guard holds goes: used ids when they expire, counters an hour
// after a prefix was first counted, their level with them.
func TestForgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Bits: 4})
		for range DefaultSessionsPerHour + 1 {
			g.SessionOpened(home, time.Now())
		}
		s := solve(t, g.Issue("s", home, time.Now()))
		if err := g.Verify("s", s, time.Now()); err != nil {
			t.Fatal(err)
		}
		if p, ids := g.Held(time.Now()); p != 1 || ids != 1 {
			t.Fatalf("holding %d prefixes and %d ids", p, ids)
		}
		time.Sleep(DefaultTTL + sweepEvery)
		if _, ids := g.Held(time.Now()); ids != 0 {
			t.Fatalf("%d ids kept after they expired", ids)
		}
		time.Sleep(time.Hour - DefaultTTL - 2*sweepEvery - time.Second)
		if p, _ := g.Held(time.Now()); p != 1 {
			t.Fatalf("%d prefixes held before the hour is over", p)
		}
		g.SessionOpened(other, time.Now()) // another prefix: a sweep runs
		time.Sleep(sweepEvery + time.Second)
		if p, _ := g.Held(time.Now()); p != 1 {
			t.Fatalf("%d prefixes an hour after the first was counted, want only the other", p)
		}
	})
}

// A flood from more prefixes than there is room for: the newcomers get the
// highest difficulty rather than more memory.
func TestFullCountersGiveTheMost(t *testing.T) {
	g := newGuard(t, Config{MaxPrefixes: 2})
	g.SessionOpened(home, t0)
	g.SessionOpened(other, t0)
	third := netip.MustParsePrefix("203.0.113.9/32")
	g.SessionOpened(third, t0)
	if p, _ := g.Held(t0); p != 2 {
		t.Fatalf("%d prefixes held, room for 2", p)
	}
	if b := g.Bits(third, t0); b != DefaultBits+DefaultMaxDoublings {
		t.Fatalf("no room: %d bits", b)
	}
	if b := g.Bits(home, t0); b != DefaultBits {
		t.Fatalf("a counted prefix: %d bits", b)
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Bits: 29}, true},
		{Config{Bits: 30}, false}, // with 3 doublings past 32
		{Config{Parts: 17}, false},
		{Config{TTL: time.Millisecond}, false},
		{Config{JoinsPerMinute: -1}, false},
		{Config{Key: []byte("short")}, false},
		{Config{Key: []byte("a key of enough bytes")}, true},
	} {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrBadConfig) {
				t.Fatalf("New = %v", err)
			}
		})
	}
}

// The same key signs the same way: two Guards of one key accept each
// other's challenges (several nodes would share one), but not replays
// across them, which is why a single node draws a random key.
func TestSharedKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a, b := newGuard(t, Config{Bits: 4, Key: key}), newGuard(t, Config{Bits: 4, Key: key})
	s := solve(t, a.Issue("s", home, t0))
	if err := b.Verify("s", s, t0); err != nil {
		t.Fatal(err)
	}
}

// Nothing of the proof of work is written anywhere: the package imports no
// storage, no file system and nothing of parley but the protocol.
func TestWritesNothing(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "github.com/parley-chat/parley/signaling/pow").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch {
		case imp == "os", imp == "io", strings.HasPrefix(imp, "io/"), strings.HasPrefix(imp, "net/http"),
			strings.Contains(imp, "bbolt"), strings.HasPrefix(imp, "log"),
			strings.HasPrefix(imp, "github.com/parley-chat/parley/") && imp != "github.com/parley-chat/parley/signaling/proto":
			t.Errorf("signaling/pow imports %s", imp)
		}
	}
}
