package signaling

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
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

	// ICEServers returns the STUN and TURN servers, with credentials bound to
	// the session, handed out in welcome. Nil hands out none.
	ICEServers func(sessionID string, now time.Time) []turn.ICEServer

	// OnSessionEnd is told, off the request path, when a session is banned
	// or erased, so the relay can end its allocations at once. May be nil.
	OnSessionEnd func(sessionID string)

	// AllowedOrigins are origins (scheme://host[:port]) allowed to open /ws
	// besides the server's own.
	AllowedOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// ResumeWindow is how long a pair waits for a person who dropped.
	// Default 30s.
	ResumeWindow time.Duration
	// ByeWindow replaces ResumeWindow for a connection that said bye (its
	// page went away) shortly before it closed: a reload is back well
	// within it, a closed tab is not, and its partner learns so in seconds
	// rather than after the whole resume window. Default 5s; at most
	// ResumeWindow.
	ByeWindow time.Duration
	// SessionTTL is the store's retention after the last activity, stated
	// to people in /api/me. Default 1h.
	SessionTTL time.Duration
	// ReportGrace is how long after a chat its partner can still be
	// reported. Default 5m.
	ReportGrace time.Duration
	// HideIPDefault is the default of the hide-my-IP toggle.
	HideIPDefault bool

	// MaxConnsPerAddr caps open connections per IPv4 address or IPv6 /64.
	// Default 16.
	MaxConnsPerAddr int
	// MaxConns caps open connections in total. Default 100000.
	MaxConns int
	// MessagesPerSecond and Burst limit what one connection may send.
	// Defaults 20 and 40.
	MessagesPerSecond float64
	Burst             int
	// ActionsPerSecond and ActionBurst limit join, next and report, which
	// cost more than a signal. Defaults 2 and 6.
	ActionsPerSecond float64
	ActionBurst      int
	// MaxDropped is how many rate-limited messages a connection may send
	// before it is closed with 1008. Default 200.
	MaxDropped int
	// MaxBadMessages is how many invalid messages a connection may send
	// before it is closed with 1008. Default 50.
	MaxBadMessages int

	// SendQueue is how many messages may wait for a slow reader before it is
	// dropped. Default 64.
	SendQueue int
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

	// Logger receives lifecycle events; never an address, a token, a name or
	// a preference.
	Logger *slog.Logger
	// Clock is the time source; default time.Now. Logic takes the time as an
	// argument; only the edges read this.
	Clock func() time.Time
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
	def(&c.InterestWait, 5*time.Second)
	def(&c.ResumeWindow, 30*time.Second)
	def(&c.ByeWindow, 5*time.Second)
	c.ByeWindow = min(c.ByeWindow, c.ResumeWindow)
	def(&c.SessionTTL, time.Hour)
	def(&c.ReportGrace, 5*time.Minute)
	def(&c.HelloTimeout, 10*time.Second)
	def(&c.PingInterval, 25*time.Second)
	def(&c.PongWait, 60*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.TickInterval, 250*time.Millisecond)
	defInt(&c.MaxConnsPerAddr, 16)
	defInt(&c.MaxConns, 100000)
	defInt(&c.Burst, 40)
	defInt(&c.ActionBurst, 6)
	defInt(&c.MaxDropped, 200)
	defInt(&c.MaxBadMessages, 50)
	defInt(&c.SendQueue, 64)
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = 20
	}
	if c.ActionsPerSecond == 0 {
		c.ActionsPerSecond = 2
	}
	if c.Topics == nil {
		c.Topics = matcher.DefaultTopics()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("signaling: config: a store is required")
	}
	if c.PongWait <= c.PingInterval {
		return errors.New("signaling: config: the pong wait must be longer than the ping interval")
	}
	if c.ResumeWindow < 0 || c.ByeWindow < 0 {
		return errors.New("signaling: config: the resume and bye windows must be positive")
	}
	if c.MaxConnsPerAddr < 0 || c.MaxConns < 0 || c.SendQueue < 1 || c.MessagesPerSecond < 0 || c.ActionsPerSecond < 0 {
		return errors.New("signaling: config: limits must be positive")
	}
	for _, o := range c.AllowedOrigins {
		if _, err := parseOrigin(o); err != nil {
			return err
		}
	}
	return nil
}
