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
// forwarding latency: in the candidate's foundation and in the SDP's o=
// session id, both numbers a browser would put there too.
type signals struct {
	offerHead, offerTail   string // around the o= session id
	answerHead, answerTail string
	ufrag                  string
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
	if s.offerHead, s.offerTail, err = splitSessionID(offer.SDP); err != nil {
		return nil, err
	}
	if s.answerHead, s.answerTail, err = splitSessionID(answer.SDP); err != nil {
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

// splitSessionID cuts an SDP around the session id of its o= line.
func splitSessionID(sdp string) (head, tail string, err error) {
	i := strings.Index(sdp, "\no=")
	if i < 0 {
		return "", "", fmt.Errorf("no o= line in pion's SDP")
	}
	f := strings.SplitN(sdp[i+1:], " ", 3) // "o=-", sessid, rest
	if len(f) < 3 {
		return "", "", fmt.Errorf("short o= line in pion's SDP")
	}
	start := i + 1 + len(f[0]) + 1
	return sdp[:start], sdp[start+len(f[1]):], nil
}

// sdpFrame is a signal message carrying the offer or the answer stamped now.
func (s *signals) sdpFrame(typ string) []byte {
	head, tail := s.offerHead, s.offerTail
	if typ == "answer" {
		head, tail = s.answerHead, s.answerTail
	}
	sdp := head + strconv.FormatInt(stamp(), 10) + tail
	b, _ := json.Marshal(map[string]any{"type": "signal", "data": map[string]any{"sdp": map[string]string{"type": typ, "sdp": sdp}}})
	return b
}

// candidateJSON is host candidate i stamped now, as a browser's
// RTCIceCandidate serialises (toJSON): the shape every server kind is sent.
func (s *signals) candidateJSON(i int) []byte {
	return fmt.Appendf(nil, `{"candidate":"candidate:%d 1 udp %d 127.0.0.1 %d typ host generation 0 ufrag %s network-id %d","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"%s"}`,
		stamp(), 2122260223-i, 50000+i, s.ufrag, 1+i, s.ufrag)
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

// candidateStamp reads the send time out of a forwarded candidate.
func candidateStamp(c string) (int64, bool) {
	rest, ok := strings.CutPrefix(c, "candidate:")
	if !ok {
		return 0, false
	}
	f, _, _ := strings.Cut(rest, " ")
	ts, err := strconv.ParseInt(f, 10, 64)
	return ts, err == nil
}

// sdpStamp reads the send time out of a forwarded SDP's o= line.
func sdpStamp(sdp string) (int64, bool) {
	i := strings.Index(sdp, "\no=")
	if i < 0 {
		return 0, false
	}
	f := strings.SplitN(sdp[i+1:], " ", 3)
	if len(f) < 3 {
		return 0, false
	}
	ts, err := strconv.ParseInt(f[1], 10, 64)
	return ts, err == nil
}
