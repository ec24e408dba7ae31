package turn

import (
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRelayPPS measures datagrams per second through the relay: client
// A sends 100-byte datagrams from its allocation to client B's allocation
// (two pion TURN clients over UDP on loopback), each crossing the relay
// twice (A's relay socket out, B's relay socket in). The sender keeps at most
// a window of datagrams in flight, so the figure is throughput, not how fast
// socket buffers overflow; when nothing arrives for 5 ms the datagrams in
// flight are presumed lost and the window moves on. The clock stops at the
// last datagram received. Reported:
//   - pps: datagrams delivered end to end per second;
//   - relay_pps: datagrams through relay sockets per second (Stats);
//   - loss_%: datagrams sent but not delivered.
func BenchmarkRelayPPS(b *testing.B) {
	ts := newTestServer(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	a := ts.sessionClient(b, ts.live("a"))
	c := ts.sessionClient(b, ts.live("b"))
	relayA, relayB := a.mustAllocate(b), c.mustAllocate(b)
	mustRelayB(b, relayA, relayB) // permissions and channel bindings in place

	const window = 64
	payload := make([]byte, 100)
	var received, last atomic.Int64
	progress := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, _, err := relayB.ReadFrom(buf)
			if err != nil {
				return
			}
			if n != len(payload) {
				continue // a late warm-up datagram
			}
			received.Add(1)
			last.Store(time.Now().UnixNano())
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	to := relayB.LocalAddr()
	before := ts.Stats().PacketsRelayed
	stall := time.NewTimer(time.Hour)
	var lost int64
	b.ResetTimer()
	start := time.Now()
	for sent := int64(0); sent < int64(b.N); {
		lost = min(lost, sent-received.Load()) // late arrivals were not lost
		if sent-received.Load()-lost >= window {
			stall.Reset(5 * time.Millisecond)
			select {
			case <-progress:
			case <-stall.C:
				lost = sent - received.Load()
			}
			continue
		}
		if _, err := relayA.WriteTo(payload, to); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for received.Load() < int64(b.N) {
		stall.Reset(200 * time.Millisecond)
		select {
		case <-progress:
			continue
		case <-stall.C:
		}
		break // quiet for 200 ms: the rest is lost
	}
	b.StopTimer()
	_ = relayB.SetReadDeadline(time.Now())
	<-done
	elapsed := time.Unix(0, last.Load()).Sub(start)
	got := received.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "pps")
	b.ReportMetric(float64(ts.Stats().PacketsRelayed-before)/elapsed.Seconds(), "relay_pps")
	b.ReportMetric(100*float64(int64(b.N)-got)/float64(b.N), "loss_%")
}

// mustRelayB is mustRelay for a benchmark: it waits until a datagram from
// one relay reaches the other, both ways.
func mustRelayB(b *testing.B, x, y net.PacketConn) {
	b.Helper()
	for _, p := range [][2]net.PacketConn{{x, y}, {y, x}} {
		from, to := p[0], p[1]
		_, _ = to.WriteTo([]byte("warm"), from.LocalAddr())
		buf := make([]byte, 1500)
		for i := 0; ; i++ {
			if i == 200 {
				b.Fatal("relay to relay: nothing arrived")
			}
			_, _ = from.WriteTo([]byte("warm"), to.LocalAddr())
			_ = to.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := to.ReadFrom(buf); err == nil {
				break
			}
		}
		drain(to)
	}
}

func drain(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, _, err := c.ReadFrom(buf); err != nil {
			_ = c.SetReadDeadline(time.Time{})
			return
		}
	}
}
