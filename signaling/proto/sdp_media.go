package proto

import (
	"math/bits"
	"slices"
	"strings"
)

// Media sections (m= and what follows it): parsed into values and checked
// against the allow-lists of sdp_codecs.go; sdp_write.go writes them anew.

type mediaSection struct {
	kind  mediaKind
	port0 bool // rejected, or bundle-only: no transport of its own
	codec []codec
	ptIdx [128]int8 // payload type -> index in codec, -1 if not a format

	tr              transport
	dir             string
	mid             string
	extmaps         []extmap
	msid            *msid // the first a=msid, if any
	ssrcs           []uint32
	groups          []ssrcGroup
	cands           []iceCandidate
	wildcardFB      uint8
	maxMessage      uint32
	hasRTCP         bool
	allowMixed      bool
	rtcpMux         bool
	rtcpRsize       bool
	rtcpXR          bool
	bundleOnly      bool
	endOfCandidates bool
	sctpPort        bool
	hasMaxMessage   bool
}

type codec struct {
	pt       uint8
	spec     uint8 // index in codecs, if known
	known    bool  // an rtpmap of an allowed codec
	mapped   bool  // an rtpmap at all
	stereo   bool
	keep     bool
	hasApt   bool
	apt      uint8
	fb       uint8 // bit i: feedbackTypes[i]
	clock    uint32
	fmtp     string // as given, checked in finish
	hasFmtp  bool
	list     string // a checked red or telephone-event list
	from, to uint16 // range of this codec's parameters in sdpDesc.params
}

type fmtpParam struct {
	key   uint8 // index in the codec's params
	value string
}

type extmap struct {
	id  uint8
	uri uint8 // index in extensionURIs
	dir string
}

type msid struct {
	stream string // "-" or the ID as given; replaced by mapped when written
	mapped string
}

type ssrcGroup struct {
	fid  bool // FID, else FEC-FR
	a, b uint32
}

func (m *mediaSection) parseMLine(v string) error {
	kind, v := nextField(v)
	portField, v := nextField(v)
	proto, fmts := nextField(v)
	switch kind {
	case "audio":
		m.kind = kindAudio
	case "video":
		m.kind = kindVideo
	case "application":
		m.kind = kindApplication
	default:
		return bad("unknown media")
	}
	port, ok := parseUint(portField, 65535)
	if !ok {
		return bad("bad port")
	}
	// The port of a section in use is the default candidate's, which ICE
	// ignores (RFC 8839); it is written as 9, as JSEP does. 0 keeps its
	// meaning: rejected, or bundle-only.
	m.port0 = port == 0
	if m.kind == kindApplication {
		if proto != "UDP/DTLS/SCTP" || fmts != "webrtc-datachannel" {
			return bad("not a WebRTC data channel section")
		}
		return nil
	}
	if proto != "UDP/TLS/RTP/SAVPF" {
		return bad("not a WebRTC media profile")
	}
	for i := range m.ptIdx {
		m.ptIdx[i] = -1
	}
	m.codec = make([]codec, 0, strings.Count(fmts, " ")+1)
	for fmts != "" {
		var f string
		f, fmts = nextField(fmts)
		pt, ok := parseUint(f, 127)
		if !ok {
			return bad("bad payload type")
		}
		if m.ptIdx[pt] >= 0 {
			return bad("payload type twice")
		}
		if len(m.codec) == maxFormats {
			return bad("too many formats")
		}
		m.ptIdx[pt] = int8(len(m.codec))
		m.codec = append(m.codec, codec{pt: uint8(pt)})
	}
	if len(m.codec) == 0 {
		return bad("no format")
	}
	return nil
}

// codecOf returns the codec of a payload type field, nil when it is not a
// format of this section (its lines are dropped then).
func (m *mediaSection) codecOf(field string) *codec {
	pt, ok := parseUint(field, 127)
	if !ok || m.kind == kindApplication || m.ptIdx[pt] < 0 {
		return nil
	}
	return &m.codec[m.ptIdx[pt]]
}

