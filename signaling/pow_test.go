package signaling

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
)

// The hub's side of the proof of work, on the hub's own rig (hub_test.go):
// welcome's challenge, the gate at the first join, and a difficulty that
// follows what a prefix does, on synctest's clock.

func powRig(t testing.TB, cfg pow.Config) *hubRig {
	return newHubRig(t, func(c *Config) { c.ProofOfWork = cfg })
}

// welcomeOf returns the challenge of the last welcome p received.
func (p *person) welcomeOf() *proto.PowChallenge {
	p.r.t.Helper()
	var w *proto.Outbound
	for _, m := range p.r.box.take(p.s.id) {
		if m.Type == proto.TypeWelcome {
			w = &m
		}
	}
	if w == nil {
		p.r.t.Fatal("no welcome")
	}
	return w.Pow
}

func solveIt(t testing.TB, c *proto.PowChallenge) *proto.PowSolution {
	t.Helper()
	if c == nil {
		t.Fatal("no challenge")
	}
	s, err := proto.SolvePow(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantPowError checks a refusal's code and that it carries a new challenge.
func wantPowError(t testing.TB, err, want error) *proto.PowChallenge {
	t.Helper()
	var pe *proto.PowError
	if !errors.Is(err, want) || !errors.As(err, &pe) || pe.Challenge == nil {
		t.Fatalf("proveWork = %v, want %v with a fresh challenge", err, want)
	}
	return pe.Challenge
}

// The first join needs a solution of a challenge issued to the same session
// that has not expired; later joins, and resumes, need none.
func TestFirstJoinNeedsTheWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := powRig(t, pow.Config{Bits: 6})
		a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
		chA, chB := a.welcomeOf(), b.welcomeOf()
		if chA == nil || chA.Bits != 6 || chA.Parts != pow.DefaultParts || chA.ID == chB.ID {
			t.Fatalf("welcome's challenge %+v", chA)
		}
		now := time.Now()
		wantPowError(t, r.h.proveWork(a.s, nil, now), proto.ErrPowRequired)
		wantPowError(t, r.h.proveWork(a.s, solveIt(t, chB), now), proto.ErrBadPow) // b's work is no use to a
		eased := solveIt(t, chA)
		eased.Bits = 1
		wantPowError(t, r.h.proveWork(a.s, eased, now), proto.ErrBadPow)

		late := solveIt(t, chA)
		time.Sleep(pow.DefaultTTL)
		fresh := wantPowError(t, r.h.proveWork(a.s, late, time.Now()), proto.ErrBadPow) // expired

		right := solveIt(t, fresh)
		if err := r.h.proveWork(a.s, right, time.Now()); err != nil {
			t.Fatalf("a right solution of the challenge that came with the refusal: %v", err)
		}
		if err := r.h.proveWork(a.s, nil, time.Now()); err != nil {
			t.Fatalf("a second join: %v", err)
		}
		a.join()
		a.drop()
		a.reconnect()
		if ch := a.welcomeOf(); ch != nil {
			t.Fatalf("a session that did the work got another challenge on its return: %+v", ch)
		}
		// b cannot use a's solution either, even as a's is spent.
		wantPowError(t, r.h.proveWork(b.s, right, time.Now()), proto.ErrBadPow)
	})
}

// A flood of sessions from one prefix sees the difficulty of its challenges
// rise, up to 8x, while another prefix keeps the baseline; ten minutes later
// it is back to the baseline. On synctest's clock.
func TestSessionFloodRaisesTheDifficulty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const base = 6
		r := powRig(t, pow.Config{Bits: base})
		var bits []int
		for range 4 * (pow.DefaultSessionsPerHour + 1) {
			bits = append(bits, r.connect("2001:db8:7:7::1").welcomeOf().Bits)
		}
		// The 21st session of the hour doubles it, and each 21 more again.
		want := func(i int) int { return base + min((i+1)/(pow.DefaultSessionsPerHour+1), pow.DefaultMaxDoublings) }
		for i, b := range bits {
			if b != want(i) {
				t.Fatalf("session %d from one /64: %d bits, want %d (all: %v)", i+1, b, want(i), bits)
			}
		}
		// Another address of the same /64 is the same prefix.
		if b := r.connect("2001:db8:7:7::2").welcomeOf().Bits; b != base+pow.DefaultMaxDoublings {
			t.Fatalf("another address of the /64: %d bits", b)
		}
		if b := r.connect("2001:db8:7:8::1").welcomeOf().Bits; b != base {
			t.Fatalf("another /64: %d bits", b)
		}
		time.Sleep(pow.DefaultCooldown)
		if b := r.connect("2001:db8:7:7::3").welcomeOf().Bits; b != base {
			t.Fatalf("ten minutes later: %d bits, want %d", b, base)
		}
	})
}

// Joins from a prefix count too: the sessions opened after a join flood get
// harder work.
func TestJoinFloodRaisesTheDifficulty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := powRig(t, pow.Config{Bits: 4, JoinsPerMinute: 5})
		a := r.connect("198.51.100.1")
		if err := r.h.proveWork(a.s, solveIt(t, a.welcomeOf()), time.Now()); err != nil {
			t.Fatal(err)
		}
		for range 5 { // six joins in a minute, one too many
			if err := r.h.proveWork(a.s, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if b := r.connect("198.51.100.1").welcomeOf().Bits; b != 5 {
			t.Fatalf("after a join flood: %d bits, want 5", b)
		}
		if b := r.connect("198.51.100.2").welcomeOf().Bits; b != 4 {
			t.Fatalf("the other address: %d bits, want 4", b)
		}
	})
}

// With the proof of work off, welcome has no challenge and joins need none.
func TestNoProofOfWork(t *testing.T) {
	r := newHubRig(t, func(c *Config) { c.NoProofOfWork = true })
	a := r.connect("192.0.2.1")
	if ch := a.welcomeOf(); ch != nil {
		t.Fatalf("a challenge with the proof of work off: %+v", ch)
	}
	if err := r.h.proveWork(a.s, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// A group room (by link, no work asked) proves nothing for the queue of
// strangers: its record in the store does not stand in for the work.
func TestRoomDoesNotStandInForTheWork(t *testing.T) {
	r := powRig(t, pow.Config{Bits: 4})
	a := r.connect("192.0.2.1")
	if err := r.h.roomCreate(a.s, proto.RoomCreate{Name: "Us", Media: proto.MediaText}, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantPowError(t, r.h.proveWork(a.s, nil, time.Now()), proto.ErrPowRequired)
}
