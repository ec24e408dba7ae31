package turn

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultListen        = ":3478"
	DefaultTLSListen     = ":5349"
	DefaultRelayPortMin  = 49152
	DefaultRelayPortMax  = 65535
	DefaultRealm         = "parley"
	DefaultCredentialTTL = 24 * time.Hour
	// A browser allocates on the relay once per TURN URL (UDP, TCP, TLS)
	// and network interface for each peer connection: a full room of 8 is
	// 7 connections of 3 allocations (21) on one interface, with room for
	// an ICE restart in flight or a second interface.
	DefaultMaxPerSession = 32
	// Two people in a full room behind one address (a home, a small office).
	DefaultMaxPerPrefix = 64
	DefaultMaxTotal     = 4096
	// DefaultNetworkShare: by default a network may hold 1/16 of MaxTotal
	// (256 of 4096), and never less than MaxPerPrefix.
	DefaultNetworkShare = 16

	// Disabled as a listen address turns that listener off.
	Disabled = "-"

	// minSecret is the shortest TURN REST secret accepted: anything shorter
	// could be brute-forced from one captured username and password.
	minSecret = 16
	// maxSessionID bounds the session id inside a TURN username.
	maxSessionID = 128
)

// Config configures the embedded TURN relay. Zero values mean defaults.
type Config struct {
	// UDPListen and TCPListen are the TURN listen addresses; ":3478" each by
	// default; Disabled ("-") turns one off.
	UDPListen, TCPListen string
	// TLSListen is the turns: listen address, ":5349" by default; used only
	// when TLS is set.
	TLSListen string
	// TLS enables turns: (TURN over TLS over TCP). Its certificate must be
	// valid for Host: browsers check it.
	TLS *tls.Config

	// PublicIP is the relay address announced to clients. Zero means the
	// UDP (else TCP) listener's own address when it listens on a specific
	// IPv4 address (127.0.0.1 for a loopback listen), else the first
	// global unicast IPv4 address of the host's interfaces, else the first
	// non-loopback one. It must be IPv4: pion/turn v4 relays over udp4 only.
	PublicIP netip.Addr
	// Host is the host in the URLs handed to browsers (a DNS name when TLS
	// is on); default PublicIP.
	Host string
	// RelayPortMin and RelayPortMax bound the relay sockets' ports
	// (inclusive); 49152-65535 by default. Keep the range free of other
	// services: the relay may reach the server's own address on these ports.
	RelayPortMin, RelayPortMax int
	// Realm is the TURN realm; "parley" by default.
	Realm string

	// Secret is the TURN REST HMAC-SHA1 secret (required, at least 16 bytes).
	Secret []byte
	// CredentialTTL is how long a credential handed out by ICEServers stays
	// valid; 24h by default so a long call never breaks as credentials age.
	// Credentials are also bound to the live session (SessionLive).
	CredentialTTL time.Duration

	// AllowPeers lists prefixes the relay may reach despite the policy (LAN
	// setups, tests). It never opens the server's own addresses outside the
	// relay port range.
	AllowPeers []netip.Prefix

	// SessionLive reports whether a session still exists and is not banned
	// (required). It is called for every authenticated TURN request, on the
	// relay's read loops, so it must be fast and must not block for long.
	SessionLive func(sessionID string) bool
	// Banned reports whether a client address is banned; nil means nobody
	// is. IPv4-mapped IPv6 addresses are unwrapped before the call. Called
	// for every authenticated TURN request, like SessionLive.
	Banned func(addr netip.Addr) bool

	// MaxPerSession, MaxPerPrefix, MaxPerNetwork and MaxTotal cap
	// allocations per session, per client address (IPv4 /32, IPv6 /64),
	// per client network (IPv4 /24, IPv6 /48) and in all; 32, 64,
	// max(MaxTotal/16, MaxPerPrefix) and 4096 by default. Once the relay is
	// three quarters full, only networks holding fewer than MaxPerSession
	// allocations get more (a reserve for newcomers; quota.go). The
	// allocation over a cap gets 486 (Allocation Quota Reached).
	MaxPerSession, MaxPerPrefix, MaxPerNetwork, MaxTotal int

	// MaxConnsPerPrefix and MaxConns cap TURN over TCP and TLS connections
	// per client prefix (IPv4 /32, IPv6 /64) and in all; MaxPerPrefix and
	// MaxTotal by default, since a connection carries at most one
	// allocation. A connection over a cap is closed at accept.
	MaxConnsPerPrefix, MaxConns int

	// ReadLoops is the number of UDP sockets, each with its own read loop,
	// bound to the UDP listen address with SO_REUSEPORT; GOMAXPROCS by
	// default. The kernel spreads clients over them by address hash.
	ReadLoops int

	// Logger receives the relay's logs and pion's (pion's trace, debug and
	// info at debug). Nil discards them.
	Logger *slog.Logger
	// Clock is the time source for callbacks that carry no time (pion's
	// authentication and quota hooks); time.Now by default.
	Clock func() time.Time
	// WrapPacketConn, when set, wraps every UDP socket the relay reads and
	// writes (listeners and relay sockets) nearest to the socket: tests use
	// it to capture every byte the relay forwards.
	WrapPacketConn func(net.PacketConn) net.PacketConn
}

