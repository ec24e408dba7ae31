// Package signaling is parley's HTTP and WebSocket endpoint: it matches people and passes their WebRTC signaling to the members of their own chat, and nothing else.
//
// It has two halves. The transport (server.go, conn.go, handlers.go) is
// HTTP, the upgrade, and one reader and one writer per connection. The hub
// (hub.go and the files it names) is the state machine of sessions and
// chats; it addresses sessions by ID only and reaches them through a
// Delivery, which the transport implements for this process.
package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store/prefix"
	"golang.org/x/time/rate"
)

// The session cookie's names (see proto.CookieName).
const (
	CookieName       = proto.CookieName
	SecureCookieName = proto.SecureCookieName
)

// Server is the signaling server. Create it with New, mount Handler, call
// Start, and Shutdown at the end.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	origins  map[string]bool
	metrics  *counters
	mux      *http.ServeMux

	queued atomic.Int64 // bytes waiting in every send queue
	hubs   atomic.Pointer[hub]
	remote atomic.Pointer[Backend]             // another node's hub, or degraded; nil: our own
	router atomic.Pointer[Router]              // sessions on other nodes
	counts atomic.Pointer[func(Counts) Counts] // the cluster's view for /api/stats; nil: ours
	// takeovers counts the times a new hub took this node's connections
	// over (Lead, Follow): a hello answered meanwhile may have been missed.
	takeovers atomic.Uint64
	networks  *prefixLimiters // new connections per /24 or /48
	stop      chan struct{}
	loops     sync.WaitGroup // background loops
	serving   sync.WaitGroup // connections being served

	mu        sync.RWMutex // guards the fields below; a leaf
	bySession map[string]*conn
	open      map[*conn]struct{}
	addrConns map[netip.Prefix]int // open connections per /32 or /64
	closing   bool
}

// New checks the config and builds a server. It does no I/O.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		origins:   make(map[string]bool),
		metrics:   newCounters(),
		stop:      make(chan struct{}),
		bySession: make(map[string]*conn),
		open:      make(map[*conn]struct{}),
		addrConns: make(map[netip.Prefix]int),
	}
	s.networks = newPrefixLimiters(rate.Limit(s.cfg.NetworkConnectsPerMinute/60), s.cfg.NetworkConnectBurst)
	h, err := newHub(&s.cfg, s, s.metrics)
	if err != nil {
		return nil, err
	}
	s.hubs.Store(h)
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
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /api/me", s.serveMe)
	s.mux.HandleFunc("DELETE /api/me", s.serveDeleteMe)
	s.mux.HandleFunc("GET /api/stats", s.serveStats)
	s.mountHelpline()
	if cfg.Static != nil {
		s.mux.Handle("/", cfg.Static)
	}
	return s, nil
}

// Handler serves /ws, /api/* and the browser client.
func (s *Server) Handler() http.Handler { return s.mux }

// Start starts the matcher's clock, the housekeeping and the persister.
// Chats kept in the store come back as their people return.
func (s *Server) Start() error {
	go s.hub().persist.run()
	s.loops.Add(1)
	go s.tickLoop()
	return nil
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
		case now := <-t.C:
			h := s.hub()
			h.tick(now)
			h.hlTick(now)
			if now.Sub(lastHousekeeping) >= touchEvery {
				lastHousekeeping = now
				h.housekeeping(now)
			}
		}
	}
}

// Shutdown closes every socket with 1012 so clients reconnect and resume,
// waits for them (or ctx), and writes what is not yet in the store. Chats
// stay in the store: the next process resumes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	conns := s.allConnsLocked()
	s.mu.Unlock()
	s.hub().shutdown()
	for _, c := range conns {
		c.close(proto.CloseServerRestart, "server restart")
	}
	done := make(chan struct{})
	go func() { s.serving.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.RLock()
		conns = s.allConnsLocked()
		s.mu.RUnlock()
		for _, c := range conns {
			c.kill()
		}
		<-done
	}
	close(s.stop)
	s.loops.Wait()
	s.hub().persist.finish()
	return err
}

func (s *Server) allConnsLocked() []*conn {
	out := make([]*conn, 0, len(s.open))
	for c := range s.open {
		out = append(out, c)
	}
	return out
}

