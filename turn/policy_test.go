package turn

import (
	"net/netip"
	"slices"
	"testing"
)

// forbidden is every address form the relay must never reach, whatever the
// port. Most are not routable on a test machine; they are judged by the
// policy and by real permission requests, never sent to.
var forbidden = []string{
	// IPv4
	"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.5", "172.16.0.1", "172.31.255.255",
	"192.168.1.1", "100.64.0.1", "100.127.255.254", "169.254.169.254", "224.0.0.1", "239.255.255.250",
	"255.255.255.255", "240.0.0.1", "192.0.0.9", "192.0.0.170", "192.0.2.1", "198.18.0.1", "198.19.255.255",
	"198.51.100.1", "203.0.113.1", "192.88.99.1",
	// IPv6 and IPv4 inside IPv6
	"::", "::1", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
	"::127.0.0.1", "::8.8.8.8", // IPv4-compatible, deprecated: refused outright
	"::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8", // IPv4-translated, obsolete: refused outright
	"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808",
	"2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101::", "2002:a9fe:a9fe::1",
	"2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1 (bit-inverted)
	"2001:0:4136:e378:8000:63bf:f5ff:fffa", // Teredo, client 10.0.0.5
	"2001:0:a00:1:8000:63bf:f7f7:f7f7",     // Teredo, server 10.0.0.1
	"fe80::1", "fe80::1%lo", "fc00::1", "fd00::2", "fec0::1", "ff02::1", "ff0e::1", "100::1",
	"2001:db8::1", "2001:2::1", "2001:10::1", "3fff::1", "5f00::1", "4000::1", "::2:3:4:5", "1::1",
}

// public is a sample of addresses the relay may reach.
var public = []string{
	"8.8.8.8", "1.1.1.1", "93.184.216.34", "192.31.196.1", "::ffff:8.8.8.8",
	"2606:4700:4700::1111", "2a00:1450:4001:80e::200e", "64:ff9b::808:808", "2002:808:808::1",
	"2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo, server 65.54.227.120, client 8.8.8.8
	"2620:4f:8000::1",
}

func TestPolicyForbidden(t *testing.T) {
	p := NewPolicy(nil, []netip.Addr{netip.MustParseAddr("198.51.100.200")}, 40000, 40100)
	for _, s := range forbidden {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s)
			for _, port := range []uint16{1, 80, 443, 3478, 40000, 65535} {
				if p.Allowed(netip.AddrPortFrom(a, port)) {
					t.Errorf("port %d allowed", port)
				}
			}
			if p.AllowedIP(a) {
				t.Error("AllowedIP")
			}
			if kind, ok := p.decide(netip.AddrPortFrom(a, 80)); ok || kind == "" {
				t.Errorf("decide = %q, %v", kind, ok)
			}
		})
	}
}

func TestPolicyPublic(t *testing.T) {
	p := NewPolicy(nil, nil, 40000, 40100)
	for _, s := range public {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s)
			if !p.Allowed(netip.AddrPortFrom(a, 3478)) || !p.AllowedIP(a) {
				t.Error("refused")
			}
			if p.Allowed(netip.AddrPortFrom(a, 0)) {
				t.Error("port 0 allowed")
			}
		})
	}
}

