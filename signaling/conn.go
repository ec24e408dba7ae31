package signaling

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling/internal/sockio"
	"github.com/parley-chat/parley/signaling/proto"
	"golang.org/x/time/rate"
)

// conn is one WebSocket. The reader goroutine owns the read side; a writer
// goroutine runs only while there is something to send, so an idle
// connection costs one goroutine. Nothing else touches the socket.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	addr   netip.Addr    // in memory only: for bans and reports
	prefix netip.Prefix  // the address normalised to /32 or /64
	gen    atomic.Uint64 // the session's connection generation, from hello
	hl     Identity      // who the helpline cookies say this is, read at the upgrade (helpline_wire.go)

	limiter       *rate.Limiter // every message
	actionLimiter *rate.Limiter // join, next, report

	// Owned by the reader goroutine.
	hello bool
	// byeAt is when the client said bye on this connection (zero: never).
	// Set and read on the reader goroutine: bye is handled there, and
	// disconnected runs there after the last read.
	byeAt time.Time
	// abuse is nil until the connection first sends a rate-limited or an
	// invalid message: an honest connection never carries its three
	// limiters (about 300 bytes of every idle connection's 4.5 KB of heap).
	abuse *abuseBudgets

	queued atomic.Int64 // bytes waiting for the writer, for the budgets

	// What a new leader of a cluster needs to take this connection over
	// (Server.reannounce), in memory only: the session, its token, the
	// last join (the preference with it) and since when it waits.
	sm          sync.Mutex // guards the fields below
	sid         string     // the session; empty for a connection only told it is banned
	token       string
	v           int
	lastJoin    *proto.Inbound
	queuedSince time.Time

	// try lets send write on the caller's goroutine when nothing waits
	// (writeNow); nil under TLS, where only the writer goroutine writes.
	try sockio.TryWriter

	mu sync.Mutex // guards the fields below
	// queue holds what waits for the writer: text frames, pings and pongs.
	queue []outFrame
	// tail is the rest of a frame writeNow could write only in part: it
	// goes out before anything else, as it is, not through gorilla.
	tail      []byte
	writing   bool // a writer (the goroutine, or writeNow) owns the socket
	closing   bool // a close frame is queued: nothing more is accepted
	dead      bool // the socket is closed
	closeCode int
	closeText string
	drained   chan struct{} // closed once the close frame is written (or cannot be)
	pinger    *time.Timer
}

// outFrame is one frame waiting for the writer.
type outFrame struct {
	b  []byte
	op int // websocket.TextMessage, PingMessage or PongMessage
}

func newConn(s *Server, ws *websocket.Conn, addr netip.Addr, p netip.Prefix, sid, token string) *conn {
	cfg := &s.cfg
	c := &conn{
		srv:           s,
		ws:            ws,
		addr:          addr,
		prefix:        p,
		sid:           sid,
		token:         token,
		limiter:       rate.NewLimiter(rate.Limit(cfg.MessagesPerSecond), cfg.Burst),
		actionLimiter: rate.NewLimiter(rate.Limit(cfg.ActionsPerSecond), cfg.ActionBurst),
	}
	if !s.cfg.NoDirectWrites {
		c.try = sockio.For(ws.UnderlyingConn()) // nil under TLS
	}
	c.mu.Lock() // the timer may fire before the assignment is seen otherwise
	c.pinger = time.AfterFunc(cfg.PingInterval, c.ping)
	c.mu.Unlock()
	return c
}