// withDefaults returns a copy of c with the zero values replaced.
func (c Config) withDefaults() Config {
	if c.UDPListen == "" {
		c.UDPListen = DefaultListen
	}
	if c.TCPListen == "" {
		c.TCPListen = DefaultListen
	}
	if c.TLSListen == "" {
		c.TLSListen = DefaultTLSListen
	}
	if c.TLS == nil {
		c.TLSListen = Disabled
	}
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		c.RelayPortMin, c.RelayPortMax = DefaultRelayPortMin, DefaultRelayPortMax
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	if c.MaxPerSession == 0 {
		c.MaxPerSession = DefaultMaxPerSession
	}
	if c.MaxPerPrefix == 0 {
		c.MaxPerPrefix = DefaultMaxPerPrefix
	}
	if c.MaxTotal == 0 {
		c.MaxTotal = DefaultMaxTotal
	}
	if c.MaxPerNetwork == 0 {
		c.MaxPerNetwork = max(c.MaxTotal/DefaultNetworkShare, c.MaxPerPrefix)
	}
	if c.MaxConnsPerPrefix == 0 {
		c.MaxConnsPerPrefix = c.MaxPerPrefix
	}
	if c.MaxConns == 0 {
		c.MaxConns = c.MaxTotal
	}
	if c.ReadLoops == 0 {
		c.ReadLoops = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// validate checks a Config that went through withDefaults.
func (c *Config) validate() error {
	switch {
	case len(c.Secret) < minSecret:
		return ErrNoSecret
	case c.SessionLive == nil:
		return ErrNoSessionLive
	case c.UDPListen == Disabled && c.TCPListen == Disabled && c.TLSListen == Disabled:
		return ErrNoListener
	case c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("%w: %d-%d", ErrBadRelayPorts, c.RelayPortMin, c.RelayPortMax)
	case c.MaxPerSession < 0 || c.MaxPerPrefix < 0 || c.MaxPerNetwork < 0 || c.MaxTotal < 0 || c.ReadLoops < 0 || c.CredentialTTL < 0,
		c.MaxConnsPerPrefix < 0 || c.MaxConns < 0:
		return ErrBadLimit
	case c.PublicIP.IsValid() && !c.PublicIP.Unmap().Is4():
		return ErrBadPublicIP
	}
	for _, l := range []string{c.UDPListen, c.TCPListen, c.TLSListen} {
		if l == Disabled {
			continue
		}
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("%w: %w", ErrBadListen, err)
		}
	}
	return nil
}
