package pow

import (
	"fmt"
	"testing"
)

// BenchmarkVerify is the server's cost of checking a solution, at the
// baseline and at the highest difficulty: a MAC and one hash per part, the
// same whatever the difficulty (docs/BENCHMARKS.md).
//
//	go test -run '^$' -bench Verify -benchtime 2s ./signaling/pow/
func BenchmarkVerify(b *testing.B) {
	for _, bits := range []int{DefaultBits, DefaultBits + DefaultMaxDoublings} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			g := newGuard(b, Config{Bits: bits})
			s := solve(b, g.Issue("session", home, t0))
			for b.Loop() {
				g.mu.Lock()
				clear(g.used) // the same solution again: measure the checks, not the refusal
				g.mu.Unlock()
				if err := g.Verify("session", s, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssue is the cost of a challenge in welcome.
func BenchmarkIssue(b *testing.B) {
	g := newGuard(b, Config{})
	for b.Loop() {
		g.Issue("session", home, t0)
	}
}