// send queues a frame. A reader too slow to keep up is disconnected rather
// than allowed to hold memory: past MaxQueuedBytes for this connection, or
// past MaxQueuedTotal for all of them (then the one with the longest queue
// goes). When nothing waits it writes the frame itself (writeNow), with one
// write(2) that does not wait; otherwise it queues. It never blocks, so it
// may be called under any lock.
func (c *conn) send(frame []byte) bool {
	n := int64(len(frame))
	c.mu.Lock()
	if c.closing || c.dead {
		c.mu.Unlock()
		return false
	}
	if c.queued.Load()+n > int64(c.srv.cfg.MaxQueuedBytes) {
		c.srv.metrics.slowDropped.Add(1)
		c.killLocked()
		c.mu.Unlock()
		return false
	}
	c.track(frame)
	if c.try != nil && !c.writing && len(c.queue) == 0 && c.tail == nil {
		// Nothing waits and no writer runs: write it here, now, if the
		// socket's buffer takes it, and start no goroutine (a goroutine
		// per frame was about a fifth of the CPU of a forwarded signal,
		// docs/BENCHMARKS.md).
		c.writing = true
		c.mu.Unlock()
		c.writeNow(frame)
		return true
	}
	c.queue = append(c.queue, outFrame{frame, websocket.TextMessage})
	c.queued.Add(n)
	c.startWriterLocked()
	c.mu.Unlock()
	if c.srv.queued.Add(n) > c.srv.cfg.MaxQueuedTotal {
		c.srv.shedLongestQueue()
	}
	return true
}

// writeNow writes frame as one WebSocket text frame on the caller's
// goroutine, without waiting: what the socket's buffer does not take now
// (all of it when the reader is slow) becomes the tail, which the writer
// goroutine sends before anything queued meanwhile. The caller has set
// writing, so nothing else writes meanwhile; writeNow hands the socket on.
func (c *conn) writeNow(frame []byte) {
	wire := make([]byte, 0, len(frame)+10)
	wire = append(wsHeader(wire, len(frame)), frame...)
	n, err := c.try.TryWrite(wire)
	c.mu.Lock()
	if c.dead {
		c.writing = false
		c.mu.Unlock()
		return
	}
	if err != nil {
		c.writing = false
		c.killLocked() // the socket failed: the reader sees it and cleans up
		c.mu.Unlock()
		return
	}
	c.srv.metrics.directWrites.Add(1)
	over := false
	if n < len(wire) {
		c.srv.metrics.partialWrites.Add(1)
		c.tail = wire[n:]
		c.queued.Add(int64(len(c.tail)))
		over = c.srv.queued.Add(int64(len(c.tail))) > c.srv.cfg.MaxQueuedTotal
	}
	if c.tail == nil && len(c.queue) == 0 && !c.closing {
		c.writing = false
		c.mu.Unlock()
		return
	}
	// Something came meanwhile (a frame, a ping, the close frame of close):
	// writing stays set, and the goroutine owns the socket now.
	go c.writeLoop()
	c.mu.Unlock()
	if over {
		c.srv.shedLongestQueue()
	}
}

// wsHeader appends the header of an unmasked, final text frame of n bytes
// (RFC 6455 section 5.2), as a server sends it.
func wsHeader(b []byte, n int) []byte {
	b = append(b, 0x81)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}

// close queues a close frame after what is already queued; the writer sends
// it and closes the socket.
func (c *conn) close(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead {
		return
	}
	c.closing = true
	c.closeCode, c.closeText = code, text
	c.drained = make(chan struct{})
	c.startWriterLocked()
}

// finish waits, for at most the write timeout, until a queued close frame is
// on the wire, then closes the socket.
func (c *conn) finish() {
	c.mu.Lock()
	drained := c.drained
	c.mu.Unlock()
	if drained != nil {
		t := time.NewTimer(c.srv.cfg.WriteTimeout)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	}
	c.kill()
}

func (c *conn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead {
		return
	}
	c.queue = append(c.queue, outFrame{nil, websocket.PingMessage})
	c.startWriterLocked()
	c.pinger.Reset(c.srv.cfg.PingInterval)
}

// pong queues the answer to a client's ping, so that it goes out through
// the writer like everything else and never between a frame's parts. Its
// bytes count in the budgets: a ping flood is a slow reader like another.
func (c *conn) pong(data string) error {
	n := int64(len(data)) + 16
	c.mu.Lock()
	if c.closing || c.dead {
		c.mu.Unlock()
		return nil
	}
	if c.queued.Load()+n > int64(c.srv.cfg.MaxQueuedBytes) {
		c.srv.metrics.slowDropped.Add(1)
		c.killLocked()
		c.mu.Unlock()
		return nil
	}
	c.queue = append(c.queue, outFrame{[]byte(data), websocket.PongMessage})
	c.queued.Add(n)
	c.startWriterLocked()
	c.mu.Unlock()
	c.srv.queued.Add(n)
	return nil
}

