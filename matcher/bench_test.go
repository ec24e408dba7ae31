package matcher

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks measure pairs per second with 100k people already waiting who cannot meet
// each other, and newcomers who do pair, as signaling drives the engine: Join, then Tick at
// once; Forget when the session ends. The target is for one core:
//
//	go test -run '^$' -bench . -benchtime 2s -cpu 1 ./matcher/
const (
	benchWaiting = 100_000
	benchRing    = 1 << 19 // IDs are reused after this many joins: long after they were forgotten
)

var benchIDs = sync.OnceValue(func() []string {
	ids := make([]string, benchRing)
	for i := range ids {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		ids[i] = hex.EncodeToString(sum[:]) // like a session ID: 64 hex characters
	}
	return ids
})

// benchWaiterIDs are for people who wait through a whole benchmark: never reused.
var benchWaiterIDs = sync.OnceValue(func() []string {
	ids := make([]string, benchWaiting)
	for i, id := range benchIDs()[:benchWaiting] {
		ids[i] = "w" + id[1:] // 'w' is not hex: distinct from every ring ID
	}
	return ids
})

var benchInterests = sync.OnceValue(func() [][]string {
	in := make([][]string, benchRing)
	for i := range in {
		in[i] = []string{"topic-" + strconv.Itoa(i)}
	}
	return in
})

func mustJoin(b *testing.B, e *Engine, now time.Time, r Request) {
	if err := e.Join(now, r); err != nil {
		b.Fatal(err)
	}
}

// scenario builds a state with 100k waiting who cannot meet each other, then plays rounds
// of newcomers joining, each followed at once by a Tick as signaling does.
type scenario struct {
	name  string
	setup func(b *testing.B, e *Engine)
	round func(b *testing.B, e *Engine, pairs []Pair) []Pair
}