func (m *mediaSection) attribute(d *sdpDesc, name, v string) error {
	rtp := m.kind != kindApplication
	switch name {
	case "mid":
		if !validMid(v) {
			return bad("bad mid")
		}
		if m.mid != "" && m.mid != v {
			return bad("two mids")
		}
		m.mid = v
	case "rtcp":
		port, _ := nextField(v)
		if _, ok := parseUint(port, 65535); !ok {
			return bad("bad rtcp port")
		}
		m.hasRTCP = true
	case "sendrecv", "sendonly", "recvonly", "inactive":
		if m.dir != "" && m.dir != name {
			return bad("two directions")
		}
		m.dir = name
	case "extmap-allow-mixed":
		m.allowMixed = true
	case "rtcp-mux":
		m.rtcpMux = true
	case "rtcp-rsize":
		m.rtcpRsize = true
	case "rtcp-xr":
		m.rtcpXR = m.rtcpXR || v == "rcvr-rtt=all"
	case "bundle-only":
		m.bundleOnly = true
	case "end-of-candidates":
		m.endOfCandidates = true
	case "candidate":
		if d.ncands++; d.ncands > maxSDPCandidates {
			return bad("too many candidates")
		}
		c, reason := parseCandidate(v, d.hide)
		switch reason {
		case "":
			m.cands = append(m.cands, c)
		case errDropped:
		default:
			return bad(reason)
		}
	case "extmap":
		if rtp {
			m.addExtmap(v)
		}
	case "msid":
		if rtp {
			return m.addMsid(v)
		}
	case "rtpmap":
		pt, enc := nextField(v)
		if c := m.codecOf(pt); c != nil {
			return m.setRtpmap(c, enc)
		}
	case "fmtp":
		pt, params := nextField(v)
		if c := m.codecOf(pt); c != nil {
			if c.hasFmtp {
				return bad("two fmtp lines for one format")
			}
			c.fmtp, c.hasFmtp = params, true
		}
	case "rtcp-fb":
		pt, fb := nextField(v)
		f, ok := lookupFeedback(fb)
		switch {
		case !ok || !rtp:
		case pt == "*":
			m.wildcardFB |= 1 << f
		default:
			if c := m.codecOf(pt); c != nil {
				c.fb |= 1 << f
			}
		}
	case "ssrc":
		id, _ := nextField(v)
		if rtp {
			return m.addSSRC(id)
		}
	case "ssrc-group":
		if rtp {
			return m.addSSRCGroup(v)
		}
	case "sctp-port":
		// Every implementation uses 5000, and SCTP packets carry it.
		if m.kind != kindApplication || v != "5000" {
			return bad("sctp-port not 5000")
		}
		m.sctpPort = true
	case "max-message-size":
		n, ok := parseUint(v, 1<<32-1)
		if !ok || m.kind != kindApplication {
			return bad("bad max-message-size")
		}
		// Rounded down to a power of two: a peer may always send less than
		// the receiver allows, and the size keeps 5 bits, not 32.
		if n > 0 {
			n = 1 << (bits.Len64(n) - 1)
		}
		m.maxMessage, m.hasMaxMessage = uint32(n), true
	default:
		if ok, err := m.tr.attribute(name, v, d.answer); ok || err != nil {
			return err
		}
		// Anything else is dropped: simulcast and rid (not supported),
		// sctpmap, sctp-init, ptime, framerate, label, x-google-flag, ...
	}
	return nil
}

func (m *mediaSection) addExtmap(v string) {
	idField, v := nextField(v)
	uri, _ := nextField(v) // extension attributes are dropped
	idText, dir, hasDir := cut(idField, '/')
	id, ok := parseUint(idText, 14) // the one-byte header IDs; 15 is reserved
	u, known := lookupExtension(uri)
	if !ok || id == 0 || !known {
		return
	}
	if hasDir {
		switch dir {
		case "sendrecv", "sendonly", "recvonly", "inactive":
		default:
			return
		}
	}
	for _, e := range m.extmaps {
		if e.id == uint8(id) || e.uri == u {
			return // the first mapping of an ID or a URI wins
		}
	}
	m.extmaps = append(m.extmaps, extmap{id: uint8(id), uri: u, dir: dir})
}

// addMsid reads "<stream ID> <track ID>". Both are written anew (see
// mapStreams and the track ID in writeRTP), so they are held to nothing but
// a bounded length: pion lets applications choose IDs outside RFC 8830's
// token alphabet. A track in several streams keeps its first: the browsers
// and pion put a track in one stream, and each more would let a sender
// choose another grouping.
func (m *mediaSection) addMsid(v string) error {
	stream, track := nextField(v)
	if !isVisible(stream, maxStreamIDLength) || len(track) > maxStreamIDLength {
		return bad("bad msid")
	}
	if m.msid == nil {
		m.msid = &msid{stream: stream}
	}
	return nil
}

func (m *mediaSection) addSSRC(field string) error {
	n, ok := parseUint(field, 1<<32-1)
	if !ok {
		return bad("bad ssrc")
	}
	if slices.Contains(m.ssrcs, uint32(n)) {
		return nil
	}
	if len(m.ssrcs) == maxSSRCs {
		return bad("too many ssrcs")
	}
	m.ssrcs = append(m.ssrcs, uint32(n))
	return nil
}

// addSSRCGroup keeps FID (a stream and its retransmissions) and FEC-FR;
// SIM (legacy simulcast) and the others are dropped.
func (m *mediaSection) addSSRCGroup(v string) error {
	sem, v := nextField(v)
	if sem != "FID" && sem != "FEC-FR" {
		return nil
	}
	a, v := nextField(v)
	b, v := nextField(v)
	x, okA := parseUint(a, 1<<32-1)
	y, okB := parseUint(b, 1<<32-1)
	if !okA || !okB || v != "" || x == y {
		return bad("bad ssrc-group")
	}
	if len(m.groups) == 2 {
		return bad("too many ssrc groups")
	}
	if err := m.addSSRC(a); err != nil {
		return err
	}
	if err := m.addSSRC(b); err != nil {
		return err
	}
	m.groups = append(m.groups, ssrcGroup{fid: sem == "FID", a: uint32(x), b: uint32(y)})
	return nil
}

