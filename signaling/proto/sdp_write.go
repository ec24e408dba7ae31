package proto

import (
	"bytes"
	"slices"
	"strconv"
)

// Writing a cleaned description: every line comes from the values parsed
// (sdp.go, sdp_media.go), in a fixed order, so that neither the text nor
// the order of what a sender wrote reaches the partner.

// write builds the description. Session-level lines are fixed but for the
// session ID and version; the transport attributes go into each section, as
// JSEP writes them.
func (d *sdpDesc) write(version uint64, sizeHint int) string {
	b := make([]byte, 0, sizeHint+sizeHint/8+256)
	b = append(b, "v=0\r\no=- "...)
	b = strconv.AppendUint(b, d.ids.sessionID, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, version, 10)
	b = append(b, " IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"...)
	b = d.writeBundle(b)
	if d.allowMixed {
		b = append(b, "a=extmap-allow-mixed\r\n"...)
	}
	streams := d.mapStreams()
	if d.msidSem {
		b = append(b, "a=msid-semantic: WMS"...)
		for _, s := range streams {
			b = append(b, ' ')
			b = append(b, s...)
		}
		b = append(b, "\r\n"...)
	}
	for i := range d.media {
		b = d.media[i].write(b, d, i)
	}
	return string(b)
}

// writeBundle writes the BUNDLE group with only the mids of this
// description, the first (the tag) first and the rest in section order.
func (d *sdpDesc) writeBundle(b []byte) []byte {
	if len(d.bundle) == 0 {
		return b
	}
	tag := ""
	for _, mid := range d.bundle {
		if d.hasMid(mid) {
			tag = mid
			break
		}
	}
	if tag == "" {
		return b
	}
	b = append(b, "a=group:BUNDLE "...)
	b = append(b, tag...)
	for i := range d.media {
		if mid := d.media[i].mid; mid != "" && mid != tag && d.inBundle(mid) {
			b = append(b, ' ')
			b = append(b, mid...)
		}
	}
	return append(b, "\r\n"...)
}

func (d *sdpDesc) hasMid(mid string) bool {
	for i := range d.media {
		if d.media[i].mid == mid {
			return true
		}
	}
	return false
}

func (d *sdpDesc) inBundle(mid string) bool {
	for _, m := range d.bundle {
		if m == mid {
			return true
		}
	}
	return false
}

// mapStreams gives each msid stream ID of the description (but "-") a
// derived ID, by order of first appearance. What a modified client can still
// express with them is which tracks share a stream, which the receiving
// browser needs (audio and video of one camera play in sync).
func (d *sdpDesc) mapStreams() []string {
	var out []string
	seen := make([]string, 0, 4)
	for i := range d.media {
		m := &d.media[i]
		if m.msid == nil || m.msid.stream == "-" {
			continue
		}
		k := 0
		for k < len(seen) && seen[k] != m.msid.stream {
			k++
		}
		if k == len(seen) {
			seen = append(seen, m.msid.stream)
			out = append(out, d.ids.uuid('s', strconv.Itoa(k)))
		}
		m.msid.mapped = out[k]
	}
	return out
}

// write appends the section; i is its index. mapStreams has run.
func (m *mediaSection) write(b []byte, d *sdpDesc, i int) []byte {
	b = append(b, "m="...)
	b = append(b, mediaKindNames[m.kind]...)
	if m.port0 {
		b = append(b, " 0 "...)
	} else {
		b = append(b, " 9 "...)
	}
	if m.kind == kindApplication {
		b = append(b, "UDP/DTLS/SCTP webrtc-datachannel"...)
	} else {
		b = append(b, "UDP/TLS/RTP/SAVPF"...)
		for j := range m.codec {
			if m.codec[j].keep {
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(m.codec[j].pt), 10)
			}
		}
	}
	b = append(b, "\r\nc=IN IP4 0.0.0.0\r\n"...)
	if m.hasRTCP {
		b = append(b, "a=rtcp:9 IN IP4 0.0.0.0\r\n"...)
	}
	if !m.port0 {
		b = m.writeCandidates(b)
		b = d.tr.write(b)
	}
	if m.mid != "" {
		b = append(b, "a=mid:"...)
		b = append(b, m.mid...)
		b = append(b, "\r\n"...)
	}
	if m.kind == kindApplication {
		if m.sctpPort {
			b = append(b, "a=sctp-port:5000\r\n"...)
		}
		if m.hasMaxMessage {
			b = append(b, "a=max-message-size:"...)
			b = strconv.AppendUint(b, uint64(m.maxMessage), 10)
			b = append(b, "\r\n"...)
		}
	} else {
		b = m.writeRTP(b, d, i)
	}
	if m.bundleOnly {
		b = append(b, "a=bundle-only\r\n"...)
	}
	if m.endOfCandidates && !m.port0 {
		b = append(b, "a=end-of-candidates\r\n"...)
	}
	return b
}

func (t *transport) write(b []byte) []byte {
	if t.ufrag != "" {
		b = append(b, "a=ice-ufrag:"...)
		b = append(b, t.ufrag...)
		b = append(b, "\r\n"...)
	}
	if t.pwd != "" {
		b = append(b, "a=ice-pwd:"...)
		b = append(b, t.pwd...)
		b = append(b, "\r\n"...)
	}
	if t.trickle {
		b = append(b, "a=ice-options:trickle\r\n"...)
	}
	if t.fp != "" {
		b = append(b, "a=fingerprint:"...)
		b = append(b, t.fpAlg...)
		b = append(b, ' ')
		b = append(b, t.fp...)
		b = append(b, "\r\n"...)
	}
	if t.setup != "" {
		b = append(b, "a=setup:"...)
		b = append(b, t.setup...)
		b = append(b, "\r\n"...)
	}
	return b
}

