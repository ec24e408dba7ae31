package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// acmeTestDomain is the name parley gets certificates for from Pebble.
// .test is reserved (RFC 2606): it can never reach a real CA or a real host.
const acmeTestDomain = "chat.parley.test"

// pebbleCA is Let's Encrypt's test ACME server, Pebble, in process: its web
// front end (the ACME directory) on an HTTPS loopback listener with a
// certificate of the test's own, its CA, and its validation authority,
// which resolves names with the test's DNS server and connects to the
// challenge ports it is given, as Let's Encrypt connects to 80 and 443.
type pebbleCA struct {
	DirURL string // the ACME directory, for --acme-directory
	CAFile string // the front end's certificate, for --acme-ca

	ln       net.Listener
	certPath string
	keyPath  string
	validity time.Duration
	logs     *lockedBuffer
	ca       *ca.CAImpl
	srv      *http.Server
}

// newPebble binds Pebble's listener, so that parley can be configured with
// its directory URL before the ports of parley's challenge listeners, which
// Pebble must be told, are known. validity 0 is Pebble's default (90 days).
func newPebble(t *testing.T, validity time.Duration) *pebbleCA {
	t.Helper()
	// Pebble reads these when its parts are built. No random sleep before
	// a validation, no random nonce rejection and no reuse of an earlier
	// authorization: every certificate, renewals too, passes a challenge.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, _ := testCert(t, t.TempDir(), "localhost")
	p := &pebbleCA{
		DirURL:   "https://" + ln.Addr().String() + wfe.DirectoryPath,
		CAFile:   certPath,
		ln:       ln,
		certPath: certPath,
		keyPath:  keyPath,
		validity: validity,
		logs:     &lockedBuffer{},
	}
	t.Cleanup(func() {
		if p.srv != nil {
			_ = p.srv.Close()
		} else {
			_ = ln.Close()
		}
		if t.Failed() {
			t.Logf("pebble's log:\n%s", p.logs.String())
		}
	})
	return p
}

// start builds Pebble's CA, validation authority and front end and serves
// the directory. Validations resolve names with the DNS server at dnsAddr
// and connect to httpPort (HTTP-01) and tlsPort (TLS-ALPN-01).
func (p *pebbleCA) start(t *testing.T, dnsAddr string, httpPort, tlsPort int) {
	t.Helper()
	logger := log.New(p.logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	p.ca = ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "parley's test profile", ValidityPeriod: uint64(p.validity / time.Second)},
	})
	validator := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	p.srv = &http.Server{Handler: front.Handler(), ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.ServeTLS(p.ln, p.certPath, p.keyPath); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.logs.Write([]byte("serve: " + err.Error() + "\n"))
		}
	}()
}

// roots trusts the certificates Pebble issues.
func (p *pebbleCA) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.GetRootCert(0).Cert)
	return pool
}

// startDNS serves A records of 127.0.0.1 for every name under parley.test
// over TCP (Pebble's resolver asks over TCP), and nothing else.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{
		Listener:          ln,
		NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			for _, q := range r.Question {
				if !strings.HasSuffix(q.Name, ".parley.test.") {
					m.Rcode = dns.RcodeNameError
					continue
				}
				if q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
						A:   net.IPv4(127, 0, 0, 1),
					})
				}
			}
			_ = w.WriteMsg(m)
		}),
	}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// closedPort is a TCP port that takes connections and closes them at once:
// the "443" of a host where something else than parley answers there.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// startACMEApp starts parley with ACME pointed at p for acmeTestDomain;
// acmeListen is --acme-listen ("off" for TLS-ALPN-01 only).
func startACMEApp(t *testing.T, p *pebbleCA, acmeListen string) *testApp {
	t.Helper()
	return startOpsApp(t, "", func(c *Config) {
		c.ACMEDomain = acmeTestDomain
		c.ACMEListen = acmeListen
		c.ACMEDirectory = p.DirURL
		c.ACMECA = p.CAFile
	})
}

