// Package pow is the server's half of parley's proof of work: stateless challenges bound to a session, their verification, and a difficulty that rises for busy address prefixes; in memory only, time passed in.
//
// The puzzle itself (what is hashed, what counts as solved) is part of the
// protocol and lives in signaling/proto, which clients import.
package pow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// Defaults for the zero values of Config.
const (
	// DefaultBits and DefaultParts make the baseline about 2^19 (524,288)
	// hashes: by the published figures for a million hashes in four parts
	// (0.5 s on a recent laptop, 1.1-2.4 s on mid-range phones, 6 s on a
	// low-end one) about a second on a mid-range phone (docs/BENCHMARKS.md).
	DefaultBits            = 17
	DefaultParts           = 4
	DefaultTTL             = 2 * time.Minute
	DefaultMaxDoublings    = 3 // 8x
	DefaultSessionsPerHour = 20
	DefaultJoinsPerMinute  = 30
	DefaultCooldown        = 10 * time.Minute
	DefaultMaxPrefixes     = 1 << 20
)

// sweepEvery is how often expired ids and counters are dropped.
const sweepEvery = time.Minute

// window is how long a prefix's counters count: with the sweep's minute on
// top, everything about a prefix is gone within the hour after it was first
// counted.
const window = time.Hour - sweepEvery

// Config tunes the proof of work. Zero values mean the defaults.
type Config struct {
	// Bits is the baseline difficulty: the zero bits each part's hash must
	// begin with. Each bit doubles the work. Default 17.
	Bits int
	// Parts is how many sub-challenges a challenge has. Default 4.
	Parts int
	// TTL is how long a challenge may be solved and used. Default 2m.
	TTL time.Duration
	// MaxDoublings caps how often the difficulty doubles. Default 3 (8x).
	MaxDoublings int
	// SessionsPerHour and JoinsPerMinute are what one address prefix (an
	// IPv4 address or an IPv6 /64) may open or send before its difficulty
	// doubles; every as many again doubles it again. Defaults 20 and 30.
	SessionsPerHour int
	JoinsPerMinute  int
	// GlobalJoinsPerMinute is the join rate of the whole server past which
	// everyone's difficulty doubles, and again for every as many more. 0
	// means no global threshold.
	GlobalJoinsPerMinute int
	// Cooldown is how long after its last rise a difficulty falls back to
	// the baseline. Default 10m.
	Cooldown time.Duration
	// MaxPrefixes bounds the prefixes counted at once; a prefix that finds
	// no room gets the highest difficulty. Default 1<<20.
	MaxPrefixes int
	// Key signs challenges and keys the prefix hashes. Nil draws a random
	// one, which is what a single node wants: the used ids are in memory
	// only, so a key that outlived a restart would let a challenge used
	// before it be used again after it.
	Key []byte
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Bits, DefaultBits)
	def(&c.Parts, DefaultParts)
	def(&c.MaxDoublings, DefaultMaxDoublings)
	def(&c.SessionsPerHour, DefaultSessionsPerHour)
	def(&c.JoinsPerMinute, DefaultJoinsPerMinute)
	def(&c.MaxPrefixes, DefaultMaxPrefixes)
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
}

func (c *Config) validate() error {
	switch {
	case c.Bits < 1 || c.Bits+c.MaxDoublings > proto.MaxPowBits || c.MaxDoublings < 0:
		return fmt.Errorf("%w: bits %d and doublings %d must stay within 1..%d", ErrBadConfig, c.Bits, c.MaxDoublings, proto.MaxPowBits)
	case c.Parts < 1 || c.Parts > proto.MaxPowParts:
		return fmt.Errorf("%w: parts %d not in 1..%d", ErrBadConfig, c.Parts, proto.MaxPowParts)
	case c.TTL < time.Second || c.Cooldown < 0:
		return fmt.Errorf("%w: a TTL under a second or a negative cooldown", ErrBadConfig)
	case c.SessionsPerHour < 0 || c.JoinsPerMinute < 0 || c.GlobalJoinsPerMinute < 0 || c.MaxPrefixes < 0:
		return fmt.Errorf("%w: negative limits", ErrBadConfig)
	case c.Key != nil && len(c.Key) < 16:
		return fmt.Errorf("%w: a key of %d bytes", ErrBadConfig, len(c.Key))
	}
	return nil
}

