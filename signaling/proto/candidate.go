package proto

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ICE candidates, in SDP (a=candidate) and trickled. A candidate is parsed
// into the values ICE uses and written anew: the foundation is derived from
// the other fields, the related address is always blanked, the extensions
// (generation, ufrag, network-id, network-cost) are dropped, and the low byte
// of the priority is the one RFC 8445 gives the component. What a modified
// client can still choose freely is what ICE needs to reach it: address,
// port, component, transport, type and the upper 24 bits of the priority.

// maxCandidateBytes bounds a candidate line. Chromium's longest (IPv6, every
// extension) is about 150 bytes.
const maxCandidateBytes = 384

// maxMLineIndex bounds sdpMLineIndex: it names one of at most maxSections m= sections.
const maxMLineIndex = maxSections - 1

type candidateType uint8

const (
	typeHost candidateType = iota + 1
	typeSrflx
	typePrflx
	typeRelay
)

var candidateTypeNames = [...]string{typeHost: "host", typeSrflx: "srflx", typePrflx: "prflx", typeRelay: "relay"}

// iceCandidate holds the values of a candidate that ICE needs.
type iceCandidate struct {
	typ       candidateType
	tcp       bool
	component uint8
	priority  uint32
	port      uint16
	addr      netip.Addr
	mdns      string // "<uuid v4>.local" in lower case, for an mDNS host candidate
	tcpType   string // active, passive or so, for TCP
}

// errDropped says a candidate is not an error but is dropped: a non-relay
// candidate under the hide-IP policy.
const errDropped = "dropped"

// parseCandidate reads the candidate-attribute value after "candidate:". It
// returns a short reason that never quotes the input when the candidate is
// malformed, or errDropped when hide is set and the candidate is not a relay
// candidate (checked first, so nothing of what is dropped needs to be valid).
func parseCandidate(s string, hide bool) (iceCandidate, string) {
	var c iceCandidate
	if len(s) > maxCandidateBytes {
		return c, "candidate too long"
	}
	foundation, s := nextField(s)
	compField, s := nextField(s)
	transport, s := nextField(s)
	prioField, s := nextField(s)
	addrField, s := nextField(s)
	portField, s := nextField(s)
	typKey, s := nextField(s)
	typField, s := nextField(s)
	if typKey != "typ" {
		return c, "candidate without a type"
	}
	switch typField {
	case "host":
		c.typ = typeHost
	case "srflx":
		c.typ = typeSrflx
	case "prflx":
		c.typ = typePrflx
	case "relay":
		c.typ = typeRelay
	default:
		return c, "unknown candidate type"
	}
	if hide && c.typ != typeRelay {
		return c, errDropped
	}
	// The foundation is checked and then replaced (see foundation).
	if len(foundation) > 0 && !isICEString(foundation, 1, 32) {
		return c, "bad foundation"
	}
	comp, ok := parseUint(compField, 2)
	if !ok || comp == 0 {
		return c, "bad component"
	}
	c.component = uint8(comp)
	switch {
	case strings.EqualFold(transport, "udp"):
	case strings.EqualFold(transport, "tcp"):
		c.tcp = true
	default:
		return c, "bad transport"
	}
	prio, ok := parseUint(prioField, 1<<32-1)
	if !ok || prio == 0 {
		return c, "bad priority"
	}
	c.priority = uint32(prio)&^0xff | uint32(256-comp)
	port, ok := parseUint(portField, 65535)
	if !ok || (port == 0 && !c.tcp) {
		return c, "bad port"
	}
	c.port = uint16(port)
	if reason := c.setAddress(addrField); reason != "" {
		return c, reason
	}
	// raddr/rport and the extensions: checked for shape, then dropped, but
	// for tcptype.
	for s != "" {
		var key, val string
		key, s = nextField(s)
		val, s = nextField(s)
		if val == "" {
			return c, "bad candidate extension"
		}
		switch key {
		case "raddr":
			if !validRelatedAddress(val) {
				return c, "bad related address"
			}
		case "rport", "generation", "network-id", "network-cost":
			if _, ok := parseUint(val, 1<<32-1); !ok {
				return c, "bad candidate extension"
			}
		case "ufrag":
			if !validUfrag(val) {
				return c, "bad candidate ufrag"
			}
		case "tcptype":
			switch val {
			case "active", "passive", "so":
				c.tcpType = val
			default:
				return c, "bad tcptype"
			}
		default:
			if !isToken(key, 32) || !isToken(val, 64) {
				return c, "bad candidate extension"
			}
		}
	}
	if c.tcp && c.tcpType == "" {
		return c, "TCP candidate without tcptype"
	}
	if !c.tcp {
		c.tcpType = ""
	}
	if c.mdns != "" && c.typ != typeHost {
		return c, "mDNS name on a non-host candidate"
	}
	return c, ""
}