func (c *conn) startWriterLocked() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// killLocked closes the socket at once and gives back the queue's bytes;
// the reader sees the error and cleans up. Closing a socket does not block.
func (c *conn) killLocked() {
	if c.dead {
		return
	}
	c.dead = true
	c.queue, c.tail = nil, nil
	c.srv.queued.Add(-c.queued.Swap(0))
	c.pinger.Stop()
	_ = c.ws.Close()
	if c.drained != nil {
		close(c.drained)
	}
}

func (c *conn) kill() {
	c.mu.Lock()
	c.killLocked()
	c.mu.Unlock()
}

func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.dead {
			c.writing = false
			c.mu.Unlock()
			return
		}
		if tail := c.tail; tail != nil {
			c.tail = nil
			c.queued.Add(-int64(len(tail)))
			c.srv.queued.Add(-int64(len(tail)))
			c.mu.Unlock()
			nc := c.ws.UnderlyingConn()
			_ = nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
			if _, err := nc.Write(tail); err != nil {
				c.mu.Lock()
				c.writing = false
				c.killLocked()
				c.mu.Unlock()
				return
			}
			continue
		}
		if len(c.queue) == 0 {
			if c.closing {
				code, text := c.closeCode, c.closeText
				c.mu.Unlock()
				deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline)
				c.mu.Lock()
				c.writing = false
				c.killLocked()
				c.mu.Unlock()
				return
			}
			c.writing = false
			c.queue = nil // let a burst's backing array go
			c.mu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = outFrame{}
		c.queue = c.queue[1:]
		n := int64(len(f.b))
		if f.op == websocket.PongMessage {
			n += 16 // as pong counted it
		}
		if n > 0 {
			// Given back as it leaves the queue, under the lock, so a kill
			// meanwhile cannot give it back twice.
			c.queued.Add(-n)
			c.srv.queued.Add(-n)
		}
		c.mu.Unlock()

		deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
		var err error
		if f.op == websocket.TextMessage {
			_ = c.ws.SetWriteDeadline(deadline)
			err = c.ws.WriteMessage(websocket.TextMessage, f.b)
		} else {
			err = c.ws.WriteControl(f.op, f.b, deadline)
		}
		if err != nil {
			c.mu.Lock()
			c.writing = false
			c.killLocked()
			c.mu.Unlock()
			return
		}
	}
}

// readLoop runs on the connection's goroutine until the socket closes.
func (c *conn) readLoop() {
	cfg := &c.srv.cfg
	c.ws.SetReadLimit(proto.MaxFrameBytes)
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	c.ws.SetPingHandler(c.pong)
	c.ws.SetPongHandler(func(string) error {
		if !c.hello {
			return nil // pongs do not stand in for hello
		}
		return c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	})
	for {
		// Once hello is said, the pong wait bounds silence. Extending it
		// before each read, rather than after, covers the quiet time right
		// after hello, which the hello timeout must not cut short.
		if c.hello {
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
		}
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.srv.metrics.countError(proto.CodeTooLarge) // gorilla closed with 1009
			}
			return
		}
		if c.sidNow() == "" {
			continue // a connection that is only waiting to be closed
		}
		if !c.limiter.Allow() {
			c.srv.metrics.rateLimited.Add(1)
			if !c.budgets().dropped.Allow() {
				c.close(websocket.ClosePolicyViolation, "rate limit exceeded")
				return
			}
			if c.budgets().errs.Allow() {
				c.send(proto.ErrorFrame(proto.ErrRateLimited))
			}
			continue
		}
		if typ != websocket.TextMessage {
			c.fail(proto.ErrBadMessage)
			continue
		}
		if !c.hello {
			// Until hello, on a goroutine of its own: see handleAside.
			c.handleAside(frame)
			continue
		}
		c.handle(frame)
	}
}

