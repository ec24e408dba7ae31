package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// hstsValue is sent on every HTTPS response. A year, without
// includeSubDomains: the operator's other sub-domains are not ours to
// decide about.
const hstsValue = "max-age=31536000"

// certCheckEvery is how often certificate files are looked at for a renewal
// (certbot and the like replace them in place).
const certCheckEvery = time.Minute

// tlsSetup is HTTPS and TURN over TLS: either certificate files or
// certificates obtained automatically with ACME (TLS-ALPN-01 on the HTTPS
// listener, HTTP-01 on a listener of its own, which also redirects
// everything else to HTTPS). A nil *tlsSetup means plain HTTP; its methods
// accept that.
type tlsSetup struct {
	log    *slog.Logger
	mode   string // "files" or "acme"
	domain string // ACME only
	files  *certFiles
	mgr    *autocert.Manager
	cfg    *tls.Config // for HTTPS
	served certWatch   // ACME only: the certificate handed out last, for metrics and the log

	acmeLn  net.Listener // ACME only: HTTP-01 and the redirect
	acmeSrv *http.Server
}

// newTLSSetup loads the certificate or prepares ACME and binds the ACME
// listener. It returns nil without --tls-cert or --acme-domain.
func newTLSSetup(cfg Config, log *slog.Logger) (*tlsSetup, error) {
	switch {
	case cfg.TLSCert != "":
		files, err := loadCertFiles(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			return nil, err
		}
		return &tlsSetup{log: log, mode: "files", files: files, cfg: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: files.get,
		}}, nil
	case cfg.ACMEDomain != "":
		return newACME(cfg, log)
	}
	return nil, nil
}

func newACME(cfg Config, log *slog.Logger) (*tlsSetup, error) {
	client, err := acmeClient(cfg)
	if err != nil {
		return nil, err
	}
	dir := acmeCacheDir(cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the ACME cache: %w", err)
	}
	t := &tlsSetup{log: log, mode: "acme", domain: cfg.ACMEDomain}
	allowed := autocert.HostWhitelist(cfg.ACMEDomain)
	t.mgr = &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(dir),
		Client: client,
		// autocert asks the policy with the HTTP-01 request's Host as it
		// came, port and all: a CA that validates on a port other than
		// 80 (a test CA, a port forward) sends one.
		HostPolicy: func(ctx context.Context, host string) error {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return allowed(ctx, host)
		},
	}
	t.cfg = t.mgr.TLSConfig()
	t.cfg.MinVersion = tls.VersionTLS12
	getCert := t.cfg.GetCertificate
	t.cfg.GetCertificate = t.watch(func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		// TURN clients reaching the relay by address send no server name;
		// there is only one name to answer for.
		if hello.ServerName == "" {
			hello.ServerName = t.domain
		}
		return getCert(hello)
	})
	if cfg.ACMEListen == "off" {
		// TLS-ALPN-01 on the HTTPS listener (when it is port 443) only.
		return t, nil
	}
	ln, err := net.Listen("tcp", cfg.ACMEListen)
	if err != nil {
		return nil, fmt.Errorf("listening on --acme-listen %s: %w", cfg.ACMEListen, err)
	}
	t.acmeLn = ln
	return t, nil
}

