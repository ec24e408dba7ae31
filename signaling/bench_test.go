package signaling_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
)

// unlimited lifts the per-connection limits, so a benchmark measures the
// server's work rather than its rate limiter.
func unlimited(c *signaling.Config) {
	c.MessagesPerSecond, c.Burst = 1e9, 1<<30
	c.ActionsPerSecond, c.ActionBurst = 1e9, 1<<30
	c.MaxConnsPerAddr = 4096
	c.SignalBytesPerSecond, c.SignalBytesBurst = 1e12, 1<<30
}

// benchCandidate is a trickled host candidate as a browser sends it.
const benchCandidate = `{"type":"signal","data":{"candidate":{"candidate":"candidate:842163049 1 udp 2122260223 192.0.2.10 50312 typ host generation 0 ufrag Xk3f network-id 1","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"Xk3f"}}}`

// BenchmarkForward is the forwarding path in process: a paired peer sends
// candidate signals, the server decodes, validates and re-encodes each and
// the partner reads it. window is how many messages may be in flight: 1
// measures the latency of one message alone, more the throughput.
// Reported: msgs/s, and the per-message latency from write to read (p50,
// p99) in us.
func BenchmarkForward(b *testing.B) {
	for _, window := range []int{1, 64} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			ts := newTestServer(b, withConfig(unlimited))
			from, to := ts.raw(true), ts.raw(true)
			from.send(joinRandom)
			from.expect("queued")
			to.send(joinRandom)
			from.expect("matched")
			to.expect("queued")
			to.expect("matched")

			frame := []byte(benchCandidate)
			sentAt := make([]atomic.Int64, b.N)
			lat := make([]time.Duration, b.N)
			credit := make(chan struct{}, window)
			for range window {
				credit <- struct{}{}
			}
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				for i := range b.N {
					_ = to.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, _, err := to.ws.ReadMessage(); err != nil {
						done <- fmt.Errorf("message %d: %w", i, err)
						return
					}
					lat[i] = time.Since(start) - time.Duration(sentAt[i].Load())
					credit <- struct{}{}
				}
				done <- nil
			}()
			b.ResetTimer()
			for i := range b.N {
				<-credit
				sentAt[i].Store(int64(time.Since(start)))
				if err := from.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatency(b, lat, "fwd")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkJoinToMatched is a join meeting a waiting person, end to end over
// a loopback WebSocket: a joins and is queued, b joins and is matched with
// a; then a leaves so both are free again. Reported: the time from b's join
// to b's matched (p50, p99 in us) and pairs/s.
func BenchmarkJoinToMatched(b *testing.B) {
	ts := newTestServer(b, withConfig(unlimited))
	// The same two meet at most twice a session, so people are paired in
	// rotations: in rotation r person i meets person i+1+r (mod n); over
	// n-1 rotations each two meet exactly twice, then fresh people come.
	const n = 64
	var people []*rawConn
	fresh := func() {
		for _, p := range people {
			p.ws.Close()
		}
		people = people[:0]
		for range n {
			people = append(people, ts.raw(true))
		}
	}
	fresh()
	lat := make([]time.Duration, b.N)
	start := time.Now()
	b.ResetTimer()
	for k := range b.N {
		r, i := (k/n)%(n-1), k%n
		if k > 0 && i == 0 && r == 0 {
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		a, c := people[i], people[(i+1+r)%n]
		a.send(joinRandom)
		a.expect("queued")
		t0 := time.Now()
		c.send(joinRandom)
		// The joiner hears queued, then matched at once.
		if m := c.next(); m.Type != "queued" {
			b.Fatalf("join %d: got %s (%s), want queued", k, m.Type, m.Code)
		}
		if m := c.next(); m.Type != "matched" {
			b.Fatalf("join %d: got %s (%s), want matched", k, m.Type, m.Code)
		}
		lat[k] = time.Since(t0)
		a.expect("matched")
		a.send(`{"type":"leave"}`)
		a.expect("left")
		c.expect("partner-left")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, lat, "j2m")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
}

func reportLatency(b *testing.B, lat []time.Duration, name string) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e3 }
	b.ReportMetric(q(0.50), name+"-p50-us")
	b.ReportMetric(q(0.99), name+"-p99-us")
}

// An idle person who said hello (on the start page, not yet joined) keeps
// the connection: the hello timeout bounds only the wait for hello. The idle
// connection figure of the load generator depends on it.
func TestQuietAfterHelloOutlivesTheHelloTimeout(t *testing.T) {
	ts := newTestServer(t, withConfig(func(c *signaling.Config) { c.HelloTimeout = 200 * time.Millisecond }))
	rc := ts.raw(true)
	time.Sleep(600 * time.Millisecond) // three hello timeouts, well under the pong wait
	rc.send(joinRandom)
	rc.expect("queued")
}
