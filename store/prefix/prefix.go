// Package prefix is the one address rule that bans, reports, connection caps and relay quotas share: which part of an address names one subscriber, and which part one network.
//
// It imports nothing of parley, so store, turn and signaling can all use it
// without importing each other.
package prefix

import (
	"net"
	"net/netip"
)

// Subscriber bits: an IPv4 address is one subscriber; an IPv6 subscriber
// gets at least a /64 (RFC 6177 recommends /56 or /48 for homes), so
// anything narrower than a /64 costs an attacker nothing to change.
const (
	V4Bits = 32
	V6Bits = 64
)

// Network bits: the block one operator's network usually holds. Fair shares
// of scarce resources (relay allocations) are counted per network on top of
// the per-subscriber cap, so one network cannot take everything.
const (
	V4NetworkBits = 24
	V6NetworkBits = 48
)

// Of returns the prefix a person is judged by: IPv4 (IPv4-mapped IPv6
// unwrapped first) as its /32, IPv6 as its /64; zones are dropped. The zero
// Addr gives the zero Prefix.
func Of(a netip.Addr) netip.Prefix {
	return cut(a, V4Bits, V6Bits)
}

// Network returns the network an address belongs to for fair shares: the
// IPv4 /24 or the IPv6 /48.
func Network(a netip.Addr) netip.Prefix {
	return cut(a, V4NetworkBits, V6NetworkBits)
}

// Bits returns the address's prefix of bits (v4 and v6 given apart), after
// unwrapping and dropping the zone. It is how wider ban levels are named.
func Bits(a netip.Addr, v4, v6 int) netip.Prefix {
	return cut(a, v4, v6)
}

// OfNet returns Of for a UDP or TCP address, and the zero Prefix for any
// other kind.
func OfNet(a net.Addr) netip.Prefix {
	return Of(AddrOf(a))
}

// AddrOf returns the IP of a UDP or TCP address, unmapped; the zero Addr for
// any other kind.
func AddrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func cut(a netip.Addr, v4, v6 int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := v6
	if a.Is4() {
		bits = v4
	}
	p, _ := a.Prefix(bits)
	return p
}
