// Package signaling is parley's HTTP and WebSocket endpoint: it matches people and passes their WebRTC signaling between the two people of a pair, and nothing else.
package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/parley-chat/parley/store/prefix"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/store"
)

// CookieName is the one cookie parley sets.
const CookieName = "parley_session"

// Server is the signaling server. Create it with New, mount Handler, call
// Start, and Shutdown at the end.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	upgrader websocket.Upgrader
	origins  map[string]bool
	metrics  *counters
	mux      *http.ServeMux

	persist *persister
	ended   chan string // sessions banned or erased, for OnSessionEnd
	stop    chan struct{}
	loops   sync.WaitGroup // background loops
	conns   sync.WaitGroup // open connections

	mu sync.Mutex // guards everything below
	// sessions are the sessions in memory: connected, in their resume window,
	// or paired. The store holds the rest.
	sessions  map[string]*session
	eng       *matcher.Engine
	addrConns map[netip.Prefix]int // open connections per /32 or /64
	open      map[*conn]struct{}
	closing   bool
	daily     dailyStats
}

// New checks the config and builds a server. It does no I/O.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	eng, err := matcher.New(matcher.Config{Topics: cfg.Topics, InterestWait: cfg.InterestWait})
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     cfg.Store,
		origins:   make(map[string]bool),
		metrics:   newCounters(),
		stop:      make(chan struct{}),
		ended:     make(chan string, 1024),
		sessions:  make(map[string]*session),
		eng:       eng,
		addrConns: make(map[netip.Prefix]int),
		open:      make(map[*conn]struct{}),
	}
	for _, o := range cfg.AllowedOrigins {
		u, _ := parseOrigin(o)
		s.origins[u] = true
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      s.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	s.persist = newPersister(s)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /api/me", s.serveMe)
	s.mux.HandleFunc("DELETE /api/me", s.serveDeleteMe)
	s.mux.HandleFunc("GET /api/stats", s.serveStats)
	if cfg.Static != nil {
		s.mux.Handle("/", cfg.Static)
	}
	return s, nil
}

// Handler serves /ws, /api/* and the browser client.
func (s *Server) Handler() http.Handler { return s.mux }

// Start restores the pairs kept in the store, so that people resume after a
// restart, and starts the matcher's clock and the persister.
func (s *Server) Start() error {
	if err := s.restore(s.cfg.Clock()); err != nil {
		return err
	}
	s.loops.Add(3)
	go s.tickLoop()
	go s.persist.run()
	go s.endedLoop()
	return nil
}

// sessionEnded queues a session for OnSessionEnd without blocking; if the
// queue is full the relay still refuses the session at its next refresh.
func (s *Server) sessionEnded(id string) {
	if s.cfg.OnSessionEnd == nil {
		return
	}
	select {
	case s.ended <- id:
	default:
	}
}

func (s *Server) endedLoop() {
	defer s.loops.Done()
	for {
		select {
		case <-s.stop:
			return
		case id := <-s.ended:
			s.cfg.OnSessionEnd(id)
		}
	}
}

// Shutdown closes every socket with 1012 so clients reconnect and resume,
// waits for them (or ctx), and writes what is not yet in the store. Pairs
// stay in the store: the next process resumes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for c := range s.open {
		c.close(websocket.CloseServiceRestart, "server restart")
	}
	for _, sess := range s.sessions {
		sess.stopGrace()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.open {
			c.kill()
		}
		s.mu.Unlock()
	}
	close(s.stop)
	s.loops.Wait()
	return err
}

// Closing reports whether Shutdown has begun (readiness).
func (s *Server) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// SessionLive reports whether a session exists and is not banned. The TURN
// relay asks it before every allocation, so credentials die with the
// session.
func (s *Server) SessionLive(id string) bool {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	live := ok && !sess.banned
	s.mu.Unlock()
	if ok {
		return live
	}
	_, err := s.store.GetSession(id)
	return err == nil
}

func (s *Server) tickLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	var lastHousekeeping time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := s.cfg.Clock()
			s.mu.Lock()
			s.tickLocked(now)
			if now.Sub(lastHousekeeping) >= touchEvery {
				lastHousekeeping = now
				s.housekeepingLocked(now)
			}
			s.mu.Unlock()
		}
	}
}

