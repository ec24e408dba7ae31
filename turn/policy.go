package turn

import (
	"net/netip"
	"slices"
)

// Policy decides which peer addresses the relay may send to. It is pure: no
// I/O, no clock, no locks after construction, so it can be fuzzed and shared
// by every listener and relay socket.
//
// The order of the decision matters:
//  1. the server's own addresses are reachable only on the relay port range,
//     and there only on ports that hold one of the relay's live allocations
//     (the relay-to-relay path between two people who both hide their IP);
//     any other port of ours (signaling, admin, TURN listeners) is refused,
//     even when an allow-list entry covers the address;
//  2. AllowPeers overrides the rest (LAN setups, tests);
//  3. the address and every IPv4 address embedded in it must be outside every
//     special-purpose range that must not be reached from a public relay.
type Policy struct {
	allow              []netip.Prefix
	own                []netip.Addr // unmapped, zone-less
	relayMin, relayMax uint16
	// relayLive, when set, says whether a port of the relay range holds one
	// of this relay's live allocations. Only those may be reached on an own
	// address: the range overlaps Linux's ephemeral ports (32768-60999), so
	// other programs' sockets live there too. Nil (a pure policy, as in the
	// fuzz tests) takes the whole range.
	relayLive func(port uint16) bool
}

// NewPolicy returns the policy for a relay whose own addresses are own and
// whose relay sockets use ports relayMin..relayMax (inclusive).
func NewPolicy(allow []netip.Prefix, own []netip.Addr, relayMin, relayMax uint16) *Policy {
	p := &Policy{relayMin: relayMin, relayMax: relayMax}
	for _, pr := range allow {
		if pr.IsValid() {
			p.allow = append(p.allow, pr.Masked())
		}
	}
	for _, a := range own {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !slices.Contains(p.own, a) {
			p.own = append(p.own, a)
		}
	}
	return p
}

// Allowed reports whether the relay may send a datagram to ap.
func (p *Policy) Allowed(ap netip.AddrPort) bool {
	_, ok := p.decide(ap)
	return ok
}

// AllowedIP is the decision for a TURN permission, which names an IP but no
// port: it is true when some port of a may be reached. Ports are enforced
// again on every datagram by the relay socket wrapper.
func (p *Policy) AllowedIP(a netip.Addr) bool {
	if p.isOwn(a) {
		return true // its relay ports, when they hold allocations
	}
	return p.Allowed(netip.AddrPortFrom(a, p.relayMin))
}

// isOwn reports whether a, plainly (not wrapped in another form), is one of
// the server's own addresses.
func (p *Policy) isOwn(a netip.Addr) bool {
	return slices.Contains(p.own, a.Unmap().WithZone(""))
}

// decide returns the verdict and, for refusals, the kind of range that
// refused it: a label safe to log or count, never the address.
func (p *Policy) decide(ap netip.AddrPort) (kind string, ok bool) {
	a := ap.Addr().Unmap().WithZone("")
	if !a.IsValid() {
		return "invalid", false
	}
	if ap.Port() == 0 {
		return "port-zero", false
	}
	v4s, n, kind := embeddedV4(a)
	if kind != "" {
		return kind, false
	}
	// Own addresses first: an allow-list entry for a LAN must not open the
	// server's signaling or admin port to the relay. Only the plain form of
	// an own address counts; an own address wrapped in NAT64, 6to4 or Teredo
	// is refused on every port.
	if slices.Contains(p.own, a) {
		if ap.Port() < p.relayMin || ap.Port() > p.relayMax {
			return "own-address", false
		}
		if p.relayLive != nil && !p.relayLive(ap.Port()) {
			return "own-not-relay", false
		}
		return "", true
	}
	for _, e := range v4s[:n] {
		if slices.Contains(p.own, e) {
			return "own-address", false
		}
	}
	for _, pr := range p.allow {
		if pr.Contains(a) {
			return "", true
		}
	}
	if kind := deniedKind(a); kind != "" {
		return kind, false
	}
	for _, e := range v4s[:n] {
		if kind := deniedKind(e); kind != "" {
			return "embedded-" + kind, false
		}
	}
	return "", true
}

