package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
)

// adminServer is the operator's listener: /healthz, /readyz, /metrics and,
// with PARLEY_ADMIN_TOKEN, the admin API. It listens on loopback unless the
// operator says otherwise, and serves nothing that names a person.
type adminServer struct {
	log     *slog.Logger
	sig     *signaling.Server
	store   *store.Store
	relay   *turn.Server // nil when the relay is off; kept here because app.close clears app.relay
	token   [sha256.Size]byte
	enabled bool // the admin API is on (a token is configured)
	started time.Time

	dataDir   string     // where a backup is spooled before it is sent
	keySource string     // where the master key comes from, for backups: the key file or PARLEY_KEY
	backupMu  sync.Mutex // one backup at a time

	ln  net.Listener
	srv *http.Server
}

// newAdminServer binds the admin listener; nil when --admin-listen is off.
func newAdminServer(a *app) (*adminServer, error) {
	if a.cfg.AdminListen == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("listening on --admin-listen %s: %w", a.cfg.AdminListen, err)
	}
	s := &adminServer{
		log:     a.log.With("component", "admin"),
		sig:     a.sig,
		store:   a.store,
		relay:   a.relay,
		started: time.Now(),
		ln:      ln,
		dataDir: a.cfg.DataDir,
	}
	s.keySource = a.cfg.KeyFile
	if a.cfg.Key != "" {
		s.keySource = "PARLEY_KEY (the environment)"
	}
	if a.cfg.AdminToken != "" {
		s.enabled = true
		s.token = sha256.Sum256([]byte(a.cfg.AdminToken))
	}
	if ap, ok := ln.Addr().(*net.TCPAddr); ok && !ap.IP.IsLoopback() {
		s.log.Warn("the admin listener is not on loopback: keep it behind a firewall", "admin_listen", ln.Addr().String())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(a),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	}))
	if s.enabled {
		mux.Handle("GET /admin/bans", s.auth(s.serveBans))
		mux.Handle("DELETE /admin/bans/{key}", s.auth(s.serveLiftBan))
		mux.Handle("GET /admin/ban-lookup", s.auth(s.serveBanLookup))
		mux.Handle("GET /admin/stats", s.auth(s.serveStats))
		mux.Handle("GET /admin/backup", s.auth(s.serveBackup))
		s.mountHelpline(mux, a)
	}
	s.srv = &http.Server{
		Handler:           noStore(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          newErrorLog(s.log),
	}
	return s, nil
}

func (s *adminServer) start(errc chan<- error) {
	if s != nil {
		go serveHTTP(s.srv, s.ln, false, "admin", errc)
	}
}

func (s *adminServer) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// close releases the listener of a server that never served.
func (s *adminServer) close() {
	if s != nil {
		_ = s.ln.Close()
	}
}

func (s *adminServer) addr() string {
	if s == nil {
		return "off"
	}
	return s.ln.Addr().String()
}

// serveReady answers 200 when the store is open, the relay answers a STUN
// binding request and signaling is not shutting down; 503 otherwise, with
// the reason for each check.
func (s *adminServer) serveReady(w http.ResponseWriter, r *http.Request) {
	checks := []struct {
		name string
		err  error
	}{
		{"store", s.store.Ping()},
		{"relay", s.probeRelay(r.Context())},
		{"signaling", s.signalingReady()},
	}
	status, body := http.StatusOK, ""
	for _, c := range checks {
		res := "ok"
		if c.err != nil {
			status, res = http.StatusServiceUnavailable, c.err.Error()
		}
		body += c.name + ": " + res + "\n"
	}
	plain(w, status, body)
}

func (s *adminServer) signalingReady() error {
	if s.sig.Closing() {
		return errors.New("shutting down")
	}
	if s.sig.Degraded() {
		// A node of a cluster that reaches no leader refuses new chats: a
		// load balancer should send people to a node that has one.
		return errors.New("no cluster leader reachable")
	}
	return nil
}

// probeRelay sends a STUN binding request to the relay's UDP listener and
// waits for the answer: proof that a read loop runs, not only that a socket
// was once bound.
func (s *adminServer) probeRelay(ctx context.Context) error {
	if s.relay == nil {
		return nil // the relay is off: nothing to wait for
	}
	ua, ok := s.relay.UDPAddr().(*net.UDPAddr)
	if !ok {
		return errors.New("no UDP listener")
	}
	target := &net.UDPAddr{IP: ua.IP, Port: ua.Port}
	if target.IP.IsUnspecified() {
		target.IP = net.IPv4(127, 0, 0, 1)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", target.String())
	if err != nil {
		return errors.New("cannot reach the relay")
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(req.Raw); err != nil {
		return errors.New("cannot reach the relay")
	}
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return errors.New("the relay does not answer")
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() == nil && res.TransactionID == req.TransactionID {
			if res.Type != stun.BindingSuccess {
				return errors.New("the relay refused a binding request")
			}
			return nil
		}
	}
}

// auth lets a request through only with the configured bearer token. Both
// sides are hashed first so the comparison takes the same time whatever
// the length of the guess.
func (s *adminServer) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := r.Header.Get("Authorization")
		const scheme = "bearer " // the scheme is case-insensitive (RFC 9110)
		ok := len(hdr) > len(scheme) && strings.EqualFold(hdr[:len(scheme)], scheme)
		var got string
		if ok {
			got = hdr[len(scheme):]
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley admin"`)
			plain(w, http.StatusUnauthorized, "unauthorized\n")
			return
		}
		h(w, r)
	})
}

