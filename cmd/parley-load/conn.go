package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling/proto"
)

// sources hands out 127.x.y.z source addresses, at most perSource
// connections on each at a time: parley caps connections per address, and
// the kernel's ephemeral ports are per source and destination pair.
type sources struct {
	slots chan netip.Addr
}

// newSources makes a pool for up to conns connections at once; n forces the
// number of addresses (0: as many as conns needs); perNetwork is how many
// addresses share one /24 (0: 250, every address of it the pool uses).
func newSources(conns, perSource, n, perNetwork int) (*sources, error) {
	if n <= 0 {
		n = (conns + perSource - 1) / perSource
	}
	n = max(n, 1)
	if perNetwork <= 0 || perNetwork > 250 {
		perNetwork = 250
	}
	if (n+perNetwork-1)/perNetwork > 250*250 {
		return nil, errors.New("too many source addresses")
	}
	s := &sources{slots: make(chan netip.Addr, n*perSource)}
	// Slots go out address by address round robin, so a few connections
	// spread over many addresses too.
	addrs := make([]netip.Addr, 0, n)
	for i := range n {
		// 127.0.1.1, 127.0.1.2 ... 127.0.1.250, 127.0.2.1 ...: skip 127.0.0.x,
		// where servers under test and other programs listen, and .0/.255.
		// With perNetwork under 250 a /24 holds that many, from .1 on:
		// parley limits new connections per /24.
		nw := i / perNetwork
		a, b, c := nw/250, 1+nw%250, 1+i%perNetwork
		addrs = append(addrs, netip.AddrFrom4([4]byte{127, byte(a), byte(b), byte(c)}))
	}
	for range perSource {
		for _, a := range addrs {
			s.slots <- a
		}
	}
	return s, nil
}

// get takes a slot, waiting while all are in use.
func (s *sources) get(ctx context.Context) (netip.Addr, error) {
	select {
	case a := <-s.slots:
		return a, nil
	case <-ctx.Done():
		return netip.Addr{}, ctx.Err()
	}
}

func (s *sources) put(a netip.Addr) {
	select {
	case s.slots <- a:
	default:
	}
}

// vconn is one virtual person's WebSocket. One goroutine reads; writes are
// serialised by wmu.
type vconn struct {
	ws  *websocket.Conn
	src netip.Addr
	wmu sync.Mutex
	// The proof of work (pow.go): welcome's challenge until prove solves
	// it, then the solution until the first join carries it. Used by the
	// goroutine that joins only.
	challenge *proto.PowChallenge
	solution  []byte

	// Set while dialling and greeting, then read by the person's goroutines.
	i      int          // the person's number in the run: PeerJS IDs and relay pairs derive from it
	node   int          // the index in -url of the server it connected to
	run    string       // the run's name (runID)
	limits serverLimits // what the server announced (parley's welcome.limits)
	paired bool         // paired once greeted (PeerJS: the client names its partner)
	connID string       // PeerJS: the data connection's id
	// peer is the partner's address, set on matched (or by greet): parley's
	// per-chat peer ID, a PeerJS ID, the relay's pair.
	peer string
	// you is parley's per-chat peer ID of this person, set on matched.
	you string
}

// inMsg is the part of a server message the generator looks at, for every
// kind of server: one struct, so decoding costs the generator the same
// whatever it talks to.
type inMsg struct {
	Type   string              `json:"type"`
	Role   string              `json:"role"`
	Reason string              `json:"reason"`
	Code   string              `json:"code"`
	Peer   string              `json:"peer"` // parley v2 matched: the partner's peer ID
	You    string              `json:"you"`  // parley v2 matched: this person's own peer ID
	Pair   string              `json:"pair"` // parley matched: the chat's ID, the same for both
	Limits *serverLimits       `json:"limits"`
	Pow    *proto.PowChallenge `json:"pow"`
	// Resumed is set on a matched that brings a chat back (after a
	// server restart or a failover), not a new one.
	Resumed *bool `json:"resumed"`
	// Data is a parley signal's (and the relay's, which passes parley's
	// frames), Payload a PeerJS one's.
	Data    *signalData `json:"data"`
	Payload *signalData `json:"payload"`
}

type signalData struct {
	SDP *struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	} `json:"sdp"`
	Candidate *struct {
		Candidate string `json:"candidate"`
	} `json:"candidate"`
}

var helloFrame = []byte(`{"type":"hello","v":1}`)

// dialErr is a failed dial with a short kind for the error table.
type dialErr struct {
	kind string
	err  error
}

func (e *dialErr) Error() string { return e.kind + ": " + e.err.Error() }

// dialPerson connects to parley from src, says hello (protocol v1) and
// waits for welcome.
func dialPerson(ctx context.Context, u string, src netip.Addr, timeout time.Duration) (*vconn, error) {
	return dial(ctx, parleyKind{v: 1}, u, "", 0, false, src, timeout)
}

// dial connects person i of run from src to a server of kind k and waits
// until the server has accepted it.
func dial(ctx context.Context, k kind, base, run string, i int, paired bool, src netip.Addr, timeout time.Duration) (*vconn, error) {
	u, err := k.dialURL(base, run, i, paired)
	if err != nil {
		return nil, &dialErr{kind: "dial:url", err: err}
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: timeout}
	d := websocket.Dialer{HandshakeTimeout: timeout, ReadBufferSize: 1024, WriteBufferSize: 1024, NetDialContext: nd.DialContext}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, u, nil)
	if err != nil && resp == nil && errors.Is(err, syscall.ECONNRESET) {
		// A new connection whose addresses and ports match one the
		// kernel still holds in TIME_WAIT can be reset; a client retries.
		time.Sleep(10 * time.Millisecond)
		ws, resp, err = d.DialContext(ctx, u, nil)
	}
	if err != nil {
		kind := "dial:" + netErrKind(err)
		if resp != nil {
			kind = "dial:http-" + strconv.Itoa(resp.StatusCode)
		}
		return nil, &dialErr{kind: kind, err: err}
	}
	c := &vconn{ws: ws, src: src, i: i, run: run}
	_ = ws.SetReadDeadline(time.Now().Add(timeout))
	if err := k.greet(c); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

func (c *vconn) send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *vconn) read() (*inMsg, error) {
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m inMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bad frame: %w", err)
	}
	return &m, nil
}

// close sends a normal close and closes the socket.
func (c *vconn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// closeKind names how a read ended, for the error table.
func closeKind(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return "close-" + strconv.Itoa(ce.Code)
	}
	return netErrKind(err)
}

func netErrKind(err error) string {
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &errno):
		return strings.ReplaceAll(strings.ToLower(errno.Error()), " ", "-")
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad-handshake"
	}
	return "other"
}

// clock is the generator's time base: timestamps inside candidates and SDP
// are nanoseconds since start on the monotonic clock, so sender and
// receiver (both in this process) agree.
var epoch = time.Now()

func stamp() int64 { return int64(time.Since(epoch)) }

func since(ts int64) time.Duration { return time.Since(epoch) - time.Duration(ts) }
