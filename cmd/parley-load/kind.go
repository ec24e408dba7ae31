package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// kind is a signaling server under test and how a client speaks to it. The
// idle and forward modes pace, time and measure the same way whatever the
// server; only the frames differ, so the figures of parley, PeerJS server and
// the bare relay of scripts/bench-signaling compare like with like.
type kind interface {
	// dialURL is the WebSocket URL person i opens. paired says whether i
	// is to be paired with person i^1 (forward) or stays alone (idle);
	// run keeps the names of one run apart from an earlier one's.
	dialURL(base, run string, i int, paired bool) (string, error)
	// greet runs once the socket is up, until the server has accepted
	// the client: parley's hello and welcome, PeerJS's OPEN, nothing for
	// the relay.
	greet(c *vconn) error
	// join is the frame that asks to be paired (parley's join), or nil
	// when the URL pairs the connection already.
	join(media string) []byte
	// event says what a server message means to c; a matched event sets
	// c.peer.
	event(c *vconn, m *inMsg) (ev event, detail string)
	// candidate is a signal carrying candidate k to c's partner.
	candidate(s *signals, c *vconn, k int) []byte
}

// event is what a server message means to the generator.
type event int

const (
	evOther   event = iota // nothing to count
	evMatched              // c is paired and knows its partner's address
	evSignal               // a forwarded candidate: detail is its candidate line
	evError                // the server refused something: detail says what
	evLeft                 // the partner went: detail says why
)

// kinds are the servers the generator speaks to, by -server name.
var kinds = map[string]kind{
	"parley": parleyKind{v: 2},
	"peerjs": peerjsKind{},
	"relay":  relayKind{},
}

// kindFlag registers -server on fs.
func kindFlag(fs *flag.FlagSet, c *common) {
	fs.Func("server", "server kind: parley (default), peerjs (PeerJS server 1.0, -url ws://HOST:PORT/peerjs) or relay (scripts/bench-signaling.d/relay)", func(s string) error {
		k, ok := kinds[s]
		if !ok {
			return fmt.Errorf("unknown server kind %q", s)
		}
		c.Kind, c.KindName = k, s
		return nil
	})
}

// parleyKind speaks parley's protocol: hello, welcome, join, matched and
// signals; in v2 matched names the partner's peer ID and signals are
// addressed to it, in v1 they go to the only partner.
type parleyKind struct{ v int }

var helloV2Frame = []byte(`{"type":"hello","v":2}`)

func (parleyKind) dialURL(base, _ string, _ int, _ bool) (string, error) { return base, nil }

func (k parleyKind) greet(c *vconn) error {
	hello := helloV2Frame
	if k.v == 1 {
		hello = helloFrame
	}
	if err := c.send(hello); err != nil {
		return &dialErr{kind: "hello:" + netErrKind(err), err: err}
	}
	for {
		m, err := c.read()
		if err != nil {
			return &dialErr{kind: "welcome:" + closeKind(err), err: err}
		}
		switch m.Type {
		case "welcome":
			if m.Limits != nil {
				c.limits = *m.Limits
			}
			c.challenge = m.Pow
			return nil
		case "error":
			return &dialErr{kind: "welcome:server-" + m.Code, err: errors.New(m.Code)}
		}
	}
}

func (parleyKind) join(media string) []byte {
	if media == "video" {
		return joinVideo
	}
	return joinFrame
}

func (parleyKind) event(c *vconn, m *inMsg) (event, string) {
	switch m.Type {
	case "matched":
		c.peer, c.you = m.Peer, m.You
		return evMatched, ""
	case "signal":
		if m.Data != nil && m.Data.Candidate != nil {
			return evSignal, m.Data.Candidate.Candidate
		}
	case "error":
		return evError, "server:" + m.Code
	case "partner-left":
		return evLeft, "partner-left:" + m.Reason
	}
	return evOther, ""
}

func (parleyKind) candidate(s *signals, c *vconn, k int) []byte {
	return s.candidateFrame(k, c.peer)
}

// serverLimits are the limits a server announces (parley: welcome.limits).
type serverLimits struct {
	MessagesPerSecond float64 `json:"messagesPerSecond"`
}

// underLimit is the share of an announced per-connection rate the
// generator uses at most, so pacing jitter never trips the limiter.
const underLimit = 0.9

// checkRate refuses a per-connection rate over what the server announced.
func checkRate(perConn float64, lim serverLimits, rate float64) error {
	if lim.MessagesPerSecond <= 0 || perConn <= underLimit*lim.MessagesPerSecond {
		return nil
	}
	need := int(rate/(2*underLimit*lim.MessagesPerSecond)) + 1
	return fmt.Errorf("%.1f messages a second per connection is over %.0f%% of the server's limit of %.0f (welcome.limits.messagesPerSecond): use at least %d pairs",
		perConn, 100*underLimit, lim.MessagesPerSecond, need)
}

// runID names one run's peers and pairs, so a server that still holds an
// earlier run's connections never sees the same name twice.
func runID() string { return strconv.FormatInt(time.Now().UnixNano()%1e9, 36) }
