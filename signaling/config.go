package signaling

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// Config configures the signaling server. Zero values mean the defaults in
// the comments.
type Config struct {
	// Store keeps sessions, reports and bans. Required.
	Store *store.Store

	// Topics is the preference list and the statements; nil means the
	// embedded demo list.
	Topics *matcher.Topics
	// InterestWait is how long interests mode waits for a shared interest
	// before falling back to random. Default 5s.
	InterestWait time.Duration
	// Languages are the chat languages a join may declare, announced in
	// welcome (short codes such as "en"; see proto.ValidLanguage). Nil
	// offers none.
	Languages []string
	// LanguageWait is how long someone with a language waits for the same
	// language before anyone will do. Default 10s.
	LanguageWait time.Duration

	// ProofOfWork tunes the proof of work asked before the first join of a
	// session (signaling/pow); the zero value is the baseline.
	ProofOfWork pow.Config
	// NoProofOfWork turns it off.
	NoProofOfWork bool

	// Credentials returns the TURN REST credential of a session's
	// credential id (random, never the session id), handed out in welcome
	// with RelayURLs. Nil hands out no ICE servers.
	Credentials func(credID string, now time.Time) (username, password string)
	// RelayURLs are the stun:, turn: and turns: URLs of this node's relay.
	RelayURLs []string
	// NodeID names this node among several (signaling/cluster); empty for
	// one node.
	NodeID string

	// OnSessionEnd is told, off the request path, the credential id of a
	// session that was banned or erased, so the relay ends its allocations
	// at once. May be nil.
	OnSessionEnd func(credID string)

	// AllowedOrigins are origins (scheme://host[:port]) allowed to open /ws
	// besides the server's own.
	AllowedOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// ResumeWindow is how long a chat waits for a person who dropped.
	// Default 30s.
	ResumeWindow time.Duration
	// ByeWindow is the shorter wait after a page said bye (it is closing or
	// reloading): a reload comes back within it, a closed tab does not.
	// Default 5s, and never longer than ResumeWindow.
	ByeWindow time.Duration
	// SessionTTL is the store's retention after the last activity, stated
	// to people in /api/me. Default 1h.
	SessionTTL time.Duration
	// ReportGrace is how long after a chat its partner can still be
	// reported. Default 5m.
	ReportGrace time.Duration
	// HideIPDefault is the default of the hide-my-IP toggle.
	HideIPDefault bool
	// RoomMaxText and RoomMaxVideo cap the members of a group room, a full
	// mesh. Defaults 8 and 6.
	RoomMaxText, RoomMaxVideo int

	// MaxConnsPerAddr caps open connections per IPv4 address or IPv6 /64.
	// Default 16.
	MaxConnsPerAddr int
	// MaxConns caps open connections in total. Default 100000.
	MaxConns int
	// NewSessionsPerMinute and NewSessionBurst limit the sessions one
	// IPv4 address or IPv6 /64 may create. Defaults 10 and 20.
	NewSessionsPerMinute float64
	NewSessionBurst      int
	// NetworkConnectsPerMinute and NetworkConnectBurst limit the new
	// connections of one network (IPv4 /24, IPv6 /48), checked before the
	// ban check, whose memory-hard hash of a new address costs CPU.
	// Defaults 240 and 240.
	NetworkConnectsPerMinute float64
	NetworkConnectBurst      int
	// MessagesPerSecond and Burst limit what one connection may send.
	// Defaults 20 and 40.
	MessagesPerSecond float64
	Burst             int
	// ActionsPerSecond and ActionBurst limit join, next and report, which
	// cost more than a signal. Defaults 2 and 6.
	ActionsPerSecond float64
	ActionBurst      int
	// SignalBytesPerSecond and SignalBytesBurst bound the signaling one
	// session may forward, whatever its chats: a burst large enough for
	// the descriptions, candidates, renegotiations and ICE restarts of
	// honest chats, and a trickle after it, so the server cannot be used to
	// carry content between two modified clients. Defaults 100 and 96 KiB.
	SignalBytesPerSecond float64
	SignalBytesBurst     int
	// MaxDropped is how many rate-limited messages a connection may send
	// before it is closed with 1008. Default 200.
	MaxDropped int
	// MaxBadMessages is how many invalid messages a connection may send
	// before it is closed with 1008. Default 50.
	MaxBadMessages int

	// MaxQueuedBytes bounds what may wait for one slow reader: past it the
	// connection is closed. Default 1 MiB.
	MaxQueuedBytes int
	// MaxQueuedTotal bounds what may wait for all readers together: past
	// it the connection with the longest queue is closed. Default 256 MiB.
	MaxQueuedTotal int64
	// NoDirectWrites sends every frame through the connection's writer
	// goroutine, as before direct writes: for comparisons in benchmarks.
	NoDirectWrites bool
	// HelloTimeout is how long a new connection has to say hello. Default 10s.
	HelloTimeout time.Duration
	// PingInterval and PongWait keep connections alive and find dead ones.
	// Defaults 25s and 60s.
	PingInterval time.Duration
	PongWait     time.Duration
	// WriteTimeout bounds every write to a socket. Default 10s.
	WriteTimeout time.Duration
	// TickInterval is how often the matcher runs without a join, for the
	// interests fallback. Default 250ms.
	TickInterval time.Duration

	// Static serves the browser client at / (and /privacy). Nil serves none.
	Static http.Handler

	// Helpline runs the helpline (signaling/helpline); nil runs none.
	Helpline *helpline.Config

	// Logger receives lifecycle events; never an address, a token, a name or
	// a preference.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	defFloat := func(d *float64, v float64) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.InterestWait, 5*time.Second)
	def(&c.ResumeWindow, 30*time.Second)
	def(&c.ByeWindow, 5*time.Second)
	def(&c.SessionTTL, time.Hour)
	def(&c.ReportGrace, 5*time.Minute)
	def(&c.HelloTimeout, 10*time.Second)
	def(&c.PingInterval, 25*time.Second)
	def(&c.PongWait, 60*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.TickInterval, 250*time.Millisecond)
	defInt(&c.MaxConnsPerAddr, 16)
	defInt(&c.RoomMaxText, proto.DefaultRoomMaxText)
	defInt(&c.RoomMaxVideo, proto.DefaultRoomMaxVideo)
	defInt(&c.MaxConns, 100000)
	defInt(&c.NewSessionBurst, 20)
	defInt(&c.Burst, 40)
	defInt(&c.ActionBurst, 6)
	defInt(&c.SignalBytesBurst, 96<<10)
	defInt(&c.MaxDropped, 200)
	defInt(&c.MaxBadMessages, 50)
	defInt(&c.MaxQueuedBytes, 1<<20)
	if c.MaxQueuedTotal == 0 {
		c.MaxQueuedTotal = 256 << 20
	}
	defFloat(&c.NewSessionsPerMinute, 10)
	defFloat(&c.NetworkConnectsPerMinute, 240)
	defInt(&c.NetworkConnectBurst, 240)
	defFloat(&c.MessagesPerSecond, 20)
	defFloat(&c.ActionsPerSecond, 2)
	defFloat(&c.SignalBytesPerSecond, 100)
	c.ByeWindow = min(c.ByeWindow, c.ResumeWindow)
	if c.Topics == nil {
		c.Topics = matcher.DefaultTopics()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Helpline != nil {
		hc := *c.Helpline // the caller's copy stays as it was
		hc.SetDefaults()
		c.Helpline = &hc
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("signaling: config: a store is required")
	case c.PongWait <= c.PingInterval:
		return errors.New("signaling: config: the pong wait must be longer than the ping interval")
	case c.MaxConnsPerAddr < 0 || c.MaxConns < 0 || c.MessagesPerSecond < 0 || c.ActionsPerSecond < 0 ||
		c.NewSessionsPerMinute < 0 || c.SignalBytesPerSecond < 0 || c.MaxQueuedTotal < 0 ||
		c.RoomMaxText < 2 || c.RoomMaxVideo < 2:
		return errors.New("signaling: config: limits must be positive")
	case c.MaxQueuedBytes < proto.MaxFrameBytes*2 || c.SignalBytesBurst < proto.MaxFrameBytes:
		return errors.New("signaling: config: the queue and signal budgets must hold at least two frames (128 KiB) and one frame (64 KiB)")
	case c.MaxQueuedTotal < int64(c.MaxQueuedBytes):
		return errors.New("signaling: config: the total queue budget must hold one connection's")
	}
	for _, o := range c.AllowedOrigins {
		if _, err := parseOrigin(o); err != nil {
			return err
		}
	}
	for _, l := range c.Languages {
		if !proto.ValidLanguage(l) {
			return fmt.Errorf("signaling: config: %q is not a language code like en or pt-br", l)
		}
	}
	if c.Helpline != nil {
		return c.Helpline.Validate()
	}
	return nil
}