// housekeepingLocked keeps the sessions of connected people alive in the
// store (being connected is activity, so their record does not expire under
// them) and drops from memory what nothing needs any more.
func (s *Server) housekeepingLocked(now time.Time) {
	for _, sess := range s.sessions {
		if sess.conn != nil {
			s.touch(sess, now)
		} else if sess.grace == nil && sess.state != statePaired {
			s.forgetIfGoneLocked(sess)
		}
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Clock()
	addr := s.clientAddr(r)
	if !addr.IsValid() {
		http.Error(w, "cannot tell the client address", http.StatusBadRequest)
		return
	}
	if !s.checkOrigin(r) {
		s.metrics.countRefused(refusedOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	prefix := prefix.Of(addr)
	if err := s.acquire(prefix); err != nil {
		s.metrics.countRefused(refusedCapacity)
		w.Header().Set("Retry-After", "10")
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	// Once the socket is up, serveConn owns the address slot.
	handedOff := false
	defer func() {
		if !handedOff {
			s.release(prefix)
		}
	}()

	ban, banned, err := s.store.Banned(now, addr)
	if err != nil {
		s.log.Error("ban check failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}

	var sess *session
	hdr := http.Header{}
	if !banned {
		var fresh bool
		sess, fresh, err = s.sessionFor(r, now)
		if err != nil {
			s.log.Error("session lookup failed", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if fresh {
			hdr.Add("Set-Cookie", s.cookie(r, sess.token, false).String())
		}
	}
	ws, err := s.upgrader.Upgrade(w, r, hdr)
	if err != nil {
		if sess != nil {
			s.mu.Lock()
			sess.connecting--
			s.forgetIfGoneLocked(sess)
			s.mu.Unlock()
		}
		return // the upgrader has answered
	}
	c := newConn(s, ws, addr, prefix)
	// The handler returns now and the connection lives on in a goroutine of
	// its own: net/http's 4 KiB reader and writer, the request and the
	// handler's deep stack are freed, which more than halves what an idle
	// connection costs.
	handedOff = true
	go s.serveConn(c, sess, ban, banned, prefix)
}

// serveConn runs an upgraded connection until it closes.
func (s *Server) serveConn(c *conn, sess *session, ban store.Ban, banned bool, prefix netip.Prefix) {
	defer s.release(prefix)
	if banned {
		c.send(bannedMessage(ban.Until))
		c.close(CloseBanned, "banned")
		c.readLoop(nil)
		c.finish()
		return
	}
	if !s.attach(c) {
		c.close(websocket.CloseServiceRestart, "server restart")
		c.readLoop(nil)
		c.finish()
		return
	}
	defer s.detach(c)
	s.metrics.connections.Add(1)
	c.readLoop(sess)
	s.disconnected(c, sess, s.cfg.Clock())
}

func (s *Server) attach(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	s.conns.Add(1)
	return true
}

func (s *Server) detach(c *conn) {
	c.finish()
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	s.conns.Done()
}

var (
	errTooManyConns = errors.New("too many connections from this address")
	errServerFull   = errors.New("the server is full, try again soon")
)

func (s *Server) acquire(p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) >= s.cfg.MaxConns {
		return errServerFull
	}
	if s.addrConns[p] >= s.cfg.MaxConnsPerAddr {
		return errTooManyConns
	}
	s.addrConns[p]++
	return nil
}

func (s *Server) release(p netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addrConns[p]--; s.addrConns[p] <= 0 {
		delete(s.addrConns, p)
	}
}

// clientAddr is the peer's address, or the right-most untrusted address of
// X-Forwarded-For when the peer is a trusted proxy.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{} // a proxy we trust sent garbage: refuse rather than guess
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a
		}
		addr = a
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkOrigin allows the server's own origin, the configured ones, and
// clients that send no Origin (not browsers, so not open to cross-site use).
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	norm, err := parseOrigin(origin)
	return err == nil && s.origins[norm]
}

func parseOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("signaling: config: %q is not an origin like https://example.org", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// newToken returns a random 128-bit session token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validToken(t string) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == 16
}

func (s *Server) cookie(r *http.Request, token string, clear bool) *http.Cookie {
	c := &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   s.secure(r),
	}
	if clear {
		c.Value = ""
		c.MaxAge = -1
	}
	return c
}

func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && s.trusted(ap.Addr().Unmap()) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	return false
}

func tokenOf(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil || !validToken(c.Value) {
		return ""
	}
	return c.Value
}
