// Package turn is parley's embedded TURN relay: pion/turn with listeners, session-bound credentials, a peer address policy and quotas.
package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/parley-chat/parley/store/prefix"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
)

// closeWait bounds how long Close waits for pion's goroutines.
const closeWait = 5 * time.Second

// ICEServer is one entry of RTCConfiguration.iceServers, as sent to browsers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Server is the running relay.
type Server struct {
	cfg    Config
	log    *slog.Logger
	policy *Policy
	pion   *pionturn.Server

	udp      []net.PacketConn // raw sockets, one per read loop
	tcp, tls net.Listener     // raw listeners
	publicIP netip.Addr
	host     string

	pcfg pionturn.ServerConfig // as handed to pion; tests inspect it

	quotas *quotas
	// hold and tcpTimes are the constants of hold.go and listen.go, behind
	// pointers so that a test may shorten them on a running relay.
	hold     atomic.Pointer[holdLimits]
	tcpTimes atomic.Pointer[tcpTimes]
	conns    connCaps
	marks    refusalMarks
	relays   relayRegistry
	loops    loops
	stats    counters

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New binds every listener, then starts the relay.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		quotas: newQuotas(cfg.MaxPerSession, cfg.MaxPerPrefix, cfg.MaxPerNetwork, cfg.MaxTotal),
	}
	s.hold.Store(&defaultHold)
	s.tcpTimes.Store(&defaultTCPTimes)
	if err := s.bind(); err != nil {
		s.closeRaw()
		return nil, err
	}
	detected, err := s.resolvePublicIP()
	if err != nil {
		s.closeRaw()
		return nil, err
	}
	s.host = cfg.Host
	if s.host == "" {
		s.host = s.publicIP.String()
	}
	s.policy = NewPolicy(cfg.AllowPeers, s.ownAddrs(), uint16(cfg.RelayPortMin), uint16(cfg.RelayPortMax))
	s.policy.relayLive = s.relays.live

	s.pcfg = s.serverConfig()
	if err := checkPermissionHandlers(&s.pcfg); err != nil {
		s.closeRaw()
		return nil, err
	}
	s.pion, err = pionturn.NewServer(s.pcfg)
	if err != nil {
		s.closeRaw()
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	// Ports and counts only: the addresses are the host's, but a log line
	// must never need checking for whose address it holds.
	s.log.Info("turn relay listening",
		"udp_port", port(s.UDPAddr()), "tcp_port", port(s.TCPAddr()), "tls_port", port(s.TLSAddr()),
		"read_loops", len(s.udp), "relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax),
		"public_ip_detected", detected, "allow_peers", len(cfg.AllowPeers))
	return s, nil
}

func (s *Server) bind() error {
	var err error
	if s.cfg.UDPListen != Disabled {
		if s.udp, err = listenUDP(s.cfg.UDPListen, s.cfg.ReadLoops); err != nil {
			return err
		}
	}
	if s.cfg.TCPListen != Disabled {
		if s.tcp, err = net.Listen("tcp", s.cfg.TCPListen); err != nil {
			return fmt.Errorf("%w: tcp: %w", ErrListen, err)
		}
	}
	if s.cfg.TLSListen != Disabled {
		if s.tls, err = net.Listen("tcp", s.cfg.TLSListen); err != nil {
			return fmt.Errorf("%w: tls: %w", ErrListen, err)
		}
	}
	return nil
}

// closeRaw closes the sockets of a Server that failed to start.
func (s *Server) closeRaw() {
	for _, c := range s.udp {
		_ = c.Close()
	}
	for _, l := range []net.Listener{s.tcp, s.tls} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// boundIPs returns the listeners' IP addresses (unmapped).
func (s *Server) boundIPs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []net.Addr{s.UDPAddr(), s.TCPAddr(), s.TLSAddr()} {
		if ap, ok := addrOf(a); ok {
			out = append(out, ap.Addr())
		}
	}
	return out
}

// resolvePublicIP applies Config.PublicIP or derives it (see Config).
func (s *Server) resolvePublicIP() (detected bool, err error) {
	if s.cfg.PublicIP.IsValid() {
		s.publicIP = s.cfg.PublicIP.Unmap()
		return false, nil
	}
	for _, a := range s.boundIPs() {
		if a.Is4() && !a.IsUnspecified() {
			s.publicIP = a
			return true, nil
		}
	}
	var fallback netip.Addr
	for _, a := range interfaceAddrs() {
		if !a.Is4() || a.IsLoopback() || a.IsLinkLocalUnicast() {
			continue
		}
		if deniedKind(a) == "" {
			s.publicIP = a
			return true, nil
		}
		if !fallback.IsValid() {
			fallback = a
		}
	}
	if !fallback.IsValid() {
		return true, fmt.Errorf("%w: none found on this host; set PublicIP", ErrBadPublicIP)
	}
	s.publicIP = fallback
	return true, nil
}

