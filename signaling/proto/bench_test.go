package proto

import (
	"encoding/json"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// Chrome-shaped inputs: the captured offer (audio, video, data channel,
// with gathered candidates) and a trickled candidate as Chromium sends it.

const chromeCandidate = "candidate:3664091493 1 udp 2122194687 192.0.2.2 42831 typ host generation 0 ufrag QDIK network-id 1"

func BenchmarkCleanOffer(b *testing.B) {
	d := &SignalData{SDP: &SessionDescription{Type: "offer", SDP: chromeOffer(b)}}
	b.SetBytes(int64(len(d.SDP.SDP)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Clean(false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCleanOfferHidden(b *testing.B) {
	d := &SignalData{SDP: &SessionDescription{Type: "offer", SDP: chromeOffer(b)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.Clean(true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCleanCandidate(b *testing.B) {
	d := &SignalData{Candidate: &Candidate{Candidate: chromeCandidate, SDPMid: ptr("0"), SDPMLineIndex: ptr[uint16](0), UsernameFragment: ptr("QDIK")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := d.Clean(false); err != nil || !ok {
			b.Fatal(err)
		}
	}
}

// BenchmarkPionUnmarshalCandidate is what the old cleaner paid per
// candidate for pion's parser alone, for comparison.
func BenchmarkPionUnmarshalCandidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ice.UnmarshalCandidate(chromeCandidate); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPionUnmarshalOffer is what the old cleaner paid per offer for
// pion's parser alone, for comparison.
func BenchmarkPionUnmarshalOffer(b *testing.B) {
	text := chromeOffer(b)
	b.ReportAllocs()
	for b.Loop() {
		var d sdp.SessionDescription
		if err := d.UnmarshalString(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCandidate is the strict decode of a trickled candidate's
// signal frame, the commonest client message.
func BenchmarkDecodeCandidate(b *testing.B) {
	frame := []byte(`{"type":"signal","peer":"p1","data":{"candidate":{"candidate":"` + chromeCandidate + `","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"QDIK"}}}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOffer is the strict decode of an offer's signal frame.
func BenchmarkDecodeOffer(b *testing.B) {
	sdp, _ := json.Marshal(chromeOffer(b))
	frame := []byte(`{"type":"signal","peer":"p1","data":{"sdp":{"type":"offer","sdp":` + string(sdp) + `}}}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}