// handle decodes and runs one message on the reader goroutine.
func (c *conn) handle(frame []byte) {
	m, err := proto.Decode(frame)
	if err != nil {
		c.fail(err)
		return
	}
	if err := c.srv.dispatch(c, m); err != nil {
		c.fail(err)
	}
}

// handleAside runs handle on a short-lived goroutine and waits for it.
// Decoding hello and building the welcome take an 8 KiB stack; the reader
// would keep it for as long as the connection stays idle, because the
// runtime only shrinks a stack less than a quarter used and a reader parked
// in ReadMessage uses more than 2 KiB. Aside, the reader stays at the 4 KiB
// that reading alone needs (5,000 idle connections: 8.2 KB of stack each
// before, 4.1 KB after; the bare relay of scripts/bench-signaling also
// needs 4.1 KB). One goroutine per connection's hello costs nothing
// measurable; later messages run inline.
func (c *conn) handleAside(frame []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.handle(frame)
	}()
	<-done
}

// abuseBudgets are MaxDropped rate-limited and MaxBadMessages invalid
// messages, refilled at one a second, so a long-lived honest client with the
// odd late candidate never runs out, and a flood does at once; and the
// rate_limited answers, so a flood is not echoed.
type abuseBudgets struct {
	dropped, bad, errs *rate.Limiter
}

// budgets returns the connection's abuse budgets, made full on first use:
// the same as made full at connect, since nothing drew on them before.
func (c *conn) budgets() *abuseBudgets {
	if c.abuse == nil {
		cfg := &c.srv.cfg
		c.abuse = &abuseBudgets{
			dropped: rate.NewLimiter(1, cfg.MaxDropped),
			bad:     rate.NewLimiter(1, cfg.MaxBadMessages),
			errs:    rate.NewLimiter(1, 3),
		}
	}
	return c.abuse
}

// fail answers a bad message with an error and closes the connection once
// it has sent too many.
func (c *conn) fail(err error) {
	c.srv.metrics.countError(proto.CodeOf(err))
	if !c.budgets().bad.Allow() {
		c.close(websocket.ClosePolicyViolation, "too many invalid messages")
		return
	}
	c.send(proto.ErrorFrame(err))
}

// sidNow is the connection's session now (a new leader may give another).
func (c *conn) sidNow() string {
	c.sm.Lock()
	defer c.sm.Unlock()
	return c.sid
}

func (c *conn) setSession(sid string, gen uint64) {
	c.sm.Lock()
	c.sid = sid
	c.gen.Store(gen)
	c.sm.Unlock()
}

// state is what reannounce sends; ok is false before hello.
func (c *conn) state() (token string, join *proto.Inbound, since time.Time, v int, ok bool) {
	c.sm.Lock()
	defer c.sm.Unlock()
	return c.token, c.lastJoin, c.queuedSince, c.v, c.v != 0 && c.sid != ""
}

// track follows, from what the hub sends, whether the connection waits in
// the queue: queued starts it, anything that ends a wait ends it.
func (c *conn) track(frame []byte) {
	t, ok := frameType(frame)
	if !ok {
		return
	}
	c.sm.Lock()
	switch t {
	case proto.TypeQueued:
		if c.queuedSince.IsZero() {
			c.queuedSince = time.Now()
		}
	case proto.TypeMatched, proto.TypeLeft, proto.TypeRoomJoined, proto.TypeBanned:
		c.queuedSince = time.Time{}
	}
	c.sm.Unlock()
}

// frameType reads the type of a frame the hub encoded: it always comes
// first.
func frameType(frame []byte) (string, bool) {
	const pre = `{"type":"`
	if len(frame) < len(pre) || string(frame[:len(pre)]) != pre {
		return "", false
	}
	rest := frame[len(pre):]
	for i, b := range rest {
		if b == '"' {
			return string(rest[:i]), true
		}
		if i > 32 {
			break
		}
	}
	return "", false
}