// banJSON is one ban in the admin API: the keyed hash of the banned
// prefix, never the prefix.
type banJSON struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
	Count int       `json:"count"`
	Bits  int       `json:"bits"` // the prefix length banned; 0 for a ban from before format 2 (a /32 or /64)
}

func (s *adminServer) serveBans(w http.ResponseWriter, _ *http.Request) {
	bans, err := s.store.Bans(time.Now())
	resp := struct {
		Bans    []banJSON `json:"bans"`
		Warning string    `json:"warning,omitempty"`
	}{Bans: []banJSON{}}
	switch {
	case errors.Is(err, store.ErrCorrupt):
		resp.Warning = err.Error() // the list of the readable ones is still right
	case err != nil:
		s.log.Error("listing bans failed", "err", err)
		plain(w, http.StatusInternalServerError, "internal error\n")
		return
	}
	for _, b := range bans {
		resp.Bans = append(resp.Bans, banJSON{Key: b.Key, Until: b.Until.UTC(), Count: b.Count, Bits: b.Bits})
	}
	writeJSONResponse(w, http.StatusOK, resp)
}

// serveBanLookup tells an operator whether an address they were given (a
// person who writes in about a ban) is banned, and under which key, so the
// ban can be lifted. The address is hashed as the store hashes it and is
// neither logged nor kept.
func (s *adminServer) serveBanLookup(w http.ResponseWriter, r *http.Request) {
	addr, err := netip.ParseAddr(r.URL.Query().Get("addr"))
	if err != nil {
		plain(w, http.StatusBadRequest, "addr must be an IPv4 or IPv6 address\n")
		return
	}
	ban, banned, err := s.store.Banned(time.Now(), addr)
	if err != nil {
		s.log.Error("ban lookup failed", "err", err)
		plain(w, http.StatusInternalServerError, "internal error\n")
		return
	}
	resp := struct {
		Banned bool     `json:"banned"`
		Ban    *banJSON `json:"ban,omitempty"`
	}{Banned: banned}
	if banned {
		resp.Ban = &banJSON{Key: ban.Key, Until: ban.Until.UTC(), Count: ban.Count, Bits: ban.Bits}
	}
	writeJSONResponse(w, http.StatusOK, resp)
}

func (s *adminServer) serveLiftBan(w http.ResponseWriter, r *http.Request) {
	if !s.sig.Leads() {
		// Only the leader's writes replicate: lifted here, the ban would
		// stay in force on every other node.
		plain(w, http.StatusConflict, "this node does not lead the cluster: lift the ban through the admin API of the node whose log says \"cluster: this node leads\"\n")
		return
	}
	err := s.store.LiftBan(r.PathValue("key"))
	switch {
	case err == nil:
		s.log.Info("ban lifted by the admin api")
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, store.ErrBadBanKey):
		plain(w, http.StatusBadRequest, "a ban key is 64 hex digits, as listed by GET /admin/bans\n")
	case errors.Is(err, store.ErrNotFound):
		plain(w, http.StatusNotFound, "no such ban\n")
	default:
		s.log.Error("lifting a ban failed", "err", err)
		plain(w, http.StatusInternalServerError, "internal error\n")
	}
}

// serveBackup is GET /admin/backup: a consistent copy of the database,
// sealed as it is on disk and without its key. It is spooled to an
// unlinked file in the data dir first, so that bbolt's read transaction
// lasts as long as a local copy, not as long as the client takes to read
// (a long one holds up writes that grow the file); the headers say which
// key opens it and where the server reads that key from.
func (s *adminServer) serveBackup(w http.ResponseWriter, _ *http.Request) {
	if !s.backupMu.TryLock() {
		plain(w, http.StatusConflict, "a backup is already running\n")
		return
	}
	defer s.backupMu.Unlock()
	f, err := os.CreateTemp(s.dataDir, ".backup-*")
	if err != nil {
		s.log.Error("backup failed", "err", err)
		plain(w, http.StatusInternalServerError, "internal error\n")
		return
	}
	_ = os.Remove(f.Name()) // nothing stays behind, whatever happens next
	defer f.Close()
	n, err := s.store.Backup(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.log.Error("backup failed", "err", err)
		plain(w, http.StatusInternalServerError, "internal error\n")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	h.Set("Content-Disposition", `attachment; filename="parley.db"`)
	h.Set("Parley-Key-Id", s.store.KeyID())
	h.Set("Parley-Key-Source", s.keySource)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("sending a backup failed", "err", err)
		return
	}
	s.log.Info("backup taken through the admin api", "bytes", n)
}