// setRtpmap reads "<name>/<clock>[/<channels>]". An unknown codec, or a
// known one at a clock rate or channel count it does not have, is dropped
// with its payload type.
func (m *mediaSection) setRtpmap(c *codec, enc string) error {
	if c.mapped {
		return bad("two rtpmap lines for one format")
	}
	c.mapped = true
	name, rest, _ := cut(enc, '/')
	clockText, ch, hasCh := cut(rest, '/')
	i, ok := lookupCodec(m.kind, name)
	if !ok {
		return nil
	}
	spec := &codecs[i]
	clock, ok := parseUint(clockText, 1<<32-1)
	if !ok || !slices.Contains(spec.clocks, uint32(clock)) {
		return nil
	}
	switch {
	case !hasCh || ch == "1":
		if !spec.mono {
			return nil
		}
	case ch == "2":
		if !spec.stereo {
			return nil
		}
		c.stereo = true
	default:
		return nil
	}
	c.spec, c.known, c.clock = i, true, uint32(clock)
	return nil
}

// finish checks the fmtp lines now that every rtpmap is known, and decides
// which formats stay: the known codecs, the bare payload types (a static
// type needs no rtpmap), and retransmission or redundancy formats whose
// references stay.
func (m *mediaSection) finish(d *sdpDesc) error {
	if m.kind == kindApplication {
		return nil
	}
	for i := range m.codec {
		c := &m.codec[i]
		if c.known {
			if err := c.checkFmtp(d); err != nil {
				return err
			}
		}
		spec := &codecs[c.spec]
		c.keep = !c.mapped || (c.known && !spec.rtx && spec.fmtp != fmtpRedList)
	}
	for i := range m.codec { // red lists name primary formats
		if c := &m.codec[i]; c.known && codecs[c.spec].fmtp == fmtpRedList {
			c.keep = m.redListKept(c.list)
		}
	}
	for i := range m.codec { // rtx may repair red
		if c := &m.codec[i]; c.known && codecs[c.spec].rtx {
			c.keep = c.hasApt && m.ptIdx[c.apt] >= 0 && m.codec[m.ptIdx[c.apt]].keep &&
				!codecs[m.codec[m.ptIdx[c.apt]].spec].rtx
		}
	}
	for i := range m.codec {
		if m.codec[i].keep {
			return nil
		}
	}
	return bad("no known codec")
}

func (m *mediaSection) redListKept(list string) bool {
	if list == "" {
		return true // red without fmtp: the redundancy is in-band
	}
	pt, _ := validRedList(list)
	if m.ptIdx[pt] < 0 {
		return false
	}
	c := &m.codec[m.ptIdx[pt]]
	return c.keep && c.known && codecs[c.spec].fmtp != fmtpRedList
}

// checkFmtp parses a codec's fmtp line against its allow-list.
func (c *codec) checkFmtp(d *sdpDesc) error {
	spec := &codecs[c.spec]
	c.from = uint16(len(d.params))
	c.to = c.from
	if !c.hasFmtp {
		return nil
	}
	v := strings.TrimSpace(c.fmtp)
	switch spec.fmtp {
	case fmtpRedList:
		if _, ok := validRedList(v); !ok {
			c.known = false // a list of another shape: the format is dropped
			return nil
		}
		c.list = v
		return nil
	case fmtpEventList:
		if validEventList(v) {
			c.list = v
		}
		return nil
	}
	var seen uint32
	for n := 0; v != ""; n++ {
		var kv string
		kv, v, _ = cut(v, ';')
		key, value, _ := cut(strings.TrimSpace(kv), '=')
		if n == maxFmtpParams {
			return bad("too many fmtp parameters")
		}
		k := -1
		for i := range spec.params {
			if strings.EqualFold(spec.params[i].key, key) {
				k = i
				break
			}
		}
		if k < 0 {
			continue // unknown parameters are dropped
		}
		if seen&(1<<k) != 0 {
			return bad("fmtp parameter twice")
		}
		seen |= 1 << k
		if !spec.params[k].check(value) {
			if spec.params[k].hint {
				continue
			}
			return bad("bad fmtp parameter")
		}
		if spec.params[k].key == "profile-level-id" {
			value = lowerASCII(value)
		}
		if spec.rtx && spec.params[k].key == "apt" {
			pt, _ := parseUint(value, 127)
			c.hasApt, c.apt = true, uint8(pt)
		}
		d.params = append(d.params, fmtpParam{key: uint8(k), value: value})
	}
	c.to = uint16(len(d.params))
	slices.SortFunc(d.params[c.from:c.to], func(a, b fmtpParam) int { return int(a.key) - int(b.key) })
	return nil
}
