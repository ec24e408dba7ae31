package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	"github.com/gorilla/websocket"
	pionturn "github.com/pion/turn/v4"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/signalingtest"
)

// testCert writes a self-signed certificate for localhost and 127.0.0.1
// into dir and returns the file paths and a pool that trusts it.
func testCert(t *testing.T, dir, name string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certPath, keyPath, pool
}

// TestTLSWholeServer serves the client, the WebSocket and a TURN allocation
// over TLS with one certificate. signaling/client has no TLS option, so the
// WebSocket is dialled with gorilla's Dialer here.
func TestTLSWholeServer(t *testing.T) {
	certPath, keyPath, pool := testCert(t, t.TempDir(), "localhost")
	ta := startTestApp(t, func(c *Config) { c.TLSCert, c.TLSKey = certPath, keyPath })
	if !strings.HasPrefix(ta.URL, "https://") || !strings.HasPrefix(ta.WSURL, "wss://") {
		t.Fatalf("URLs %s %s", ta.URL, ta.WSURL)
	}
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), ForceAttemptHTTP2: true}}

	// The browser client and the API, with HSTS on every response.
	for _, path := range []string{"/", "/privacy", "/api/stats", "/no-such-page"} {
		resp, err := hc.Get(ta.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if path != "/no-such-page" && resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != hstsValue {
			t.Errorf("GET %s: Strict-Transport-Security %q", path, got)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("GET %s over %s, want HTTP/2", path, resp.Proto)
		}
	}

	// The WebSocket: a Secure cookie and a welcome with a turns: URL on
	// the certificate's name; then an allocation over TLS.
	welcome := welcomeOverTLS(t, ta, tlsConf)
	// Under TLS a write cut short leaves the connection unusable, so no
	// frame is written on the sender's goroutine (conn.writeNow).
	if st := ta.sig.Stats(); st.DirectWrites != 0 {
		t.Fatalf("%d frames written directly over TLS", st.DirectWrites)
	}
	turnsURL := "turns:localhost:" + portOf(t, ta.relay.TLSAddr()) + "?transport=tcp"
	if !strings.Contains(strings.Join(welcome.ICEServers[0].URLs, " "), turnsURL) {
		t.Fatalf("welcome ICE URLs %v lack %s", welcome.ICEServers[0].URLs, turnsURL)
	}
	allocateOverTLS(t, ta, tlsConf, welcome)
	if st := ta.relay.Stats(); st.Allocations != 1 || st.AllocationsTotal != 1 {
		t.Errorf("relay stats after one allocation over TLS: %+v", st)
	}

	// A broken handshake from another address is logged without it.
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	raw, err := nd.Dial("tcp", ta.httpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte("\x16\x03\x01\x00\x05hello, not a handshake"))
	_, _ = io.Copy(io.Discard, raw)
	raw.Close()
	waitLog(t, ta.Logs, "TLS handshake error")
	if strings.Contains(ta.Logs.String(), "127.0.0.2") {
		t.Fatalf("a log line holds the client's address:\n%s", grepLines(ta.Logs.String(), "127.0.0.2"))
	}
}

// welcomeOverTLS opens the WebSocket over TLS, checks that the session
// cookie is Secure and returns the welcome. signaling/client has no TLS
// option, so the WebSocket is dialled with gorilla's Dialer here. The
// connection stays open until the test ends: the relay hands out
// allocations to live sessions only.
func welcomeOverTLS(t *testing.T, ta *testApp, tlsConf *tls.Config) proto.Outbound {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: tlsConf.Clone(), HandshakeTimeout: 60 * time.Second}
	ws, resp, err := d.Dial(ta.WSURL, nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == signaling.SecureCookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("session cookie over TLS: %+v", cookie)
	}
	if err := ws.WriteJSON(map[string]any{"type": proto.TypeHello, "v": proto.Version}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var welcome proto.Outbound
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != proto.TypeWelcome || len(welcome.ICEServers) == 0 {
		t.Fatalf("welcome: %+v %v", welcome, err)
	}
	return welcome
}