// acmeClient talks to --acme-directory, trusting --acme-ca besides the
// system's roots when it is set (a private CA, or Pebble in the tests).
func acmeClient(cfg Config) (*acme.Client, error) {
	c := &acme.Client{DirectoryURL: cfg.ACMEDirectory, UserAgent: "parley/" + version}
	if cfg.ACMECA == "" {
		return c, nil
	}
	pem, err := os.ReadFile(cfg.ACMECA)
	if err != nil {
		return nil, fmt.Errorf("reading --acme-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--acme-ca %s: no PEM certificate in it", cfg.ACMECA)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.HTTPClient = &http.Client{Transport: tr}
	return c, nil
}

// acmeCacheDir is <data-dir>/acme for Let's Encrypt and a directory of its
// own for any other CA: certificates cached from a test or staging CA must
// never be served once the node points at the real one.
func acmeCacheDir(cfg Config) string {
	if cfg.ACMEDirectory == autocert.DefaultACMEDirectory {
		return filepath.Join(cfg.DataDir, "acme")
	}
	sum := sha256.Sum256([]byte(cfg.ACMEDirectory))
	return filepath.Join(cfg.DataDir, "acme-"+hex.EncodeToString(sum[:6]))
}

// watch wraps autocert's GetCertificate to note the certificate it hands
// out, so that its expiry is a metric and a new one (a renewal) is logged
// once: autocert renews on a timer of its own and says nothing. ACME's
// TLS-ALPN-01 challenge certificates are not the node's and are left out.
func (t *tlsSetup) watch(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err != nil || cert == nil || slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			return cert, err
		}
		leaf := cert.Leaf
		if leaf == nil && len(cert.Certificate) > 0 {
			if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return cert, nil // the handshake goes on; only the metric misses it
			}
		}
		if leaf != nil && t.served.observe(leaf) {
			t.log.Info("tls certificate in use", "mode", t.mode,
				"not_before", leaf.NotBefore.UTC().Format(time.RFC3339),
				"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return cert, nil
	}
}

// certificate returns the validity of the certificate handed out last;
// ok is false before the first TLS handshake (under ACME, before the first
// certificate was obtained) and without TLS.
func (t *tlsSetup) certificate() (notBefore, notAfter time.Time, ok bool) {
	if t == nil {
		return time.Time{}, time.Time{}, false
	}
	if t.files != nil {
		// Files are known from the start, without waiting for a visitor.
		leaf := t.files.current(time.Now()).Leaf
		return leaf.NotBefore, leaf.NotAfter, true
	}
	return t.served.get()
}

// certWatch is the validity of one certificate, updated as new ones are
// served.
type certWatch struct {
	mu                  sync.Mutex // guards the fields below
	serial              string
	notBefore, notAfter time.Time
}

// observe records leaf and reports whether it differs from the last one.
func (w *certWatch) observe(leaf *x509.Certificate) bool {
	serial := leaf.SerialNumber.String() + "/" + leaf.Issuer.String()
	w.mu.Lock()
	defer w.mu.Unlock()
	if serial == w.serial {
		return false
	}
	w.serial, w.notBefore, w.notAfter = serial, leaf.NotBefore, leaf.NotAfter
	return true
}

func (w *certWatch) get() (notBefore, notAfter time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.notBefore, w.notAfter, w.serial != ""
}

// httpsConfig is the public listener's TLS config, a copy: net/http adds
// its protocols to the one it is given.
func (t *tlsSetup) httpsConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.cfg.Clone()
}

// turnConfig is the relay's TLS config: the same certificate, without the
// HTTP protocols in ALPN.
func (t *tlsSetup) turnConfig() *tls.Config {
	if t == nil {
		return nil
	}
	c := t.cfg.Clone()
	c.NextProtos = nil
	return c
}

// clusterConfig secures the routes between the nodes of a cluster with this
// node's certificate; the nodes check each other's against the host names
// of --cluster-peers, so those must be names the certificates cover.
func (t *tlsSetup) clusterConfig() *tls.Config {
	if t == nil {
		return nil
	}
	c := t.cfg.Clone()
	c.NextProtos = nil
	return c
}

// turnHost is the host put in the TURN URLs. Browsers check the relay's
// certificate against it, so under TLS it must be a name of the
// certificate: the configured one, else the ACME domain or the first DNS
// name of the certificate file.
func (t *tlsSetup) turnHost(configured string) string {
	switch {
	case configured != "" || t == nil:
		return configured
	case t.domain != "":
		return t.domain
	default:
		return t.files.firstName()
	}
}

// secureHeaders adds Strict-Transport-Security to every response served
// over TLS.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		h.ServeHTTP(w, r)
	})
}