// fetchCert connects to parley's HTTPS listener as a browser would, by
// name with Pebble's roots, and returns the certificate it verified. The
// first connection waits for the certificate to be issued.
func fetchCert(t *testing.T, ta *testApp, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	tlsConf := &tls.Config{RootCAs: roots, ServerName: acmeTestDomain, MinVersion: tls.VersionTLS12}
	hc := &http.Client{
		Timeout:   90 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, DisableKeepAlives: true},
	}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(ta.URL + "/")
	if err != nil {
		t.Fatalf("GET / over HTTPS: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != hstsValue {
		t.Fatalf("GET / over HTTPS: %s, HSTS %q", resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeTestDomain {
		t.Fatalf("certificate for %v", leaf.DNSNames)
	}
	return leaf
}

// servedCert is the certificate parley's HTTPS listener serves now, not
// verified.
func servedCert(t *testing.T, ta *testApp) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ta.httpLn.Addr().String(), &tls.Config{
		ServerName:         acmeTestDomain,
		InsecureSkipVerify: true, // only to see which certificate is served; fetchCert verifies
		MinVersion:         tls.VersionTLS12,
	})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// checkServesEverything proves that the certificate in use is the one
// HTTPS, the WebSocket, TURN over TLS and the expiry metric all agree on.
func checkServesEverything(t *testing.T, ta *testApp, roots *x509.CertPool, want *x509.Certificate) {
	t.Helper()
	tlsConf := &tls.Config{RootCAs: roots, ServerName: acmeTestDomain, MinVersion: tls.VersionTLS12}
	welcome := welcomeOverTLS(t, ta, tlsConf)
	turns := "turns:" + acmeTestDomain + ":" + portOf(t, ta.relay.TLSAddr()) + "?transport=tcp"
	if !strings.Contains(strings.Join(welcome.ICEServers[0].URLs, " "), turns) {
		t.Fatalf("welcome ICE URLs %v lack %s", welcome.ICEServers[0].URLs, turns)
	}
	got := allocateOverTLS(t, ta, tlsConf, welcome)
	if !got.Equal(want) {
		t.Fatalf("TURN over TLS served serial %s, HTTPS serial %s", got.SerialNumber, want.SerialNumber)
	}
	fams := scrape(t, ta)
	if v := value(t, fams, "parley_tls_certificate_expiry_timestamp_seconds"); int64(v) != want.NotAfter.Unix() {
		t.Errorf("expiry metric %v, certificate not after %v", time.Unix(int64(v), 0), want.NotAfter)
	}
	if v := value(t, fams, "parley_tls_certificate_lifetime_seconds"); v != want.NotAfter.Sub(want.NotBefore).Seconds() {
		t.Errorf("lifetime metric %v", v)
	}
}

// TestACMETLSALPN01AndRenewal gets a short-lived certificate from Pebble
// over TLS-ALPN-01 on the HTTPS listener (--acme-listen off: no port 80),
// serves HTTPS, the WebSocket and TURN over TLS with it, and then sees it
// renewed before it expires, without a restart, on both listeners.
func TestACMETLSALPN01AndRenewal(t *testing.T) {
	const validity = 15 * time.Second // autocert renews a third of the lifetime before the end
	p := newPebble(t, validity)
	ta := startACMEApp(t, p, "off")
	if ta.tls.acmeAddr() != nil {
		t.Fatal("--acme-listen off still listens")
	}
	dnsAddr := startDNS(t)
	p.start(t, dnsAddr, closedPort(t), ta.httpLn.Addr().(*net.TCPAddr).Port)
	roots := p.roots()

	first := fetchCert(t, ta, roots)
	if life := first.NotAfter.Sub(first.NotBefore); life > validity {
		t.Fatalf("certificate valid for %v, want at most %v", life, validity)
	}
	checkServesEverything(t, ta, roots, first)
	if n := strings.Count(p.logs.String(), "Attempting to validate w/ HTTP"); n != 0 {
		t.Fatalf("HTTP-01 was tried %d times without an HTTP-01 listener", n)
	}

	// Renewal: autocert's own timer, a third of the lifetime before the
	// end. Each look is a TLS handshake that only notes the certificate
	// served (an expired one must not stop the look); the new one is then
	// checked in full.
	var renewed *x509.Certificate
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for renewed == nil {
		<-tick.C
		if time.Now().After(first.NotAfter.Add(30 * time.Second)) {
			t.Fatalf("not renewed by %v; log:\n%s", first.NotAfter, ta.Logs.String())
		}
		if c := servedCert(t, ta); !c.Equal(first) {
			renewed = c
		}
	}
	if !renewed.NotBefore.Before(first.NotAfter) {
		t.Fatalf("renewed at %v, after the first certificate ended (%v)", renewed.NotBefore, first.NotAfter)
	}
	if got := fetchCert(t, ta, roots); !got.Equal(renewed) {
		t.Fatalf("HTTPS serves serial %s after the renewal to %s", got.SerialNumber, renewed.SerialNumber)
	}
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Fatalf("renewed certificate ends %v, the first %v", renewed.NotAfter, first.NotAfter)
	}
	checkServesEverything(t, ta, roots, renewed)
	if n := strings.Count(p.logs.String(), "set VALID by completed challenge"); n != 2 {
		t.Errorf("%d challenges passed, want 2: the renewal passes one too", n)
	}
	if n := strings.Count(ta.Logs.String(), "tls certificate in use"); n != 2 {
		t.Errorf("%d lines about a new certificate, want 2 (issued, renewed):\n%s", n, grepLines(ta.Logs.String(), "tls certificate"))
	}
}

