package pow

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// counter is what the Guard knows about one prefix, or about everyone: how
// many sessions and joins since the last rise, and the doublings in force.
type counter struct {
	start     time.Time // when the prefix was first counted; it is forgotten an hour later
	sessions  int       // in this hour, since the last rise
	joinStart time.Time // the minute joins are counted in
	joins     int
	level     int // doublings in force since raised
	raised    time.Time
}

// levelAt is the doublings in force at now: none once Cooldown has passed
// since the last rise.
func (c *counter) levelAt(now time.Time, cooldown time.Duration) int {
	if c.level == 0 || now.Sub(c.raised) >= cooldown {
		return 0
	}
	return c.level
}

func (g *Guard) raise(c *counter, now time.Time) {
	c.level = min(c.levelAt(now, g.cfg.Cooldown)+1, g.cfg.MaxDoublings)
	c.raised = now
}

// countJoin counts one join in c's minute against limit (0: none) and
// raises c's level each time the count passes it.
func (g *Guard) countJoin(c *counter, limit int, now time.Time) {
	if now.Sub(c.joinStart) >= time.Minute {
		c.joinStart, c.joins = now, 0
	}
	c.joins++
	if limit > 0 && c.joins > limit {
		g.raise(c, now)
		c.joins = 0
	}
}

// key is a keyed hash of a prefix: the counters hold no address.
func (g *Guard) key(p netip.Prefix) uint64 {
	m := hmac.New(sha256.New, g.hashKey)
	a := p.Addr().As16()
	m.Write(a[:])
	m.Write([]byte{byte(p.Bits())})
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// counterLocked returns p's counter, new if it has none or its hour is over;
// nil when there is no room for another prefix.
func (g *Guard) counterLocked(p netip.Prefix, now time.Time, create bool) *counter {
	g.sweepLocked(now)
	k := g.key(p)
	c := g.prefixes[k]
	if c != nil && now.Sub(c.start) >= window {
		delete(g.prefixes, k)
		c = nil
	}
	if c == nil && create {
		if len(g.prefixes) >= g.cfg.MaxPrefixes {
			return nil
		}
		c = &counter{start: now}
		g.prefixes[k] = c
	}
	return c
}

// SessionOpened counts a new session from prefix p (an IPv4 address or an
// IPv6 /64, from store/prefix).
func (g *Guard) SessionOpened(p netip.Prefix, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.counterLocked(p, now, true)
	if c == nil {
		return
	}
	c.sessions++
	if c.sessions > g.cfg.SessionsPerHour {
		g.raise(c, now)
		c.sessions = 0
	}
}

// Joined counts a join from prefix p, for p and for the global rate.
func (g *Guard) Joined(p netip.Prefix, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.countJoin(&g.global, g.cfg.GlobalJoinsPerMinute, now)
	if c := g.counterLocked(p, now, true); c != nil {
		g.countJoin(c, g.cfg.JoinsPerMinute, now)
	}
}

// Bits is the difficulty a challenge for prefix p gets now: the baseline,
// plus the doublings in force for p or for everyone, whichever are more. A
// prefix that finds no room among the counters (a flood from more prefixes
// than MaxPrefixes) gets the most.
func (g *Guard) Bits(p netip.Prefix, now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	level := g.global.levelAt(now, g.cfg.Cooldown)
	if c := g.counterLocked(p, now, false); c != nil {
		level = max(level, c.levelAt(now, g.cfg.Cooldown))
	} else if len(g.prefixes) >= g.cfg.MaxPrefixes {
		level = g.cfg.MaxDoublings
	}
	return g.cfg.Bits + level
}
