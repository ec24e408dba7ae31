package main

import (
	"net/url"
	"strconv"
)

// relayKind speaks to the bare relay: the URL names the pair, the relay
// says {"type":"paired"} and passes every frame on as it is. The generator
// sends it parley's own signal frames, so the bytes on the wire are the
// same as parley's.
type relayKind struct{}

func (relayKind) dialURL(base, run string, i int, paired bool) (string, error) {
	if !paired {
		return base, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.RawQuery = url.Values{"pair": {run + "-" + strconv.Itoa(i/2)}}.Encode()
	return u.String(), nil
}

func (relayKind) greet(*vconn) error { return nil }

func (relayKind) join(string) []byte { return nil }

func (relayKind) event(c *vconn, m *inMsg) (event, string) {
	switch m.Type {
	case "paired":
		c.peer = strconv.Itoa(c.i ^ 1)
		return evMatched, ""
	case "signal":
		if m.Data != nil && m.Data.Candidate != nil {
			return evSignal, m.Data.Candidate.Candidate
		}
	}
	return evOther, ""
}

func (relayKind) candidate(s *signals, c *vconn, k int) []byte {
	return s.candidateFrame(k, c.peer)
}
