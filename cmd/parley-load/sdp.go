package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// signals builds the signaling a real pair sends: an offer and an answer
// made by pion (what parley validates with pion's parser), and host
// candidates. Each carries the send time, so the receiver measures the
// forwarding latency, in fields parley's signal cleaner passes as they are
// (it writes the foundation and the o= line anew): a candidate's in the
// upper 24 bits of its priority and its port, an SDP's in its ICE password.
type signals struct {
	offer, answer []string // the SDP cut at its ICE password
	ufrag         string
}

// newSignals makes an offer and an answer with pion: a data channel, and
// for video an audio and a video track too (a browser's video offer is
// several kilobytes).
func newSignals(video bool) (*signals, error) {
	api := webrtc.NewAPI()
	offerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer offerer.Close()
	answerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer answerer.Close()
	if video {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := offerer.AddTransceiverFromKind(k); err != nil {
				return nil, err
			}
		}
	}
	if _, err := offerer.CreateDataChannel("chat", nil); err != nil {
		return nil, err
	}
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	if err := answerer.SetRemoteDescription(offer); err != nil {
		return nil, err
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	s := &signals{ufrag: "ab3F"}
	if s.offer, err = splitPassword(offer.SDP); err != nil {
		return nil, err
	}
	if s.answer, err = splitPassword(answer.SDP); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(offer.SDP, "\r\n") {
		if u, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			s.ufrag = u
			break
		}
	}
	return s, nil
}

// splitPassword cuts an SDP at its ICE password (the same in every
// section), for the stamp to take its place.
func splitPassword(sdp string) ([]string, error) {
	_, rest, ok := strings.Cut(sdp, "a=ice-pwd:")
	pwd, _, _ := strings.Cut(rest, "\r\n")
	if !ok || len(pwd) != pwdLen {
		return nil, fmt.Errorf("no ICE password of %d characters in pion's SDP", pwdLen)
	}
	return strings.Split(sdp, "a=ice-pwd:"+pwd), nil
}

// pwdLen is the length of pion's ICE passwords, and of the stamp written
// in their place: the send time in nanoseconds in decimal, zero-padded
// (digits are ICE characters).
const pwdLen = 32

// sdpFrame is a signal message carrying the offer or the answer stamped now.
func (s *signals) sdpFrame(typ string) []byte {
	parts := s.offer
	if typ == "answer" {
		parts = s.answer
	}
	sdp := strings.Join(parts, fmt.Sprintf("a=ice-pwd:%0*d", pwdLen, stamp()))
	b, _ := json.Marshal(map[string]any{"type": "signal", "data": map[string]any{"sdp": map[string]string{"type": typ, "sdp": sdp}}})
	return b
}

// candidateJSON is host candidate i stamped now, as a browser's
// RTCIceCandidate serialises (toJSON): the shape every server kind is sent.
// The stamp, in microseconds, is 40 bits: its upper 24 are the upper 24
// of the priority (whose low byte is the component's, 255), its lower 16
// the port.
func (s *signals) candidateJSON(i int) []byte {
	us := stamp() / 1e3
	if us&0xffff == 0 {
		us++ // port 0 is not a UDP candidate's: a microsecond late
	}
	return fmt.Appendf(nil, `{"candidate":"candidate:%d 1 udp %d 127.0.0.1 %d typ host generation 0 ufrag %s network-id %d","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"%s"}`,
		2382560187-i, uint32(us>>16)<<8|0xff, us&0xffff, s.ufrag, 1+i, s.ufrag)
}

// candidateFrame is a parley signal message with host candidate i stamped
// now, addressed to peer (protocol v2), or to the only partner (v1) when
// peer is empty.
func (s *signals) candidateFrame(i int, peer string) []byte {
	if peer == "" {
		return fmt.Appendf(nil, `{"type":"signal","data":{"candidate":%s}}`, s.candidateJSON(i))
	}
	return fmt.Appendf(nil, `{"type":"signal","peer":"%s","data":{"candidate":%s}}`, peer, s.candidateJSON(i))
}

// candidateStamp reads the send time out of a forwarded candidate: its
// priority and port (candidateJSON).
func candidateStamp(c string) (int64, bool) {
	rest, ok := strings.CutPrefix(c, "candidate:")
	if !ok {
		return 0, false
	}
	f := strings.Fields(rest) // foundation, component, transport, priority, address, port, ...
	if len(f) < 6 {
		return 0, false
	}
	prio, err1 := strconv.ParseUint(f[3], 10, 32)
	port, err2 := strconv.ParseUint(f[5], 10, 16)
	if err1 != nil || err2 != nil || prio&0xff != 0xff {
		return 0, false
	}
	return int64(prio>>8<<16|port) * 1e3, true
}

// sdpStamp reads the send time out of a forwarded SDP's ICE password.
func sdpStamp(sdp string) (int64, bool) {
	_, rest, ok := strings.Cut(sdp, "a=ice-pwd:")
	if !ok || len(rest) < pwdLen {
		return 0, false
	}
	ts, err := strconv.ParseInt(rest[:pwdLen], 10, 64)
	return ts, err == nil
}