func TestPolicyOwnAndAllow(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("8.8.4.4"), netip.MustParseAddr("::ffff:192.168.1.10")}
	allow := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("127.0.0.0/8")}
	p := NewPolicy(allow, own, 40000, 40100)
	tests := []struct {
		addr string
		port uint16
		want bool
	}{
		{"127.0.0.2", 40000, true},         // relay-to-relay on loopback
		{"127.0.0.2", 40100, true},         // range is inclusive
		{"127.0.0.2", 39999, false},        // own, below the range
		{"127.0.0.2", 40101, false},        // own, above the range
		{"127.0.0.2", 8080, false},         // own signaling port, despite 127/8 allowed
		{"::ffff:127.0.0.2", 40050, true},  // mapped is the same address
		{"::ffff:127.0.0.2", 9090, false},  // and the same rule
		{"8.8.4.4", 40050, true},           // public own address, relay port
		{"8.8.4.4", 443, false},            // public own address, other port
		{"64:ff9b::808:404", 40050, false}, // own wrapped in NAT64: never
		{"2002:808:404::", 40050, false},   // own wrapped in 6to4: never
		{"192.168.1.10", 40050, true},      // own given mapped, relay port
		{"192.168.1.10", 22, false},        // own inside the allow list: own wins
		{"192.168.1.11", 22, true},         // allow list overrides private
		{"::ffff:192.168.1.11", 22, true},  // mapped form too
		{"fd00::5", 5000, true},            // allowed ULA
		{"fc00::5", 5000, false},           // ULA outside the allow list
		{"127.0.0.1", 5000, true},          // allowed loopback (tests)
		{"10.0.0.1", 5000, false},          // private, not allowed
		{"2002:c0a8:10b::", 5000, false},   // 6to4 of an allowed LAN address: not the LAN
		{"198.51.100.1", 5000, false},      // documentation
		{"93.184.216.34", 5000, true},      // public
		{"93.184.216.34", 0, false},        // port 0
		{"2606:4700:4700::1111", 40000, true},
	}
	for _, tt := range tests {
		ap := netip.AddrPortFrom(netip.MustParseAddr(tt.addr), tt.port)
		if got := p.Allowed(ap); got != tt.want {
			t.Errorf("Allowed(%s) = %v, want %v", ap, got, tt.want)
		}
	}
	// Permissions carry no port: an own address must pass, so that the
	// relay-to-relay path works; its ports are checked per datagram.
	if !p.AllowedIP(netip.MustParseAddr("127.0.0.2")) {
		t.Error("AllowedIP(own) = false")
	}
}

// The reference classifier below is written independently of policy.go: a
// plain table of denied prefixes and explicit unwrapping, in the most
// literal form, so that a mistake in one is caught by the other.

var refDenied = mustPrefixes(
	// IANA IPv4 special-purpose, multicast and reserved
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
	// IPv6 outside global unicast 2000::/3 (NAT64 well-known prefix handled before)
	"::/3", "4000::/2", "8000::/1",
	// special purpose inside 2000::/3 (2001::/32 Teredo handled before)
	"2001::/23", "2001:db8::/32", "3fff::/20",
)

var refRefusedForms = mustPrefixes("::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func refV4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]}) }

func refContains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func refAllowed(ap netip.AddrPort, allow []netip.Prefix, own []netip.Addr, lo, hi uint16) bool {
	a := ap.Addr().WithZone("")
	if ap.Port() == 0 || !a.IsValid() {
		return false
	}
	if netip.MustParsePrefix("::ffff:0:0/96").Contains(a) {
		b := a.As16()
		a = refV4(b[12:])
	}
	if refContains(refRefusedForms, a) {
		return false
	}
	var embedded []netip.Addr
	teredo := false
	if a.Is6() {
		b := a.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
			embedded = append(embedded, refV4(b[12:]))
		case netip.MustParsePrefix("2002::/16").Contains(a):
			embedded = append(embedded, refV4(b[2:6]))
		case netip.MustParsePrefix("2001::/32").Contains(a):
			teredo = true
			embedded = append(embedded, refV4(b[4:8]), refV4([]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff}))
		}
	}
	for _, o := range own {
		o = o.Unmap()
		if o == a {
			return ap.Port() >= lo && ap.Port() <= hi
		}
		if slices.Contains(embedded, o) {
			return false
		}
	}
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	nat64 := netip.MustParsePrefix("64:ff9b::/96").Contains(a)
	if !teredo && !nat64 && refContains(refDenied, a) {
		return false
	}
	for _, e := range embedded {
		if refContains(refDenied, e) {
			return false
		}
	}
	return true
}

func FuzzPolicy(f *testing.F) {
	for _, s := range append(append([]string{}, forbidden...), public...) {
		a := netip.MustParseAddr(s).WithZone("")
		f.Add(a.AsSlice(), uint16(3478))
	}
	f.Add([]byte{127, 0, 0, 2}, uint16(40000))
	f.Add([]byte{127, 0, 0, 2}, uint16(8080))
	allow := mustPrefixes("198.51.100.0/24", "fd00::/8", "64:ff9b::a00:0/104")
	own := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("8.8.4.4")}
	p := NewPolicy(allow, own, 40000, 40100)
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		ap := netip.AddrPortFrom(a, port)
		got, want := p.Allowed(ap), refAllowed(ap, allow, own, 40000, 40100)
		if got != want {
			t.Fatalf("Allowed(%s) = %v, reference says %v", ap, got, want)
		}
		if got && !p.AllowedIP(a) {
			t.Fatalf("Allowed(%s) but not AllowedIP", ap)
		}
	})
}