// writeCandidates writes the candidates sorted by their text, so that
// their order carries nothing, and without duplicates.
func (m *mediaSection) writeCandidates(b []byte) []byte {
	if len(m.cands) == 0 {
		return b
	}
	lines := make([][]byte, len(m.cands))
	for i := range m.cands {
		lines[i] = m.cands[i].appendTo(make([]byte, 0, 96))
	}
	slices.SortFunc(lines, bytes.Compare)
	for i, l := range lines {
		if i > 0 && bytes.Equal(l, lines[i-1]) {
			continue // a duplicate
		}
		b = append(b, "a=candidate:"...)
		b = append(b, l...)
		b = append(b, "\r\n"...)
	}
	return b
}

func (m *mediaSection) writeRTP(b []byte, d *sdpDesc, i int) []byte {
	slices.SortFunc(m.extmaps, func(x, y extmap) int { return int(x.id) - int(y.id) })
	for _, e := range m.extmaps {
		b = append(b, "a=extmap:"...)
		b = strconv.AppendUint(b, uint64(e.id), 10)
		if e.dir != "" {
			b = append(b, '/')
			b = append(b, e.dir...)
		}
		b = append(b, ' ')
		b = append(b, extensionURIs[e.uri]...)
		b = append(b, "\r\n"...)
	}
	if m.allowMixed {
		b = append(b, "a=extmap-allow-mixed\r\n"...)
	}
	dir := m.dir
	if dir == "" {
		dir = "sendrecv"
	}
	b = append(b, "a="...)
	b = append(b, dir...)
	b = append(b, "\r\n"...)
	if s := m.msid; s != nil {
		// The track ID is derived from the mid: one per section, stable
		// across renegotiations, nothing the sender chose.
		name := m.mid
		if name == "" {
			name = "#" + strconv.Itoa(i)
		}
		b = append(b, "a=msid:"...)
		if s.stream == "-" {
			b = append(b, '-')
		} else {
			b = append(b, s.mapped...)
		}
		b = append(b, ' ')
		b = append(b, d.ids.uuid('t', name)...)
		b = append(b, "\r\n"...)
	}
	if m.rtcpMux {
		b = append(b, "a=rtcp-mux\r\n"...)
	}
	if m.rtcpRsize {
		b = append(b, "a=rtcp-rsize\r\n"...)
	}
	if m.rtcpXR {
		b = append(b, "a=rtcp-xr:rcvr-rtt=all\r\n"...)
	}
	for j := range m.codec {
		if c := &m.codec[j]; c.keep && c.known {
			b = c.write(b, d)
		}
	}
	for f := range feedbackTypes {
		if m.wildcardFB&(1<<f) != 0 {
			b = append(b, "a=rtcp-fb:* "...)
			b = append(b, feedbackTypes[f]...)
			b = append(b, "\r\n"...)
		}
	}
	if m.port0 {
		return b
	}
	for _, g := range m.groups {
		if g.fid {
			b = append(b, "a=ssrc-group:FID "...)
		} else {
			b = append(b, "a=ssrc-group:FEC-FR "...)
		}
		b = strconv.AppendUint(b, uint64(g.a), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(g.b), 10)
		b = append(b, "\r\n"...)
	}
	// Chromium takes the first a=ssrc as the primary stream, so the order
	// is the groups' (primary, retransmission, FEC), then the rest as given.
	ssrcs := make([]uint32, 0, len(m.ssrcs))
	for _, g := range m.groups {
		for _, s := range [2]uint32{g.a, g.b} {
			if !slices.Contains(ssrcs, s) {
				ssrcs = append(ssrcs, s)
			}
		}
	}
	for _, s := range m.ssrcs {
		if !slices.Contains(ssrcs, s) {
			ssrcs = append(ssrcs, s)
		}
	}
	for _, s := range ssrcs {
		// The CNAME is the derived one: RFC 7022 wants one per
		// PeerConnection, and the browsers group streams by msid anyway.
		b = append(b, "a=ssrc:"...)
		b = strconv.AppendUint(b, uint64(s), 10)
		b = append(b, " cname:"...)
		b = append(b, d.ids.cname...)
		b = append(b, "\r\n"...)
	}
	return b
}

func (c *codec) write(b []byte, d *sdpDesc) []byte {
	spec := &codecs[c.spec]
	pt := strconv.AppendUint(make([]byte, 0, 3), uint64(c.pt), 10)
	b = append(b, "a=rtpmap:"...)
	b = append(b, pt...)
	b = append(b, ' ')
	b = append(b, spec.name...)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(c.clock), 10)
	if c.stereo {
		b = append(b, "/2"...)
	}
	b = append(b, "\r\n"...)
	for f := range feedbackTypes {
		if c.fb&(1<<f) != 0 {
			b = append(b, "a=rtcp-fb:"...)
			b = append(b, pt...)
			b = append(b, ' ')
			b = append(b, feedbackTypes[f]...)
			b = append(b, "\r\n"...)
		}
	}
	switch {
	case c.list != "":
		b = append(b, "a=fmtp:"...)
		b = append(b, pt...)
		b = append(b, ' ')
		b = append(b, c.list...)
		b = append(b, "\r\n"...)
	case c.to > c.from:
		b = append(b, "a=fmtp:"...)
		b = append(b, pt...)
		b = append(b, ' ')
		for k, p := range d.params[c.from:c.to] {
			if k > 0 {
				b = append(b, ';')
			}
			b = append(b, spec.params[p.key].key...)
			b = append(b, '=')
			b = append(b, p.value...)
		}
		b = append(b, "\r\n"...)
	}
	return b
}