// ownAddrs are the addresses the relay must not reach outside its relay
// ports: the announced address, the listeners' and, for a wildcard listen,
// every address of the host.
func (s *Server) ownAddrs() []netip.Addr {
	own := []netip.Addr{s.publicIP}
	for _, a := range s.boundIPs() {
		if a.IsUnspecified() {
			own = append(own, interfaceAddrs()...)
			continue
		}
		own = append(own, a)
	}
	return own
}

func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// relayBindAddr is where relay sockets listen: the UDP (else TCP) listener's
// IPv4 address when it is specific, else every interface.
func (s *Server) relayBindAddr() string {
	for _, a := range s.boundIPs() {
		if a.Is4() && !a.IsUnspecified() {
			return a.String()
		}
	}
	return "0.0.0.0"
}

// serverConfig builds pion's configuration. It is the one place listener
// configs are made, and each gets the peer address policy.
func (s *Server) serverConfig() pionturn.ServerConfig {
	gen := &relayGenerator{srv: s, inner: &pionturn.RelayAddressGeneratorPortRange{
		RelayAddress: net.IP(s.publicIP.AsSlice()),
		Address:      s.relayBindAddr(),
		MinPort:      uint16(s.cfg.RelayPortMin),
		MaxPort:      uint16(s.cfg.RelayPortMax),
	}}
	cfg := pionturn.ServerConfig{
		Realm:         s.cfg.Realm,
		LoggerFactory: pionLoggerFactory{l: s.log},
		AuthHandler:   s.authHandler,
		QuotaHandler:  s.quotaHandler,
		EventHandler: pionturn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
	}
	for _, c := range s.udp {
		if s.cfg.WrapPacketConn != nil {
			c = s.cfg.WrapPacketConn(c)
		}
		cfg.PacketConnConfigs = append(cfg.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn:            s.newListenConn(c),
			RelayAddressGenerator: gen,
			PermissionHandler:     s.permissionHandler,
		})
	}
	if s.tcp != nil {
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, pionturn.ListenerConfig{
			Listener:              s.newTrackedListener(s.tcp),
			RelayAddressGenerator: gen,
			PermissionHandler:     s.permissionHandler,
		})
	}
	if s.tls != nil {
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, pionturn.ListenerConfig{
			Listener:              s.newTrackedListener(tls.NewListener(s.tls, s.cfg.TLS)),
			RelayAddressGenerator: gen,
			PermissionHandler:     s.permissionHandler,
		})
	}
	return cfg
}

// checkPermissionHandlers refuses a configuration in which a listener would
// fall back to pion's default of permitting every peer.
func checkPermissionHandlers(cfg *pionturn.ServerConfig) error {
	for _, c := range cfg.PacketConnConfigs {
		if c.PermissionHandler == nil {
			return ErrNoPermissionHandler
		}
	}
	for _, c := range cfg.ListenerConfigs {
		if c.PermissionHandler == nil {
			return ErrNoPermissionHandler
		}
	}
	return nil
}

// permissionHandler is pion's PermissionHandler for CreatePermission and
// ChannelBind: the peer's IP must pass the policy. A refusal is answered
// 403 on every transport.
func (s *Server) permissionHandler(client net.Addr, peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	if ok && s.policy.AllowedIP(a.Unmap()) {
		s.permissionDecided(client, a.Unmap())
		return true
	}
	kind := "invalid"
	if ok {
		kind, _ = s.policy.decide(netip.AddrPortFrom(a, s.policy.relayMin))
	}
	s.stats.refusedPolicy.Add(1)
	// RFC 8656 (sections 9.1 and 11.2): a peer the server's policy forbids
	// gets 403 Forbidden. pion answers a CreatePermission with an error that
	// has no code and a ChannelBind with 401, which makes clients retry
	// their credentials; the listener wrapper rewrites the answer.
	s.marks.set(client, stun.CodeForbidden)
	s.log.Debug("turn peer refused", "kind", kind)
	return false
}

