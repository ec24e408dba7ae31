package turn

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

// BenchmarkTCPFrameFlood replays the attack of issue 10, point 2 on the real
// relay's TCP listener: 600 connections from one address, each sending a
// STUN header that announces 65,280 bytes and then 65,000 of them, and
// holding the connection. It reports the peak of the process's Go heap and
// stacks in use above the level before the attack (peak-MiB, sampled every
// 5 ms for the hold), and how many connections the relay still held at the
// end (held). Run with -benchtime 1x; the attacker runs in the same process,
// its share is one shared 65 KB buffer.
//
//	go test -run '^$' -bench TCPFrameFlood -benchtime 1x ./turn/
func BenchmarkTCPFrameFlood(b *testing.B) {
	const conns, announced, sent = 600, 65280, 65000
	hold := 3 * time.Second
	ts := newTestServer(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	frame := make([]byte, 20+sent)
	binary.BigEndian.PutUint16(frame[0:], 0x0001) // Binding request
	binary.BigEndian.PutUint16(frame[2:], announced)
	binary.BigEndian.PutUint32(frame[4:], 0x2112a442)
	for range b.N {
		runtime.GC()
		base := inUse()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				if m := inUse(); m > peak.Load() {
					peak.Store(m)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		var wg sync.WaitGroup
		open := make([]net.Conn, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", ts.TCPAddr().String())
				if err != nil {
					return
				}
				open[i] = c
				_ = c.SetWriteDeadline(time.Now().Add(hold))
				_, _ = c.Write(frame)
			}()
		}
		wg.Wait()
		time.Sleep(hold) // the attack is holding: the relay's memory is what is measured
		close(stop)
		<-sampled
		held := 0
		for _, c := range open {
			if c == nil {
				continue
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && isTimeout(err) {
				held++ // still open on the relay's side
			}
			_ = c.Close()
		}
		b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak-MiB")
		b.ReportMetric(float64(held), "held")
	}
}

func inUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Issue 10, point 2: TURN over TCP held about 116 KiB for each of 600
// connections from one address that announced a 65,280-byte frame and sent
// 65,000 bytes of it, for up to 5 minutes. Now such a frame closes the
// connection at once (pion drops any frame over its 1,600-byte MTU anyway);
// connections per address and in all are capped; and a connection must
// deliver its first complete message, and each frame it starts, in a short
// time. The memory figure is BenchmarkTCPFrameFlood's.
func TestTURNOverTCPHeldConnections(t *testing.T) {
	dial := func(t *testing.T, ts *testServer, from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ts.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// closedByRelay waits until the relay closes c; a relay that keeps it
	// open fails the test after waitFor.
	closedByRelay := func(t *testing.T, c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				if isTimeout(err) {
					t.Fatal("the relay kept the connection open")
				}
				return
			}
		}
	}
	header := func(announced int) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], 0x0001)
		binary.BigEndian.PutUint16(h[2:], uint16(announced))
		binary.BigEndian.PutUint32(h[4:], 0x2112a442)
		return h
	}

	t.Run("long frame", func(t *testing.T) {
		ts := newTestServer(t, nil)
		c := dial(t, ts, "127.0.0.1")
		if _, err := c.Write(append(header(65280), make([]byte, 4000)...)); err != nil {
			t.Fatal(err)
		}
		closedByRelay(t, c)
		if ts.Stats().Refused.Frames != 1 {
			t.Errorf("refused frames %d, want 1", ts.Stats().Refused.Frames)
		}
	})
	t.Run("not TURN", func(t *testing.T) {
		ts := newTestServer(t, nil)
		c := dial(t, ts, "127.0.0.1")
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		closedByRelay(t, c)
	})
	t.Run("caps", func(t *testing.T) {
		ts := newTestServer(t, func(c *Config) { c.MaxConnsPerPrefix, c.MaxConns = 2, 3 })
		a1, a2 := dial(t, ts, "127.0.0.1"), dial(t, ts, "127.0.0.1")
		over := dial(t, ts, "127.0.0.1")
		closedByRelay(t, over) // a third from the same address
		b1 := dial(t, ts, "127.0.0.3")
		closedByRelay(t, dial(t, ts, "127.0.0.4")) // a fourth in all
		if got := ts.Stats().Refused.Conns; got != 2 {
			t.Errorf("refused connections %d, want 2", got)
		}
		// The ones within the caps still work: each allocates.
		for i, c := range []net.Conn{a1, a2, b1} {
			user, pass := ts.Credentials(ts.live(fmt.Sprint("tcp", i)), time.Now())
			ts.secrets = append(ts.secrets, pass)
			startClient(t, ts.TCPAddr().String(), pionturn.NewSTUNConn(c), user, pass).mustAllocate(t)
		}
		// A closed connection frees its place.
		_ = a1.Close()
		eventually(t, "a place freed", func() bool {
			c := dial(t, ts, "127.0.0.1")
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			return isTimeout(err) // held open: accepted
		})
	})
	t.Run("slow first message and slow frame", func(t *testing.T) {
		ts := newTestServer(t, nil)
		ts.tcpTimes.Store(&tcpTimes{first: 200 * time.Millisecond, frame: 200 * time.Millisecond, idle: time.Hour})
		silent := dial(t, ts, "127.0.0.1")
		closedByRelay(t, silent)
		half := dial(t, ts, "127.0.0.1")
		if _, err := half.Write(header(100)[:10]); err != nil {
			t.Fatal(err)
		}
		closedByRelay(t, half)
	})
}
