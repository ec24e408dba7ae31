package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// peerjsKind speaks PeerJS server 1.0's WebSocket protocol, as the PeerJS
// client does (peerjs's socket.ts and negotiator.ts):
//
//   - GET /peerjs?key=peerjs&id=ID&token=TOKEN: the client names itself;
//     the server answers {"type":"OPEN"} (or ERROR, ID-TAKEN) and holds it;
//   - {"type":"CANDIDATE","payload":{"candidate":{...},"type":"data",
//     "connectionId":"dc_..."},"dst":"PEER"}: the server stamps src and
//     passes {type, src, dst, payload} to the peer named dst (OFFER and
//     ANSWER the same way); there is no matching, the client knows whom it
//     calls.
//
// The PeerJS client also sends {"type":"HEARTBEAT"} every 5 s; the runs are
// shorter than the server's 60 s alive timeout, so the generator leaves it
// out, as it leaves out parley's pongs being answered (gorilla does that)
// and the relay's nothing: no messages but the measured ones.
type peerjsKind struct{}

func peerID(run string, i int) string { return "p" + run + "-" + strconv.Itoa(i) }

func (peerjsKind) dialURL(base, run string, i int, _ bool) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	// The client's token is random: it lets a reconnect take its ID back.
	u.RawQuery = url.Values{"key": {"peerjs"}, "id": {peerID(run, i)}, "token": {rand.Text()[:10]}}.Encode()
	return u.String(), nil
}

func (peerjsKind) greet(c *vconn) error {
	for {
		m, err := c.read()
		if err != nil {
			return &dialErr{kind: "open:" + closeKind(err), err: err}
		}
		switch m.Type {
		case "OPEN":
			// Everyone is dialled before anyone sends: the partner's ID is
			// known and will be there.
			c.peer = peerID(c.run, c.i^1)
			c.paired = true
			c.connID = strings.ToLower(rand.Text()[:10])
			return nil
		case "ERROR", "ID-TAKEN":
			return &dialErr{kind: "open:server-" + m.Type, err: errors.New(m.Type)}
		}
	}
}

func (peerjsKind) join(string) []byte { return nil }

func (peerjsKind) event(c *vconn, m *inMsg) (event, string) {
	switch m.Type {
	case "CANDIDATE":
		if m.Payload != nil && m.Payload.Candidate != nil {
			return evSignal, m.Payload.Candidate.Candidate
		}
	case "ERROR":
		return evError, "server:ERROR"
	case "LEAVE", "EXPIRE":
		return evLeft, "partner-left:" + m.Type
	}
	return evOther, ""
}

func (peerjsKind) candidate(s *signals, c *vconn, k int) []byte {
	return fmt.Appendf(nil, `{"type":"CANDIDATE","payload":{"candidate":%s,"type":"data","connectionId":"dc_%s"},"dst":"%s"}`,
		s.candidateJSON(k), c.connID, c.peer)
}