// adminStats is GET /admin/stats: process health and totals, no person.
type adminStats struct {
	Version       string        `json:"version"`
	UptimeSeconds int64         `json:"uptimeSeconds"`
	Goroutines    int           `json:"goroutines"`
	Memory        memoryStats   `json:"memory"`
	Connections   connStats     `json:"connections"`
	Sessions      int           `json:"sessions"`
	Waiting       []waitingJSON `json:"waiting"`
	PairsTotal    int64         `json:"pairsTotal"`
	ChatsToday    int           `json:"chatsToday"`
	ReportsTotal  int64         `json:"reportsTotal"`
	BansIssued    int64         `json:"bansIssuedTotal"`
	BansActive    *int          `json:"bansActive"` // nil when the store cannot tell
	Store         store.Stats   `json:"store"`
	Relay         *turn.Stats   `json:"relay"` // nil when the relay is off
}

type memoryStats struct {
	HeapAllocBytes uint64 `json:"heapAllocBytes"`
	HeapInuseBytes uint64 `json:"heapInuseBytes"`
	SysBytes       uint64 `json:"sysBytes"`
	NumGC          uint32 `json:"numGC"`
}

type connStats struct {
	Open  int   `json:"open"`
	Total int64 `json:"total"`
}

type waitingJSON struct {
	Mode  string `json:"mode"`
	Media string `json:"media"`
	N     int    `json:"n"`
}

func (s *adminServer) serveStats(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	st := s.sig.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := adminStats{
		Version:       version,
		UptimeSeconds: int64(now.Sub(s.started) / time.Second),
		Goroutines:    runtime.NumGoroutine(),
		Memory:        memoryStats{HeapAllocBytes: ms.HeapAlloc, HeapInuseBytes: ms.HeapInuse, SysBytes: ms.Sys, NumGC: ms.NumGC},
		Connections:   connStats{Open: st.Online, Total: st.ConnectionsTotal},
		Sessions:      st.Sessions,
		Waiting:       []waitingJSON{},
		PairsTotal:    st.PairsTotal,
		ChatsToday:    st.ChatsToday,
		ReportsTotal:  st.Reports,
		BansIssued:    st.Bans,
		Store:         s.store.Stats(),
	}
	for _, c := range st.Waiting {
		out.Waiting = append(out.Waiting, waitingJSON{Mode: string(c.Mode), Media: string(c.Media), N: c.N})
	}
	if n, ok := activeBans(s.store, now); ok {
		out.BansActive = &n
	}
	if s.relay != nil {
		rs := s.relay.Stats()
		out.Relay = &rs
	}
	writeJSONResponse(w, http.StatusOK, out)
}

// activeBans counts the bans in force; ok is false when the store cannot
// be read at all (a few unreadable records still give a count).
func activeBans(st *store.Store, now time.Time) (int, bool) {
	bans, err := st.Bans(now)
	if err != nil && !errors.Is(err, store.ErrCorrupt) {
		return 0, false
	}
	return len(bans), true
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request at debug level (warn for a server
// error): method, path without the query, status, duration. Never the
// address, a header or a cookie. For /ws the line comes when the socket
// closes, with status 101.
func accessLog(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		log.Log(r.Context(), level, "http request",
			"method", r.Method, "path", logPath(r.URL.Path), "status", status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

// logPath bounds what a client can put into a log line through the path.
func logPath(p string) string {
	const maxLen = 96
	if len(p) > maxLen {
		return p[:maxLen] + "..."
	}
	return p
}

// statusRecorder keeps the status of a response. It passes Hijack through
// (the WebSocket upgrade needs it) and Unwrap for http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijacking is not supported")
	}
	c, rw, err := h.Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// addrRE finds IPv4 and IPv6 addresses, with a port when there is one.
// net/http's own error lines name the client ("TLS handshake error from
// 192.0.2.7:51234"), and no log line may.
var addrRE = regexp.MustCompile(
	`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?` +
		`|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(%[0-9A-Za-z]+)?\]?(:\d+)?`)

// redactAddrs blanks every address in s.
func redactAddrs(s string) string { return addrRE.ReplaceAllString(s, "<addr>") }

// newErrorLog is an http.Server.ErrorLog that goes to slog at debug level
// with addresses blanked.
func newErrorLog(l *slog.Logger) *log.Logger {
	return log.New(redactingWriter{l}, "", 0)
}

type redactingWriter struct{ l *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.l.Debug(redactAddrs(strings.TrimSpace(string(p))))
	return len(p), nil
}
