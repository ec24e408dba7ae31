package prefix

import (
	"net"
	"net/netip"
	"testing"
)

func TestOfAndNetwork(t *testing.T) {
	for _, tc := range []struct {
		in, of, network string
	}{
		{"203.0.113.7", "203.0.113.7/32", "203.0.113.0/24"},
		{"::ffff:203.0.113.7", "203.0.113.7/32", "203.0.113.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/48"},
		{"2001:db8:1:2::", "2001:db8:1:2::/64", "2001:db8:1::/48"},
		{"fe80::1%eth0", "fe80::/64", "fe80::/48"},
		{"::1", "::/64", "::/48"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a := netip.MustParseAddr(tc.in)
			if got := Of(a); got.String() != tc.of {
				t.Errorf("Of = %s, want %s", got, tc.of)
			}
			if got := Network(a); got.String() != tc.network {
				t.Errorf("Network = %s, want %s", got, tc.network)
			}
		})
	}
	if Of(netip.Addr{}).IsValid() || Network(netip.Addr{}).IsValid() {
		t.Error("the zero Addr must give the zero Prefix")
	}
}

func TestOfNet(t *testing.T) {
	udp := &net.UDPAddr{IP: net.ParseIP("::ffff:198.51.100.9"), Port: 5}
	if got := OfNet(udp); got.String() != "198.51.100.9/32" {
		t.Errorf("udp: %s", got)
	}
	tcp := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5}
	if got := OfNet(tcp); got.String() != "2001:db8::/64" {
		t.Errorf("tcp: %s", got)
	}
	if OfNet(&net.UnixAddr{Name: "x"}).IsValid() {
		t.Error("a unix address has no prefix")
	}
}