// allocateOverTLS makes a TURN allocation over the relay's TLS listener
// with the welcome's credential, checking the relay's certificate as a
// browser would, and returns that certificate. The allocation lasts until
// the test ends.
func allocateOverTLS(t *testing.T, ta *testApp, tlsConf *tls.Config, welcome proto.Outbound) *x509.Certificate {
	t.Helper()
	ice := welcome.ICEServers[0]
	conn, err := tls.Dial("tcp", ta.relay.TLSAddr().String(), tlsConf)
	if err != nil {
		t.Fatalf("TURN over TLS: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	tc, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: ta.relay.TLSAddr().String(),
		TURNServerAddr: ta.relay.TLSAddr().String(),
		Conn:           pionturn.NewSTUNConn(conn),
		Username:       ice.Username,
		Password:       ice.Credential,
		Realm:          ta.Cfg.TURNRealm,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	relayConn, err := tc.Allocate()
	if err != nil {
		t.Fatalf("allocation over TLS: %v", err)
	}
	t.Cleanup(func() { _ = relayConn.Close() })
	return leaf
}

func TestTLSACME(t *testing.T) {
	const domain = "parley.example"
	ta := startTestApp(t, func(c *Config) {
		c.ACMEDomain = domain
		c.ACMEListen = "127.0.0.1:0"
	})
	if fi, err := os.Stat(filepath.Join(ta.Cfg.DataDir, "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("ACME cache dir: %v %v", fi, err)
	}
	base := "http://" + ta.tls.acmeAddr().String()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	httpsPort := portOf(t, ta.httpLn.Addr())

	for _, tc := range []struct {
		method, path, host string
		status             int
		location           string
	}{
		{"GET", "/chat?x=1", "", http.StatusMovedPermanently, "https://" + domain + ":" + httpsPort + "/chat?x=1"},
		{"HEAD", "/", "", http.StatusMovedPermanently, "https://" + domain + ":" + httpsPort + "/"},
		{"GET", "/", "evil.example", http.StatusMovedPermanently, "https://" + domain + ":" + httpsPort + "/"},
		{"POST", "/api/me", "", http.StatusBadRequest, ""},
		// A challenge is answered by autocert (no such token here), never redirected.
		{"GET", "/.well-known/acme-challenge/abc", domain, http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s (Host %q): %d %q, want %d %q", tc.method, tc.path, tc.host,
				resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}

	// The relay announces turns: on the domain, served by the same manager.
	if ta.relay.TLSAddr() == nil {
		t.Fatal("no TURN TLS listener under ACME")
	}
	urls := strings.Join(ta.relay.ICEServers(strings.Repeat("a", 64), time.Now())[0].URLs, " ")
	if !strings.Contains(urls, "turns:"+domain+":") {
		t.Fatalf("ICE URLs %s", urls)
	}
	if got := ta.tls.turnConfig(); got.GetCertificate == nil || len(got.NextProtos) != 0 {
		t.Fatalf("TURN TLS config: %+v", got)
	}
	if !strings.Contains(ta.Logs.String(), "acme_listen=") || !strings.Contains(ta.Logs.String(), "tls=acme") {
		t.Fatal("the start line does not say that ACME is on")
	}
}

func TestTLSACMEWithoutPort80(t *testing.T) {
	ta := startTestApp(t, func(c *Config) {
		c.ACMEDomain = "parley.example"
		c.ACMEListen = "off"
	})
	if ta.tls.acmeAddr() != nil {
		t.Fatal("--acme-listen off still listens")
	}
	if ta.relay.TLSAddr() == nil || ta.tls.httpsConfig().GetCertificate == nil {
		t.Fatal("TLS is not on")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	_, keyPath, _ := testCert(t, dir, "localhost")
	otherCert, _, _ := testCert(t, dir, "other")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantSubstr string
	}{
		{"missing cert", filepath.Join(dir, "nope.crt"), keyPath, "no such file"},
		{"junk cert", junk, keyPath, "--tls-cert"},
		{"key of another cert", otherCert, keyPath, "--tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.TLSCert, cfg.TLSKey = tc.cert, tc.key
			a, err := newApp(cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				a.close()
				t.Fatal("newApp accepted it")
			}
			if !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Fatalf("error %q lacks %q", err, tc.wantSubstr)
			}
		})
	}
}

func TestCertFilesReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, _ := testCert(t, dir, "old.example")
	logs := &signalingtest.Logs{}
	f, err := loadCertFiles(certPath, keyPath, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if f.firstName() != "old.example" {
		t.Fatalf("first name %q", f.firstName())
	}

	// A renewal: new files in place of the old.
	newCert, newKey, _ := testCert(t, dir, "new.example")
	replace := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Hour)
		_ = os.Chtimes(to, later, later)
	}
	replace(newCert, certPath)
	replace(newKey, keyPath)
	if got := f.current(now.Add(time.Second)).Leaf.DNSNames[0]; got != "old.example" {
		t.Fatalf("looked again before the interval: %s", got)
	}
	if got := f.current(now.Add(2 * certCheckEvery)).Leaf.DNSNames[0]; got != "new.example" {
		t.Fatalf("after the renewal: %s", got)
	}

	// A half-written renewal keeps the last good one.
	if err := os.WriteFile(certPath, []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := f.current(now.Add(4 * certCheckEvery)).Leaf.DNSNames[0]; got != "new.example" {
		t.Fatalf("after a broken renewal: %s", got)
	}
	if !strings.Contains(logs.String(), "keeping the old one") {
		t.Fatalf("a broken renewal was not logged: %s", logs.String())
	}
}

func portOf(t testing.TB, a net.Addr) string {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(int(ap.Port()))
}

// waitLog waits until the logs hold s.
func waitLog(t testing.TB, logs *signalingtest.Logs, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !strings.Contains(logs.String(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("no log line with %q in:\n%s", s, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// grepLines returns the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