// Closing reports whether Shutdown has begun (readiness).
func (s *Server) Closing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closing
}

// Degraded reports whether this node of a cluster serves without a leader:
// it refuses new chats with unavailable (Degrade).
func (s *Server) Degraded() bool {
	b := s.remote.Load()
	if b == nil {
		return false
	}
	_, ok := (*b).(degraded)
	return ok
}

// Leads reports whether this node's hub serves: one node alone, or the
// leader of a cluster. Only its writes to the store replicate.
func (s *Server) Leads() bool { return s.remote.Load() == nil }

// SessionLive reports whether a TURN credential id names a live session.
// The relay asks it before every allocation, so credentials die with the
// session.
func (s *Server) SessionLive(credID string) bool { return s.backend().SessionLive(credID) }

// backend is where sessions live: this process's hub, or the leader's.
func (s *Server) backend() Backend {
	if b := s.remote.Load(); b != nil {
		return *b
	}
	return s.hub()
}

// hub is this node's own hub: the one that serves while it leads.
func (s *Server) hub() *hub { return s.hubs.Load() }

// Deliver is the hub's Delivery: it queues a frame on the session's
// connection in this process, or hands it to the router for another node.
func (s *Server) Deliver(sessionID string, frame []byte) bool {
	if s.DeliverLocal(sessionID, frame) {
		return true
	}
	if r := s.router.Load(); r != nil {
		return (*r).Deliver(sessionID, frame)
	}
	return false
}

// DeliverLocal queues a frame on the session's connection in this process.
func (s *Server) DeliverLocal(sessionID string, frame []byte) bool {
	s.mu.RLock()
	c := s.bySession[sessionID]
	s.mu.RUnlock()
	return c != nil && c.send(frame)
}

// Disconnect closes the session's connection, here or on another node.
func (s *Server) Disconnect(sessionID string, code int, text string) {
	if s.DisconnectLocal(sessionID, code, text) {
		return
	}
	if r := s.router.Load(); r != nil {
		(*r).Disconnect(sessionID, code, text)
	}
}

// DisconnectLocal closes the session's connection in this process.
func (s *Server) DisconnectLocal(sessionID string, code int, text string) bool {
	s.mu.RLock()
	c := s.bySession[sessionID]
	s.mu.RUnlock()
	if c != nil {
		c.close(code, text)
	}
	return c != nil
}

// Locate tells the router where a session is connected.
func (s *Server) Locate(sessionID, node string) {
	if r := s.router.Load(); r != nil {
		(*r).Locate(sessionID, node)
	}
}

// shedLongestQueue closes the connection with the most bytes waiting, when
// all queues together pass MaxQueuedTotal: the memory held for unread
// messages stays bounded whatever the clients do, and it is the slowest
// reader that goes, not whoever happened to be sent to next.
func (s *Server) shedLongestQueue() {
	s.mu.RLock()
	var worst *conn
	var most int64
	for c := range s.open {
		if n := c.queued.Load(); n > most {
			worst, most = c, n
		}
	}
	s.mu.RUnlock()
	if worst != nil {
		s.metrics.slowDropped.Add(1)
		worst.kill()
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	addr := s.clientAddr(r)
	if !addr.IsValid() {
		s.refuse(w, ErrNoAddress)
		return
	}
	if !s.checkOrigin(r) {
		s.metrics.countRefused(refusedOrigin)
		s.refuse(w, ErrOrigin)
		return
	}
	p := prefix.Of(addr)
	if err := s.acquire(p); err != nil {
		s.metrics.countRefused(refusedCapacity)
		s.refuse(w, err)
		return
	}
	// Once the socket is up, serveConn owns the address slot.
	handedOff := false
	defer func() {
		if !handedOff {
			s.release(p)
		}
	}()

	// New connections per network (/24 or /48) are limited before the ban
	// check: checking an address not seen lately costs a memory-hard hash,
	// and a network of many addresses must not be able to spend the CPU.
	ok, giveBack := s.networks.take(prefix.Network(addr), now)
	if !ok {
		s.metrics.countRefused(refusedNetwork)
		s.refuse(w, ErrTooManyFromNetwork)
		return
	}
	ban, banned, err := s.cfg.Store.Banned(now, addr)
	if err != nil {
		s.log.Error("ban check failed", "err", err)
		s.refuse(w, err)
		return
	}
	var sid, token string
	hdr := http.Header{}
	if !banned {
		var setToken string
		token = s.tokenOf(r)
		sid, setToken, err = s.backend().Open(token, addr, now)
		if err != nil {
			if errors.Is(err, ErrTooManySessions) {
				// The address alone is over its own limit: it does not
				// use up its network's, or one address flooding would
				// lock its neighbours out.
				giveBack()
			}
			if httpStatus(err) == http.StatusInternalServerError {
				s.log.Error("session lookup failed", "err", err)
			}
			s.refuse(w, err)
			return
		}
		if setToken != "" {
			token = setToken
			hdr.Add("Set-Cookie", s.cookie(r, setToken, false).String())
		}
	}
	ws, err := s.upgrader.Upgrade(w, r, hdr)
	if err != nil {
		if sid != "" {
			s.backend().Abandon(sid)
		}
		return // the upgrader has answered
	}
	c := newConn(s, ws, addr, p, sid, token)
	c.hl = s.helplineConn(r, now)
	// The handler returns now and the connection lives on in a goroutine of
	// its own: net/http's 4 KiB reader and writer, the request and the
	// handler's deep stack are freed, which more than halves what an idle
	// connection costs.
	handedOff = true
	if banned {
		go s.serveBanned(c, ban.Until)
		return
	}
	go s.serveConn(c)
}

func (s *Server) refuse(w http.ResponseWriter, err error) {
	status := httpStatus(err)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "10")
	}
	http.Error(w, httpText(err), status)
}