// setAddress takes an IP address or an mDNS name of the shape browsers use
// ("<uuid v4>.local"). Anything else (other host names, zones, IPv4 written
// as IPv6, unspecified or multicast addresses) is refused.
func (c *iceCandidate) setAddress(s string) string {
	if name, ok := strings.CutSuffix(s, ".local"); ok {
		if !isUUIDv4(name) {
			return "bad mDNS name"
		}
		c.mdns = lowerASCII(s)
		return ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() ||
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "bad candidate address"
	}
	c.addr = a
	return ""
}

func validRelatedAddress(s string) bool {
	if name, ok := strings.CutSuffix(s, ".local"); ok {
		return isUUIDv4(name)
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// foundation derives the foundation from the fields that RFC 8445 groups
// candidates by (type, transport, address), so that it carries nothing the
// sender chose beyond them. It is FNV-1a, written in decimal like Chromium's.
func (c *iceCandidate) foundation() uint32 {
	h := uint32(2166136261)
	mix := func(b byte) { h = (h ^ uint32(b)) * 16777619 }
	mix(byte(c.typ))
	if c.tcp {
		mix(1)
	} else {
		mix(0)
	}
	if c.mdns != "" {
		for i := 0; i < len(c.mdns); i++ {
			mix(c.mdns[i])
		}
	} else {
		for _, b := range c.addr.AsSlice() {
			mix(b)
		}
	}
	return h
}

// appendTo writes the candidate-attribute value (without "candidate:").
func (c *iceCandidate) appendTo(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(c.foundation()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(c.component), 10)
	if c.tcp {
		b = append(b, " tcp "...)
	} else {
		b = append(b, " udp "...)
	}
	b = strconv.AppendUint(b, uint64(c.priority), 10)
	b = append(b, ' ')
	if c.mdns != "" {
		b = append(b, c.mdns...)
	} else {
		b = c.addr.AppendTo(b)
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(c.port), 10)
	b = append(b, " typ "...)
	b = append(b, candidateTypeNames[c.typ]...)
	if c.typ != typeHost {
		// The related address is only for diagnostics (RFC 8839 5.1) and is
		// the sender's own address behind its NAT or relay: always blanked.
		// Firefox wants the fields present on non-host candidates.
		if c.addr.Is6() {
			b = append(b, " raddr :: rport 0"...)
		} else {
			b = append(b, " raddr 0.0.0.0 rport 0"...)
		}
	}
	if c.tcpType != "" {
		b = append(b, " tcptype "...)
		b = append(b, c.tcpType...)
	}
	return b
}

// trickled is a cleaned Candidate with room for the values its pointers
// point to, so that cleaning one costs two allocations.
type trickled struct {
	Candidate
	mid   string
	index uint16
	ufrag string
}

// cleanCandidate checks a trickled candidate and rebuilds it. forward is
// false, without an error, for a non-relay candidate under hide.
func cleanCandidate(c *Candidate, hide bool) (*Candidate, bool, error) {
	out := &trickled{}
	if c.SDPMid != nil {
		if !validMid(*c.SDPMid) {
			return nil, false, fmt.Errorf("%w: bad sdpMid", ErrBadCandidate)
		}
		out.mid = *c.SDPMid
		out.SDPMid = &out.mid
	}
	if c.SDPMLineIndex != nil {
		if *c.SDPMLineIndex > maxMLineIndex {
			return nil, false, fmt.Errorf("%w: sdpMLineIndex out of range", ErrBadCandidate)
		}
		out.index = *c.SDPMLineIndex
		out.SDPMLineIndex = &out.index
	}
	if c.UsernameFragment != nil {
		if !validUfrag(*c.UsernameFragment) {
			return nil, false, fmt.Errorf("%w: bad usernameFragment", ErrBadCandidate)
		}
		out.ufrag = *c.UsernameFragment
		out.UsernameFragment = &out.ufrag
	}
	if c.Candidate == "" { // end of candidates: carries no address
		return &out.Candidate, true, nil
	}
	if c.SDPMid == nil && c.SDPMLineIndex == nil {
		return nil, false, fmt.Errorf("%w: names no media section", ErrBadCandidate)
	}
	body, ok := strings.CutPrefix(strings.TrimPrefix(c.Candidate, "a="), "candidate:")
	if !ok {
		return nil, false, fmt.Errorf("%w: not a candidate attribute", ErrBadCandidate)
	}
	cand, reason := parseCandidate(body, hide)
	if reason == errDropped {
		return nil, false, nil
	}
	if reason != "" {
		return nil, false, fmt.Errorf("%w: %s", ErrBadCandidate, reason)
	}
	var buf [160]byte
	out.Candidate.Candidate = string(cand.appendTo(append(buf[:0], "candidate:"...)))
	return &out.Candidate, true, nil
}