// Guard issues and verifies challenges and keeps the difficulty per prefix.
// It is safe for concurrent use; no call blocks or does I/O.
type Guard struct {
	cfg     Config
	macKey  []byte
	hashKey []byte

	mu       sync.Mutex // guards the fields below; a leaf
	prefixes map[uint64]*counter
	global   counter
	used     map[string]int64 // challenge id -> its expiry (Unix seconds)
	swept    time.Time
}

// New checks the config and returns a Guard.
func New(cfg Config) (*Guard, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key := cfg.Key
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &Guard{
		cfg:      cfg,
		macKey:   derive(key, "parley pow challenge"),
		hashKey:  derive(key, "parley pow prefix"),
		prefixes: make(map[uint64]*counter),
		used:     make(map[string]int64),
	}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Parts is the number of parts of every challenge.
func (g *Guard) Parts() int { return g.cfg.Parts }

// Issue returns a new challenge for a session connecting from prefix p, at
// the difficulty p has now.
func (g *Guard) Issue(session string, p netip.Prefix, now time.Time) *proto.PowChallenge {
	var id [16]byte
	_, _ = rand.Read(id[:])
	// Rounded up to the second: a challenge lasts at least TTL.
	exp := now.Add(g.cfg.TTL)
	expires := exp.Unix()
	if exp.Nanosecond() > 0 {
		expires++
	}
	c := &proto.PowChallenge{
		ID:      base64.RawURLEncoding.EncodeToString(id[:]),
		Bits:    g.Bits(p, now),
		Parts:   g.cfg.Parts,
		Expires: expires,
	}
	c.MAC = g.mac(session, c)
	return c
}

// mac signs everything a client could change and the session it was issued
// to, so a challenge cannot be eased, extended or passed to another session.
func (g *Guard) mac(session string, c *proto.PowChallenge) string {
	m := hmac.New(sha256.New, g.macKey)
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(c.ID)))
	b = append(b, c.ID...)
	b = binary.AppendUvarint(b, uint64(len(session)))
	b = append(b, session...)
	b = binary.AppendUvarint(b, uint64(c.Bits))
	b = binary.AppendUvarint(b, uint64(c.Parts))
	b = binary.AppendVarint(b, c.Expires)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a solution sent by session: issued to it by this Guard, not
// expired, never used before, and every nonce right. A solution that passes
// cannot pass again. The work is a MAC and one hash per part, whatever the
// difficulty.
func (g *Guard) Verify(session string, s *proto.PowSolution, now time.Time) error {
	if s == nil || !hmac.Equal([]byte(g.mac(session, &s.PowChallenge)), []byte(s.MAC)) {
		return ErrForged
	}
	if now.Unix() >= s.Expires {
		return ErrExpired
	}
	if len(s.Nonces) != s.Parts {
		return ErrWrong
	}
	for part, n := range s.Nonces {
		if !proto.PowPartOK(s.ID, s.Bits, part, n) {
			return ErrWrong
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked(now)
	if _, ok := g.used[s.ID]; ok {
		return ErrReplayed
	}
	g.used[s.ID] = s.Expires
	return nil
}

// Held reports how much the Guard remembers: prefixes counted and challenge
// ids kept until they expire. For tests of what is kept in memory.
func (g *Guard) Held(now time.Time) (prefixes, ids int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked(now)
	return len(g.prefixes), len(g.used)
}

// sweepLocked drops, once a minute, the ids that expired and the counters
// whose hour is over.
func (g *Guard) sweepLocked(now time.Time) {
	if now.Sub(g.swept) < sweepEvery {
		return
	}
	g.swept = now
	for id, exp := range g.used {
		if now.Unix() >= exp {
			delete(g.used, id)
		}
	}
	for k, c := range g.prefixes {
		if now.Sub(c.start) >= window {
			delete(g.prefixes, k)
		}
	}
}
