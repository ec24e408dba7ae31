package signaling_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling"
	"golang.org/x/sys/unix"
)

// Frames are written straight from the sender's goroutine while the
// reader's socket takes them. When it fills, what it did not take of a
// frame goes out first, through the writer goroutine, once the reader
// reads again, and the frames after it wait their turn: every frame
// arrives whole and in order. A ping the reader sends meanwhile is answered
// through the same queue, never in the middle of a frame.
func TestDirectWritesSurviveAFullSocket(t *testing.T) {
	const n = 30000
	ts := newTestServer(t, withConfig(func(c *signaling.Config) {
		c.MaxQueuedBytes, c.MaxQueuedTotal = 64<<20, 256<<20
		c.SignalBytesPerSecond, c.SignalBytesBurst = 1e12, 1<<30
		c.MessagesPerSecond, c.Burst = 1e6, 1e6
	}))
	// A reader with a small receive buffer: the server's socket to it
	// fills after a few kilobytes.
	small := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}).DialContext}
	sender, reader := ts.raw(true), ts.rawWith(small, true)
	sender.send(joinRandom)
	sender.expect("queued")
	reader.send(joinRandom)
	reader.expect("queued")
	reader.expect("matched")
	sender.expect("matched")

	before := ts.srv.Stats()
	for i := range n {
		sender.send(fmt.Sprintf(`{"type":"signal","data":{"candidate":{"candidate":"candidate:3664091493 1 udp 2122194687 192.0.2.2 %d typ host generation 0","sdpMid":"0","sdpMLineIndex":0}}}`, 1000+i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.Stats().PartialWrites == before.PartialWrites {
		if time.Now().After(deadline) {
			t.Fatalf("no partial write after %d signals to a reader that does not read: the test proves nothing (stats %+v)", n, ts.srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ponged atomic.Bool
	reader.ws.SetPongHandler(func(string) error { ponged.Store(true); return nil })
	if err := reader.ws.WriteControl(websocket.PingMessage, []byte("mid-stream"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := reader.expect("signal")
		if m.Data == nil || m.Data.Candidate == nil || !strings.Contains(m.Data.Candidate.Candidate, fmt.Sprintf(" %d typ host", 1000+i)) {
			t.Fatalf("frame %d: %+v, want the candidate with port %d", i, m.Data, 1000+i)
		}
	}
	if !ponged.Load() {
		_ = reader.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := reader.ws.ReadMessage()
		if err == nil {
			t.Fatalf("a frame after the last signal: %s", b)
		}
	}
	if !ponged.Load() {
		t.Fatal("the ping sent mid-stream was not answered")
	}
	after := ts.srv.Stats()
	t.Logf("%d frames: %d written directly, %d of them in part", n, after.DirectWrites-before.DirectWrites, after.PartialWrites-before.PartialWrites)
	if after.DirectWrites == before.DirectWrites {
		t.Fatal("no frame was written directly")
	}
}