// TestACMEHTTP01 gets a certificate over HTTP-01 on --acme-listen when
// TLS-ALPN-01 cannot work (the CA's port 443 is not parley's here, as when
// parley serves HTTPS on another port), and serves HTTPS and TURN over TLS
// with it.
func TestACMEHTTP01(t *testing.T) {
	p := newPebble(t, 0)
	ta := startACMEApp(t, p, "127.0.0.1:0")
	dnsAddr := startDNS(t)
	p.start(t, dnsAddr, ta.tls.acmeAddr().(*net.TCPAddr).Port, closedPort(t))
	roots := p.roots()

	cert := fetchCert(t, ta, roots)
	if life := cert.NotAfter.Sub(cert.NotBefore); life < 80*day {
		t.Fatalf("certificate valid for %v, Pebble's default is 90 days", life)
	}
	checkServesEverything(t, ta, roots, cert)
	// autocert tries TLS-ALPN-01 first; it fails, and HTTP-01 passes.
	logs := p.logs.String()
	failed := strings.Index(logs, "set INVALID by completed challenge")
	overHTTP := strings.Index(logs, "Attempting to validate w/ HTTP: http://"+acmeTestDomain+":")
	passed := strings.LastIndex(logs, "set VALID by completed challenge")
	if failed < 0 || overHTTP < failed || passed < overHTTP {
		t.Fatalf("not TLS-ALPN-01 failing, then HTTP-01 passing:\n%s", logs)
	}
	if !strings.Contains(ta.Logs.String(), "tls certificate in use") {
		t.Error("the new certificate was not logged")
	}
}

// TestACMECAFile checks what --acme-ca refuses.
func TestACMECAFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ca, want string
	}{
		{"missing", dir + "/nope.pem", "reading --acme-ca"},
		{"not PEM", "acme_test.go", "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ACMEDomain, cfg.ACMEListen, cfg.ACMECA = acmeTestDomain, "off", tc.ca
			cfg.ACMEDirectory = "https://127.0.0.1:1/dir"
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			_, err := newTLSSetup(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestACMESettings checks the ACME flags' rules and that a CA other than
// Let's Encrypt gets a certificate cache of its own.
func TestACMESettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "" when accepted
	}{
		{"defaults", nil, ""},
		{"lets encrypt", []string{"--acme-domain", "a.example"}, ""},
		{"pebble", []string{"--acme-domain", "a.example", "--acme-directory", "https://127.0.0.1:14000/dir", "--acme-ca", "x.pem"}, ""},
		{"plain http", []string{"--acme-domain", "a.example", "--acme-directory", "http://127.0.0.1:14000/dir"}, "https://"},
		{"directory without domain", []string{"--acme-directory", "https://127.0.0.1:14000/dir"}, "only with --acme-domain"},
		{"ca without domain", []string{"--acme-ca", "x.pem"}, "only with --acme-domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(string) string { return "" }, &strings.Builder{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}

	le := Config{DataDir: "/d", ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory"}
	other := Config{DataDir: "/d", ACMEDirectory: "https://acme-staging-v02.api.letsencrypt.org/directory"}
	if got := acmeCacheDir(le); got != "/d/acme" {
		t.Errorf("Let's Encrypt's cache is %s, want /d/acme (where earlier versions kept it)", got)
	}
	if got := acmeCacheDir(other); got == "/d/acme" || !strings.HasPrefix(got, "/d/acme-") {
		t.Errorf("another CA's cache is %s", got)
	}
}

// lockedBuffer is a bytes.Buffer for writers on several goroutines.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
