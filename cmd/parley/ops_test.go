package main

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	"github.com/parley-chat/parley/signaling/client"
)

// TestStartLineNamesRelayAddress checks that the start-up line says which
// public address the relay announces (the operator's own, worth seeing when
// the detection picked the wrong one) and that, after a chat from another
// address, no log line holds any address but the server's own.
func TestStartLineNamesRelayAddress(t *testing.T) {
	const announced = "198.51.100.20"
	ta := startTestApp(t, func(c *Config) { c.TURNPublicIP = netip.MustParseAddr(announced) })
	waitLog(t, ta.Logs, "parley serving")
	start := grepLines(ta.Logs.String(), "parley serving")
	if !strings.Contains(start, "turn_public_ip="+announced) {
		t.Fatalf("the start line does not name the announced address:\n%s", start)
	}

	a, b := dialPeer(t, ta, "127.0.0.2"), dialPeer(t, ta, "127.0.0.3")
	for _, c := range []*client.Client{a, b} {
		if err := c.Join(client.Join{Mode: "random"}); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, a, proto.TypeMatched)
	waitEvent(t, b, proto.TypeMatched)
	_ = a.Leave()
	waitEvent(t, b, proto.TypePartnerLeft)

	own := map[string]bool{announced: true, "127.0.0.1": true} // the relay's and the listeners'
	ipv4 := regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	for _, line := range strings.Split(ta.Logs.String(), "\n") {
		for _, addr := range ipv4.FindAllString(line, -1) {
			if !own[addr] {
				t.Errorf("a log line holds %s, not an address of the server:\n%s", addr, line)
			}
		}
	}
}

// TestCertificateMetricsFromFiles checks the expiry metrics of a
// certificate file (the ACME tests check them under ACME), and that they
// are absent without TLS.
func TestCertificateMetricsFromFiles(t *testing.T) {
	certPath, keyPath, _ := testCert(t, t.TempDir(), "localhost")
	ta := startOpsApp(t, "", func(c *Config) { c.TLSCert, c.TLSKey = certPath, keyPath })
	leaf := ta.tls.files.current(time.Now()).Leaf
	fams := scrape(t, ta)
	if v := value(t, fams, "parley_tls_certificate_expiry_timestamp_seconds"); int64(v) != leaf.NotAfter.Unix() {
		t.Errorf("expiry %v, want %v", v, leaf.NotAfter.Unix())
	}
	if v := value(t, fams, "parley_tls_certificate_lifetime_seconds"); v != leaf.NotAfter.Sub(leaf.NotBefore).Seconds() {
		t.Errorf("lifetime %v", v)
	}

	plain := startOpsApp(t, "", nil)
	for name := range scrape(t, plain) {
		if strings.HasPrefix(name, "parley_tls_") {
			t.Errorf("%s without TLS", name)
		}
	}
}
