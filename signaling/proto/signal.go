package proto

import "time"

// SignalData is the payload of a signal: exactly one of SDP or Candidate.
type SignalData struct {
	SDP       *SessionDescription `json:"sdp,omitempty"`
	Candidate *Candidate          `json:"candidate,omitempty"`
}

// SessionDescription mirrors RTCSessionDescriptionInit.
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// Candidate mirrors RTCIceCandidateInit. An empty Candidate string is the
// end-of-candidates marker.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Clean checks the data and returns what may be forwarded to the other
// browser: not the sender's text but a description or candidate written anew
// from the values WebRTC needs (see sanitize.go). With hide set (the sender
// or the recipient hides their address), only relay candidates pass and no
// address of the sender's is left in a description. forward is false when
// nothing of it may go (a non-relay candidate under hide): the caller drops
// it without an error. Errors wrap ErrBadSignal, ErrBadSDP or
// ErrBadCandidate with a reason that never quotes the input. A description's
// o= version is the time it was cleaned, so cleaning one twice differs there.
func (d *SignalData) Clean(hide bool) (out *SignalData, forward bool, err error) {
	if d == nil || (d.SDP == nil) == (d.Candidate == nil) {
		return nil, false, ErrBadSignal
	}
	if d.SDP != nil {
		s, err := cleanSDP(d.SDP, hide, sessionVersion(time.Now()))
		if err != nil {
			return nil, false, err
		}
		return &SignalData{SDP: s}, true, nil
	}
	c, ok, err := cleanCandidate(d.Candidate, hide)
	if err != nil || !ok {
		return nil, false, err
	}
	return &SignalData{Candidate: c}, true, nil
}