// serveBanned tells a banned address until when, and closes.
func (s *Server) serveBanned(c *conn, until time.Time) {
	defer s.release(c.prefix)
	c.send(bannedFrame(until))
	c.close(proto.CloseBanned, "banned")
	c.readLoop()
	c.finish()
}

// serveConn runs an upgraded connection until it closes.
func (s *Server) serveConn(c *conn) {
	defer s.release(c.prefix)
	if !s.attachConn(c) {
		s.backend().Abandon(c.sidNow())
		c.close(proto.CloseServerRestart, "server restart")
		c.readLoop()
		c.finish()
		return
	}
	s.metrics.connections.Add(1)
	c.readLoop()
	c.finish()
	s.detachConn(c)
	if c.hello {
		s.backend().Detach(c.sidNow(), c.gen.Load(), time.Now())
	} else {
		s.backend().Abandon(c.sidNow())
	}
	s.serving.Done()
}

func (s *Server) attachConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	s.serving.Add(1)
	return true
}

func (s *Server) detachConn(c *conn) {
	s.mu.Lock()
	delete(s.open, c)
	if sid := c.sidNow(); sid != "" && s.bySession[sid] == c {
		delete(s.bySession, sid)
	}
	s.mu.Unlock()
}

// register makes c the connection of its session; an older one is closed
// with 4001 after what is already queued for it.
func (s *Server) register(c *conn) {
	s.mu.Lock()
	old := s.bySession[c.sidNow()]
	s.bySession[c.sidNow()] = c
	s.mu.Unlock()
	if old != nil && old != c {
		old.close(proto.CloseTakenOver, "session opened elsewhere")
	}
}

func (s *Server) acquire(p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) >= s.cfg.MaxConns {
		return ErrServerFull
	}
	if s.addrConns[p] >= s.cfg.MaxConnsPerAddr {
		return ErrTooManyConns
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

func (s *Server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return SecureCookieName
	}
	return CookieName
}

func (s *Server) cookie(r *http.Request, token string, clear bool) *http.Cookie {
	c := &http.Cookie{
		Name:     s.cookieName(r),
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

// tokenOf returns the session token of the request's cookie. A request
// with two cookies of that name is ambiguous (one may be planted from a
// sibling domain): it gets no session of either, and a fresh one instead.
func (s *Server) tokenOf(r *http.Request) string {
	name := s.cookieName(r)
	var token string
	n := 0
	for _, c := range r.Cookies() {
		if c.Name == name {
			n++
			token = c.Value
		}
	}
	if n > 1 {
		s.metrics.ambiguousCookies.Add(1)
		return ""
	}
	if n == 0 || !validToken(token) {
		return ""
	}
	return token
}
