package proto

import "strings"

// The allow-lists of what an RTP media section may say about codecs and
// header extensions: the codecs Chromium 156, Firefox, Safari and pion
// offer, the fmtp parameters they write (values checked by shape), the RTCP
// feedback they use and the RTP header extensions they know. Anything else
// is dropped: an unknown codec with its payload type, an unknown parameter,
// feedback or extension alone, so a browser that learns something new keeps
// working without it. A known parameter with a malformed value is refused.

type mediaKind uint8

const (
	kindAudio mediaKind = iota + 1
	kindVideo
	kindApplication
)

var mediaKindNames = [...]string{kindAudio: "audio", kindVideo: "video", kindApplication: "application"}

// What a codec's fmtp line is besides key=value parameters.
const (
	fmtpParams    = iota // key=value;key=value
	fmtpRedList          // RFC 2198: "111/111", the redundant payload types
	fmtpEventList        // RFC 4733: "0-15", the telephone events
)

type codecSpec struct {
	name   string // as written out (codec names are case-insensitive)
	kind   mediaKind
	rtx    bool     // a retransmission format: needs apt naming a kept format
	clocks []uint32 // the clock rates allowed
	stereo bool     // "/2" allowed (and for opus required)
	mono   bool     // no channel count (or "/1") allowed
	fmtp   int
	params []paramSpec // sorted by key: the output order, as Chromium writes them

}

type paramSpec struct {
	key   string
	check func(string) bool
	// hint: a value outside check is dropped with the parameter rather
	// than refused. It is so for parameters that only tune (rates, sizes,
	// FEC), whose absence means a safe default; a value of a parameter that
	// decides the format (profile, packetization, apt) is refused.
	hint bool
}

// Value shapes.
func intIn(lo, hi uint64) func(string) bool {
	return func(s string) bool {
		n, ok := parseUint(s, hi)
		return ok && n >= lo
	}
}

// The ranges are those the parameters are used with, not what their
// syntax allows, because every value a field may take is room for a covert
// payload: Opus rates and frame lengths are the codec's own, VP8 and VP9
// sizes and rates those of real cameras (Firefox writes max-fs=12288;max-fr=60).
var (
	bit         = intIn(0, 1)
	payloadType = intIn(0, 127)
	frameRate   = intIn(1, 240)
	frameSize   = intIn(1, 1<<18)
	opusRate    = oneOf("8000", "12000", "16000", "24000", "48000")
	opusFrame   = oneOf("3", "5", "10", "20", "40", "60", "80", "100", "120")
)

func oneOf(values ...string) func(string) bool {
	return func(s string) bool {
		for _, v := range values {
			if s == v {
				return true
			}
		}
		return false
	}
}

// h264ProfileLevelID checks profile-level-id: a known profile_idc, the
// constraint flags with their two reserved bits zero, and a level of the
// H.264 table. It is compared in lower case (written so).
func h264ProfileLevelID(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	s = lowerASCII(s)
	switch s[:2] {
	case "42", "4d", "58", "64", "6e", "7a", "f4":
	default:
		return false
	}
	if hexNibble(s[3])&0x3 != 0 {
		return false
	}
	switch s[4:] {
	case "09", "0a", "0b", "0c", "0d", "14", "15", "16", "1e", "1f", "20", "28", "29", "2a", "32", "33", "34", "3c", "3d", "3e":
		return true
	}
	return false
}

func hexNibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// codecs is the allow-list. Clock rates and channels are those of the
// RTP payload format of each.
var codecs = []codecSpec{
	{name: "opus", kind: kindAudio, clocks: []uint32{48000}, stereo: true, params: []paramSpec{
		{"cbr", bit, true},
		{"maxaveragebitrate", intIn(6000, 510000), true},
		{"maxplaybackrate", opusRate, true},
		{"minptime", opusFrame, true},
		{"sprop-maxcapturerate", opusRate, true},
		{"sprop-stereo", bit, true},
		{"stereo", bit, true},
		{"usedtx", bit, true},
		{"useinbandfec", bit, true},
	}},
	{name: "red", kind: kindAudio, clocks: []uint32{48000}, stereo: true, mono: true, fmtp: fmtpRedList},
	{name: "G722", kind: kindAudio, clocks: []uint32{8000}, mono: true},
	{name: "PCMU", kind: kindAudio, clocks: []uint32{8000}, mono: true},
	{name: "PCMA", kind: kindAudio, clocks: []uint32{8000}, mono: true},
	{name: "CN", kind: kindAudio, clocks: []uint32{8000, 16000, 32000, 48000}, mono: true},
	{name: "telephone-event", kind: kindAudio, clocks: []uint32{8000, 16000, 32000, 48000}, mono: true, fmtp: fmtpEventList},
	{name: "rtx", kind: kindAudio, rtx: true, clocks: []uint32{8000, 16000, 32000, 48000}, mono: true, params: rtxParams},
	{name: "VP8", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"max-fr", frameRate, true},
		{"max-fs", frameSize, true},
	}},
	{name: "VP9", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"max-fr", frameRate, true},
		{"max-fs", frameSize, true},
		{"profile-id", intIn(0, 3), false},
	}},
	{name: "H264", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"level-asymmetry-allowed", bit, true},
		{"packetization-mode", intIn(0, 2), false},
		{"profile-level-id", h264ProfileLevelID, false},
	}},
	{name: "H265", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"level-id", intIn(0, 255), false},
		{"profile-id", intIn(0, 11), false},
		{"tier-flag", bit, false},
		{"tx-mode", oneOf("SRST", "MRST", "MRMT"), false},
	}},
	{name: "AV1", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"level-idx", intIn(0, 31), false},
		{"profile", intIn(0, 2), false},
		{"tier", bit, false},
	}},
	{name: "rtx", kind: kindVideo, rtx: true, clocks: []uint32{90000}, mono: true, params: rtxParams},
	{name: "red", kind: kindVideo, clocks: []uint32{90000}, mono: true},
	{name: "ulpfec", kind: kindVideo, clocks: []uint32{90000}, mono: true},
	{name: "flexfec-03", kind: kindVideo, clocks: []uint32{90000}, mono: true, params: []paramSpec{
		{"repair-window", oneOf("10000000"), true},
	}},
}

var rtxParams = []paramSpec{{"apt", payloadType, false}}

// lookupCodec finds the codec of an rtpmap encoding name (case-insensitive)
// for a kind of section.
func lookupCodec(kind mediaKind, name string) (uint8, bool) {
	for i := range codecs {
		if codecs[i].kind == kind && strings.EqualFold(codecs[i].name, name) {
			return uint8(i), true
		}
	}
	return 0, false
}

// validEventList accepts the telephone-event lists browsers write: the 16
// DTMF events, or those and the flash. Others are dropped (the parameter is
// optional and "0-15" is its default).
func validEventList(s string) bool { return s == "0-15" || s == "0-16" }

// validRedList accepts an RFC 2198 list as Chromium writes it for audio
// ("111/111"): one primary format, repeated 2 to 4 times. ok is false when
// it is malformed; pt is the format it names.
func validRedList(s string) (pt uint8, ok bool) {
	first, rest, _ := cut(s, '/')
	n, ok := parseUint(first, 127)
	if !ok {
		return 0, false
	}
	count := 1
	for rest != "" {
		var f string
		f, rest, _ = cut(rest, '/')
		if f != first || count == 4 {
			return 0, false
		}
		count++
	}
	return uint8(n), count >= 2
}

// RTCP feedback (a=rtcp-fb) allowed, in the order Chromium writes them.
var feedbackTypes = []string{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli", "goog-lntf"}

func lookupFeedback(s string) (uint8, bool) {
	for i, f := range feedbackTypes {
		if s == f {
			return uint8(i), true
		}
	}
	return 0, false
}

// RTP header extensions (a=extmap) allowed: those Chromium, Firefox, Safari
// and pion offer, some behind field trials.
var extensionURIs = []string{
	"urn:ietf:params:rtp-hdrext:ssrc-audio-level",
	"urn:ietf:params:rtp-hdrext:csrc-audio-level",
	"urn:ietf:params:rtp-hdrext:toffset",
	"urn:ietf:params:rtp-hdrext:sdes:mid",
	"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
	"urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
	"urn:3gpp:video-orientation",
	"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
	"http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
	"http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
	"http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
	"http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
	"http://www.webrtc.org/experiments/rtp-hdrext/color-space",
	"http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00",
	"http://www.webrtc.org/experiments/rtp-hdrext/transport-wide-cc-02",
	"http://www.webrtc.org/experiments/rtp-hdrext/video-frame-tracking-id",
	"http://www.webrtc.org/experiments/rtp-hdrext/corruption-detection",
	"http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
	"https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
}

func lookupExtension(uri string) (uint8, bool) {
	for i, u := range extensionURIs {
		if uri == u {
			return uint8(i), true
		}
	}
	return 0, false
}