// quotaHandler is pion's QuotaHandler, called before each allocation.
func (s *Server) quotaHandler(username, _ string, src net.Addr) bool {
	_, id, _ := parseUsername(username)
	if kind := s.quotas.reserve(s.cfg.Clock(), id, prefix.AddrOf(src)); kind != "" {
		s.stats.refusedQuota.Add(1)
		s.log.Debug("turn allocation over quota", "limit", kind)
		return false
	}
	return true
}

func (s *Server) onAllocationCreated(src, _ net.Addr, _, username, _ string, relay net.Addr, _ int) {
	_, id, _ := parseUsername(username)
	s.quotas.created(id, prefix.AddrOf(src))
	s.stats.allocTotal.Add(1)
	if ua, ok := relay.(*net.UDPAddr); ok {
		if rc := s.relays.bindClient(ua.Port, src); rc != nil {
			rc.session.Store(&id)
		}
	}
}

func (s *Server) onAllocationDeleted(src, _ net.Addr, _, username, _ string) {
	_, id, _ := parseUsername(username)
	s.quotas.deleted(id, prefix.AddrOf(src))
}

// EndSession closes the relay allocations of a session that ended or was
// banned, and returns how many it closed. Its credentials are refused from
// then on through SessionLive; this also stops what is already relayed.
func (s *Server) EndSession(sessionID string) int {
	conns := s.relays.matching(false, func(c *relayConn) bool {
		id := c.session.Load()
		return id != nil && *id == sessionID
	})
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

// Close stops the relay and returns once pion's goroutines are done.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	s.closing.Store(true)
	var errs []error
	if err := s.pion.Close(); err != nil {
		errs = append(errs, fmt.Errorf("turn: close: %w", err))
	}
	s.loops.closeConns()
	done := make(chan struct{})
	go func() { s.loops.wg.Wait(); close(done) }()
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	select {
	case <-done:
	case <-deadline.C:
		return errors.Join(append(errs, ErrCloseTimeout)...)
	}
	// No request loop runs any more, so no allocation can start. pion
	// closes the allocations of each loop as it ends; close whatever is
	// left, then wait for each allocation's goroutine to report its end.
	for _, c := range s.relays.matching(true, func(*relayConn) bool { return true }) {
		_ = c.Close()
	}
	for s.quotas.current() > 0 || s.relays.len() > 0 {
		select {
		case <-deadline.C:
			return errors.Join(append(errs, ErrCloseTimeout)...)
		case <-time.After(time.Millisecond):
		}
	}
	s.log.Info("turn relay closed")
	return errors.Join(errs...)
}

// ICEServers returns the ICE servers for a session: URLs with a credential
// valid until now+CredentialTTL.
func (s *Server) ICEServers(sessionID string, now time.Time) []ICEServer {
	user, pass := s.Credentials(sessionID, now)
	return []ICEServer{{URLs: s.URLs(), Username: user, Credential: pass}}
}

// URLs are the relay's stun: and turn: URLs over UDP and TCP, and turns:
// when TLS is on.
func (s *Server) URLs() []string {
	var urls []string
	if a := s.UDPAddr(); a != nil {
		hp := s.hostPort(a)
		urls = append(urls, "stun:"+hp, "turn:"+hp+"?transport=udp")
	}
	if a := s.TCPAddr(); a != nil {
		urls = append(urls, "turn:"+s.hostPort(a)+"?transport=tcp")
	}
	if a := s.TLSAddr(); a != nil {
		urls = append(urls, "turns:"+s.hostPort(a)+"?transport=tcp")
	}
	return urls
}

func (s *Server) hostPort(a net.Addr) string {
	return net.JoinHostPort(s.host, strconv.Itoa(port(a)))
}

func port(a net.Addr) int {
	if ap, ok := addrOf(a); ok {
		return int(ap.Port())
	}
	return 0
}

// UDPAddr is the bound UDP listen address, nil when disabled.
func (s *Server) UDPAddr() net.Addr {
	if len(s.udp) == 0 {
		return nil
	}
	return s.udp[0].LocalAddr()
}

// TCPAddr is the bound TCP listen address, nil when disabled.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// TLSAddr is the bound TLS listen address, nil without TLS.
func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

// PublicIP is the relay address announced to clients.
func (s *Server) PublicIP() netip.Addr { return s.publicIP }

// Policy is the peer address policy in force.
func (s *Server) Policy() *Policy { return s.policy }
