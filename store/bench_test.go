package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkPutSessionParallel measures durable sealed session writes
// (fsync on, a real file) by concurrent writers sharing bbolt batches:
// "insert" stores new sessions, "touch" rewrites sessions of a population
// of 10k, as a running server mostly does. LastSeen grows as it does in
// real use, so index entries are appended. Run it with
//
//	go test -run '^$' -bench PutSession -benchtime 3s ./store/
func BenchmarkPutSessionParallel(b *testing.B) {
	for _, mode := range []string{"insert", "touch"} {
		for _, writers := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, writers), func(b *testing.B) {
				s := openT(b, Config{Dir: b.TempDir(), Key: keyA})
				const population = 10000
				var seen atomic.Int64 // LastSeen, one nanosecond later each write
				newSession := func(i uint64) *Session {
					return &Session{ID: testID(fmt.Sprint(i)), Name: "bench", Mode: "random", Media: "video",
						Interests: []string{"chess", "music"}, Created: t0, LastSeen: t0.Add(time.Duration(seen.Add(1)))}
				}
				if mode == "touch" {
					err := s.db.Update(func(tx *bolt.Tx) error {
						for i := range uint64(population) {
							if err := putSessionTx(s, tx, fmt.Sprint(i), newSession(i)); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				var n atomic.Uint64
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if mode == "touch" {
							i %= population
						}
						if err := s.PutSession(skey(s, fmt.Sprint(i)), newSession(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
				st := s.Stats()
				b.ReportMetric(float64(st.WriteTime.Microseconds())/float64(max(st.Writes, 1)), "µs/write")
			})
		}
	}
}

// BenchmarkGetSession measures token lookups (two HMACs, read transaction,
// open and JSON decode) over 10k stored sessions.
func BenchmarkGetSession(b *testing.B) {
	s := openT(b, Config{Dir: b.TempDir(), Key: keyA, Clock: func() time.Time { return t0 }})
	const n = 10000
	tokens := make([]string, n)
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range tokens {
			tokens[i] = fmt.Sprintf("%d", i)
			if err := putSessionTx(s, tx, tokens[i], &Session{ID: testID(tokens[i]), Name: "bench", Created: t0, LastSeen: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if _, err := s.GetSession(skey(s, tokens[r.IntN(n)])); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkBanned measures the ban check run at every connect, join and
// relay request, answered from memory: "cached" checks addresses seen
// before, "new" an address never seen (one memory-hard hash each, on as
// many cores as the benchmark runs).
func BenchmarkBanned(b *testing.B) {
	for _, mode := range []string{"cached", "new"} {
		b.Run(mode, func(b *testing.B) {
			s := openT(b, Config{Dir: b.TempDir(), Key: keyA})
			for i := range 3 {
				if _, _, err := s.Report(t0, addr("198.51.100.1"), Reporter{Addr: addr(fmt.Sprintf("192.0.2.%d", i+1))}, "spam"); err != nil {
					b.Fatal(err)
				}
			}
			addrOf := func(i uint32) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
			if mode == "cached" {
				for i := range uint32(256) {
					s.Banned(t0, addrOf(i))
				}
			}
			var n atomic.Uint32
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if mode == "cached" {
						i %= 256
					}
					if _, _, err := s.Banned(t0, addrOf(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}

// BenchmarkBanKey measures one guess of someone who holds the data dir
// and its key and enumerates addresses: the format-1 HMAC alone ("hmac"),
// and the format-2 ban key over it ("argon2id"). docs/PRIVACY.md turns the
// figures into the cost of enumerating all of IPv4. Run it with
//
//	go test -run '^$' -bench BanKey -benchtime 200x ./store/
func BenchmarkBanKey(b *testing.B) {
	ks := fuzzRing(b).current()
	b.Run("hmac", func(b *testing.B) {
		for i := range b.N {
			ks.prefixHash(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		}
	})
	b.Run("argon2id", func(b *testing.B) {
		for i := range b.N {
			ks.banKeyOfHash(ks.prefixHash(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)))
		}
		b.ReportMetric(float64(1<<32)*float64(b.Elapsed().Nanoseconds())/float64(b.N)/3.6e12, "core-hours/IPv4")
	})
}