// embeddedV4 returns the IPv4 addresses carried inside an IPv6 address by
// the transition mechanisms a datagram could be routed through (NAT64 with
// the well-known prefix, 6to4, Teredo). For forms that are deprecated or
// whose layout is operator-defined it returns a refusal kind instead: no
// legitimate WebRTC peer uses them, and refusing them is the only safe answer.
// a must already be unmapped (IPv4-mapped IPv6 is plain IPv4 to the kernel).
// It returns a fixed array and a count so the per-datagram check does not
// allocate.
func embeddedV4(a netip.Addr) (v4s [2]netip.Addr, n int, refuse string) {
	if !a.Is6() {
		return v4s, 0, ""
	}
	b := a.As16()
	switch {
	case isZero(b[:12]):
		// ::/96: the unspecified and loopback addresses and the IPv4-compatible
		// form, deprecated by RFC 4291 section 2.5.5.1.
		return v4s, 0, "ipv4-compatible"
	case isZero(b[:8]) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0:
		// ::ffff:0:a.b.c.d, the IPv4-translated form of RFC 2765 (obsolete).
		return v4s, 0, "ipv4-translated"
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 0x01:
		// 64:ff9b:1::/48 local-use NAT64 (RFC 8215): where the IPv4 address
		// sits depends on the operator's prefix length, so it cannot be
		// unwrapped reliably; it is not globally reachable anyway.
		return v4s, 0, "nat64-local"
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]):
		// 64:ff9b::/96 well-known NAT64 prefix (RFC 6052).
		v4s[0] = netip.AddrFrom4([4]byte(b[12:16]))
		return v4s, 1, ""
	case b[0] == 0x20 && b[1] == 0x02:
		// 2002::/16 6to4 (RFC 3056): the IPv4 address follows the prefix.
		v4s[0] = netip.AddrFrom4([4]byte(b[2:6]))
		return v4s, 1, ""
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		// 2001::/32 Teredo (RFC 4380): the Teredo server's address follows
		// the prefix, the client's is the bit-inverted last 32 bits.
		v4s[0] = netip.AddrFrom4([4]byte(b[4:8]))
		v4s[1] = netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return v4s, 2, ""
	}
	return v4s, 0, ""
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

type deniedRange struct {
	prefix netip.Prefix
	kind   string
}

// deniedV4 and deniedV6 come from the IANA IPv4 and IPv6 special-purpose
// address registries (RFC 6890 and updates) and the multicast registries:
// every block that is not globally reachable, or that reaches a host that is
// not a WebRTC peer. Embedded forms are unwrapped before this table is
// consulted; 2001::/32 (Teredo) and 2002::/16 (6to4) are absent on purpose:
// they are judged by the IPv4 addresses inside them.
var (
	deniedV4 = []deniedRange{
		{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "cgnat"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "ietf-protocol"}, // DS-Lite, PCP/TURN anycast, NAT64 discovery
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4-relay"}, // deprecated anycast (RFC 7526)
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255 broadcast
	}
	deniedV6 = []deniedRange{
		{netip.MustParsePrefix("::/96"), "ipv4-compatible"}, // also :: and ::1; refused by embeddedV4 first
		{netip.MustParsePrefix("64:ff9b:1::/48"), "nat64-local"},
		{netip.MustParsePrefix("100::/64"), "discard"},
		{netip.MustParsePrefix("100:0:0:1::/64"), "dummy"}, // RFC 9780
		{netip.MustParsePrefix("2001::/23"), "ietf-protocol"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"}, // RFC 9637
		{netip.MustParsePrefix("5f00::/16"), "srv6-sid"},      // RFC 9602
		{netip.MustParsePrefix("fc00::/7"), "private"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	teredo       = netip.MustParsePrefix("2001::/32")
	globalUni6   = netip.MustParsePrefix("2000::/3")
	nat64WellKno = netip.MustParsePrefix("64:ff9b::/96")
)

// deniedKind returns the kind of special-purpose range a falls in, or "" for
// an address the relay may reach. a must be unmapped.
func deniedKind(a netip.Addr) string {
	if a.Is4() {
		for _, r := range deniedV4 {
			if r.prefix.Contains(a) {
				return r.kind
			}
		}
		return ""
	}
	if teredo.Contains(a) {
		return "" // judged by its embedded addresses
	}
	for _, r := range deniedV6 {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	// IANA has delegated only 2000::/3 for global unicast; the rest of the
	// IPv6 space is unassigned or special, except the NAT64 well-known prefix.
	if !globalUni6.Contains(a) && !nat64WellKno.Contains(a) {
		return "unassigned"
	}
	return ""
}