// serveACME answers HTTP-01 challenges and redirects the rest to HTTPS on
// the public listener's port.
func (t *tlsSetup) serveACME(httpsAddr net.Addr, errorLog *slog.Logger, errc chan<- error) {
	if t == nil || t.acmeLn == nil {
		return
	}
	host := t.domain
	if _, port, err := net.SplitHostPort(httpsAddr.String()); err == nil && port != "443" {
		host = net.JoinHostPort(t.domain, port)
	}
	t.acmeSrv = &http.Server{
		Handler:           t.mgr.HTTPHandler(redirectToHTTPS(host)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          newErrorLog(errorLog),
	}
	go serveHTTP(t.acmeSrv, t.acmeLn, false, "acme", errc)
}

// redirectToHTTPS sends GET and HEAD to the same path on host over HTTPS;
// anything else is refused rather than replayed.
func redirectToHTTPS(host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// shutdown stops the ACME listener.
func (t *tlsSetup) shutdown(ctx context.Context) error {
	if t == nil || t.acmeSrv == nil {
		return nil
	}
	if err := t.acmeSrv.Shutdown(ctx); err != nil {
		_ = t.acmeSrv.Close()
		return fmt.Errorf("acme listener: %w", err)
	}
	return nil
}

// close releases the ACME listener of a server that never served.
func (t *tlsSetup) close() {
	if t != nil && t.acmeLn != nil {
		_ = t.acmeLn.Close()
	}
}

// acmeAddr is the bound ACME listener, nil without ACME.
func (t *tlsSetup) acmeAddr() net.Addr {
	if t == nil || t.acmeLn == nil {
		return nil
	}
	return t.acmeLn.Addr()
}

func (t *tlsSetup) modeName() string {
	if t == nil {
		return "off"
	}
	return t.mode
}

// certFiles is a certificate and key on disk, read again when either file
// changes so that a renewal needs no restart. A renewal that fails to load
// keeps the old certificate and is logged.
type certFiles struct {
	certPath, keyPath string
	log               *slog.Logger
	every             time.Duration

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	stamp   string // modification times and sizes of both files
	checked time.Time
}

func loadCertFiles(certPath, keyPath string, log *slog.Logger) (*certFiles, error) {
	f := &certFiles{certPath: certPath, keyPath: keyPath, log: log, every: certCheckEvery}
	stamp, err := f.fileStamp()
	if err != nil {
		return nil, fmt.Errorf("reading the TLS certificate: %w", err)
	}
	cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cert, f.stamp, f.checked = cert, stamp, time.Now()
	return f, nil
}

func (f *certFiles) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading --tls-cert and --tls-key: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parsing --tls-cert: %w", err)
		}
	}
	return &cert, nil
}

func (f *certFiles) fileStamp() (string, error) {
	var stamp string
	for _, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		stamp += fi.ModTime().UTC().Format(time.RFC3339Nano) + "/" + strconv.FormatInt(fi.Size(), 10) + ";"
	}
	return stamp, nil
}

// get is tls.Config.GetCertificate; it is the edge where the time is read.
func (f *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.current(time.Now()), nil
}

// current returns the certificate, reloading it when the files changed
// since the last look (at most once per f.every).
func (f *certFiles) current(now time.Time) *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.checked) < f.every {
		return f.cert
	}
	f.checked = now
	stamp, err := f.fileStamp()
	if err != nil || stamp == f.stamp {
		return f.cert
	}
	cert, err := f.load()
	if err != nil {
		// A half-written renewal: keep serving the old one and look again.
		f.log.Warn("tls certificate changed but does not load; keeping the old one", "err", err)
		return f.cert
	}
	f.cert, f.stamp = cert, stamp
	f.log.Info("tls certificate reloaded", "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return f.cert
}

func (f *certFiles) firstName() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cert.Leaf.DNSNames) > 0 {
		return f.cert.Leaf.DNSNames[0]
	}
	return ""
}

// serveHTTP serves srv on ln until it is shut down, over TLS when useTLS
// (srv.TLSConfig then holds the certificate), and reports a failure on errc.
func serveHTTP(srv *http.Server, ln net.Listener, useTLS bool, name string, errc chan<- error) {
	var err error
	if useTLS {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		select {
		case errc <- fmt.Errorf("%s: %w", name, err):
		default:
		}
	}
}