func BenchmarkPairs(b *testing.B) {
	ids, interests := benchIDs(), benchInterests()
	now := t0
	next := 0
	join := func(b *testing.B, e *Engine, r Request) {
		r.ID = ids[next%benchRing]
		next++
		mustJoin(b, e, now, r)
	}
	joinTick := func(b *testing.B, e *Engine, pairs []Pair, r Request) []Pair {
		join(b, e, r)
		return append(pairs, e.Tick(now)...)
	}
	var waiting []int // interests: ring indexes of who waits, oldest first
	scenarios := []scenario{{
		// 100k wait in video, half for a debate all on one side, half on interests nobody
		// shares; random text newcomers pair with each other.
		name: "random",
		setup: func(b *testing.B, e *Engine) {
			for i, id := range benchWaiterIDs() {
				if i%2 == 0 {
					mustJoin(b, e, now, Request{ID: id, Mode: ModeOpposite, Media: MediaVideo, Preference: "left"})
				} else {
					mustJoin(b, e, now, Request{ID: id, Mode: ModeInterests, Media: MediaVideo, Interests: interests[i]})
				}
			}
		},
		round: func(b *testing.B, e *Engine, pairs []Pair) []Pair {
			pairs = joinTick(b, e, pairs, Request{Mode: ModeRandom, Media: MediaText})
			return joinTick(b, e, pairs, Request{Mode: ModeRandom, Media: MediaText})
		},
	}, {
		// 100k wait on the left; each round one more joins on the left and one on the
		// right, who meets the longest-waiting left.
		name: "opposite",
		setup: func(b *testing.B, e *Engine) {
			for range benchWaiting {
				join(b, e, Request{Mode: ModeOpposite, Media: MediaText, Preference: "left"})
			}
		},
		round: func(b *testing.B, e *Engine, pairs []Pair) []Pair {
			pairs = joinTick(b, e, pairs, Request{Mode: ModeOpposite, Media: MediaText, Preference: "left"})
			return joinTick(b, e, pairs, Request{Mode: ModeOpposite, Media: MediaText, Preference: "right"})
		},
	}, {
		// 100k wait within the interest wait, each on an interest nobody else has; each
		// round one more joins like them and one joins sharing the longest-waiting one's.
		name: "interests",
		setup: func(b *testing.B, e *Engine) {
			waiting = make([]int, 0, benchRing)
			for range benchWaiting {
				waiting = append(waiting, next%benchRing)
				join(b, e, Request{Mode: ModeInterests, Media: MediaText, Interests: interests[next%benchRing]})
			}
		},
		round: func(b *testing.B, e *Engine, pairs []Pair) []Pair {
			if len(waiting) == cap(waiting) {
				waiting = append(waiting[:0], waiting[len(waiting)-benchWaiting:]...)
			}
			waiting = append(waiting, next%benchRing)
			pairs = joinTick(b, e, pairs, Request{Mode: ModeInterests, Media: MediaText, Interests: interests[next%benchRing]})
			oldest := waiting[len(waiting)-benchWaiting-1]
			return joinTick(b, e, pairs, Request{Mode: ModeInterests, Media: MediaText, Interests: interests[oldest]})
		},
	}}
	for _, sc := range scenarios {
		// "join+tick" is the matching itself; sessions end (Forget) outside the timer, in
		// batches. "join+tick+forget" also times a Forget of both sessions after each pair,
		// the whole life of a one-chat session.
		for _, timeForget := range []bool{false, true} {
			name := sc.name + "/join+tick"
			if timeForget {
				name += "+forget"
			}
			b.Run(name, func(b *testing.B) {
				e, _ := New(Config{})
				sc.setup(b, e)
				if len(e.Tick(now)) != 0 {
					b.Fatal("the people waiting can meet each other")
				}
				pairs, total := make([]Pair, 0, 8192), 0
				forget := func() {
					for _, p := range pairs {
						e.Forget(p.Offerer)
						e.Forget(p.Answerer)
					}
					total += len(pairs)
					pairs = pairs[:0]
				}
				var cpu cpuClock
				b.ReportAllocs()
				for b.Loop() {
					if cpu.running == 0 {
						cpu.start()
					}
					pairs = sc.round(b, e, pairs)
					if timeForget {
						forget()
					} else if len(pairs) >= 256 {
						b.StopTimer()
						cpu.stop()
						forget()
						b.StartTimer()
					}
				}
				cpu.stop()
				forget()
				if n := waitingTotal(e); n != benchWaiting {
					b.Fatalf("%d waiting at the end, want %d", n, benchWaiting)
				}
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pairs/s")
				b.ReportMetric(float64(total)/cpu.total.Seconds(), "pairs/cpu-s")
			})
		}
	}

	b.Run("fallback", func(b *testing.B) {
		// 100k on interests nobody shares reach the end of their wait in the same Tick
		// and pair with each other: 50k pairs from one Tick.
		total := 0
		var cpu cpuClock
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			e, _ := New(Config{})
			for i := range benchWaiting {
				mustJoin(b, e, now, Request{ID: ids[i], Mode: ModeInterests, Media: MediaText, Interests: interests[i]})
			}
			e.Tick(now)
			b.StartTimer()
			cpu.start()
			total += len(e.Tick(now.Add(DefaultInterestWait)))
			cpu.stop()
		}
		b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pairs/s")
		b.ReportMetric(float64(total)/cpu.total.Seconds(), "pairs/cpu-s")
	})
}

func waitingTotal(e *Engine) int {
	n := 0
	for _, c := range e.Waiting() {
		n += c.N
	}
	return n
}

// BenchmarkTickIdle is a Tick with 100k waiting and nothing changed: it should cost nothing.
func BenchmarkTickIdle(b *testing.B) {
	ids, interests := benchIDs(), benchInterests()
	e, _ := New(Config{})
	for i := range benchWaiting {
		mustJoin(b, e, t0, Request{ID: ids[i], Mode: ModeInterests, Media: MediaText, Interests: interests[i]})
	}
	e.Tick(t0)
	for b.Loop() {
		if len(e.Tick(t0)) != 0 {
			b.Fatal("pairs")
		}
	}
}

// cpuClock adds up the CPU time the process spends (user and system, GC included) while
// running. On a shared machine wall time counts other people's work too; with -cpu 1,
// pairs per CPU-second is what one core does.
type cpuClock struct {
	total, running time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *cpuClock) start() { c.running = processCPU() }

func (c *cpuClock) stop() {
	if c.running != 0 {
		c.total += processCPU() - c.running
		c.running = 0
	}
}
