package proto

import (
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

const (
	maxSDPLines    = 512
	maxMidLength   = 32
	maxUfragLength = 256
)

// cleanSDP checks a description and applies the hide-IP policy. (Being
// replaced by a rebuild from parsed values: issue 10 point 12.)
func cleanSDP(s *SessionDescription, hide bool) (*SessionDescription, error) {
	if s.Type != "offer" && s.Type != "answer" {
		return nil, fmt.Errorf("%w: type must be offer or answer", ErrBadSDP)
	}
	if strings.Count(s.SDP, "\n") > maxSDPLines {
		return nil, fmt.Errorf("%w: too many lines", ErrBadSDP)
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(s.SDP); err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrBadSDP)
	}
	if len(parsed.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no media section", ErrBadSDP)
	}
	out := &SessionDescription{Type: s.Type, SDP: s.SDP}
	if hide {
		out.SDP = hiddenSDP(s.SDP)
	}
	return out, nil
}

func cleanCandidate(c *Candidate, hide bool) (*Candidate, bool, error) {
	if c.SDPMid != nil && len(*c.SDPMid) > maxMidLength {
		return nil, false, fmt.Errorf("%w: sdpMid too long", ErrBadCandidate)
	}
	if c.UsernameFragment != nil && len(*c.UsernameFragment) > maxUfragLength {
		return nil, false, fmt.Errorf("%w: usernameFragment too long", ErrBadCandidate)
	}
	out := *c
	if c.Candidate == "" { // end of candidates
		return &out, true, nil
	}
	if _, err := ice.UnmarshalCandidate(c.Candidate); err != nil {
		return nil, false, fmt.Errorf("%w: does not parse", ErrBadCandidate)
	}
	if hide {
		hidden, ok := hiddenCandidate(strings.TrimPrefix(c.Candidate, "a="))
		if !ok {
			return nil, false, nil
		}
		out.Candidate = hidden
	}
	return &out, true, nil
}

// The hide-my-IP policy. When a person asked to hide their address, the
// server removes every candidate that is not a relay candidate and every
// address from what it forwards of theirs, so the partner never learns it,
// even from a client that ignores the setting.

// hiddenSDP returns the description with every non-relay candidate removed,
// the related address of relay candidates blanked, and the addresses in the
// o=, c= and a=rtcp lines replaced by the unspecified address.
func hiddenSDP(s string) string {
	lines := strings.SplitAfter(s, "\n")
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		body := strings.TrimRight(line, "\r\n")
		eol := line[len(body):]
		switch {
		case strings.HasPrefix(body, "a=candidate:"):
			c, ok := hiddenCandidate(strings.TrimPrefix(body, "a="))
			if !ok {
				continue
			}
			body = "a=" + c
		case strings.HasPrefix(body, "c="):
			body = blankConnection(body)
		case strings.HasPrefix(body, "o="):
			body = blankOrigin(body)
		case strings.HasPrefix(body, "a=rtcp:"):
			body = blankRTCP(body)
		}
		out = append(out, body+eol)
	}
	return strings.Join(out, "")
}

// hiddenCandidate keeps a relay candidate with its related address blanked
// and refuses every other type. The related address of a relay candidate is
// the person's own mapped address: forwarding it would defeat the point.
func hiddenCandidate(c string) (string, bool) {
	if c == "" {
		return c, true // end of candidates
	}
	parsed, err := ice.UnmarshalCandidate(c)
	if err != nil || parsed.Type() != ice.CandidateTypeRelay {
		return "", false
	}
	f := strings.Fields(c)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "raddr":
			f[i+1] = "0.0.0.0"
		case "rport":
			f[i+1] = "0"
		}
	}
	return strings.Join(f, " "), true
}

func blankConnection(line string) string {
	// c=IN IP4 203.0.113.7 -> c=IN IP4 0.0.0.0
	f := strings.Fields(line)
	if len(f) >= 3 {
		return f[0] + " " + f[1] + " " + unspecified(f[1])
	}
	return "c=IN IP4 0.0.0.0"
}

func blankOrigin(line string) string {
	// o=- 4611 2 IN IP4 203.0.113.7
	f := strings.Fields(line)
	if len(f) >= 6 {
		f[5] = unspecified(f[4])
		return strings.Join(f[:6], " ")
	}
	return line
}

func blankRTCP(line string) string {
	// a=rtcp:9 IN IP4 203.0.113.7 -> a=rtcp:9 IN IP4 0.0.0.0
	f := strings.Fields(line)
	if len(f) >= 4 {
		return f[0] + " " + f[1] + " " + f[2] + " " + unspecified(f[2])
	}
	return f[0]
}

func unspecified(family string) string {
	if family == "IP6" {
		return "::"
	}
	return "0.0.0.0"
}
