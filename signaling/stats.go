package signaling

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/proto"
)

// counters are process-wide aggregates for metrics. None of them names a
// person, a session or an address.
type counters struct {
	connections   atomic.Int64 // connections accepted
	pairs         atomic.Int64
	forwarded     atomic.Int64 // signals passed to a partner
	stripped      atomic.Int64 // signals withheld by the hide-IP policy
	rateLimited   atomic.Int64
	slowDropped   atomic.Int64 // readers dropped for a full send queue
	directWrites  atomic.Int64 // frames written on the sender's goroutine (conn.writeNow)
	partialWrites atomic.Int64 // of them, those the socket took only in part (a tail for the writer)
	reports       atomic.Int64
	bans          atomic.Int64
	rotations     atomic.Int64 // tokens rotated on a resume from an unexpected place
	roomsCreated  atomic.Int64
	// ambiguousCookies counts requests with two session cookies, which get
	// a fresh session instead of either.
	ambiguousCookies atomic.Int64
	writes           atomic.Int64
	writeNanos       atomic.Int64

	// By label, over closed sets fixed at start: counting on the read path
	// takes no lock.
	messages tally // by message type
	errors   tally // by wire error code
	refused  tally // upgrades refused, by reason

	mu            sync.Mutex // guards the histograms
	joinToMatched Histogram
	chatLength    Histogram
}

func newCounters() *counters {
	types := []string{proto.TypeHello}
	for t := range handlers {
		types = append(types, t)
	}
	return &counters{
		messages:      newTally(types...),
		errors:        newTally(proto.Codes()...),
		refused:       newTally(refusedOrigin, refusedCapacity, refusedSessions, refusedNetwork),
		joinToMatched: newHistogram(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
		chatLength:    newHistogram(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
	}
}

// Histogram counts observations in seconds by upper bound; the last count
// is above every bound. Aggregates only.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

func newHistogram(bounds ...float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

func (h *Histogram) observe(d time.Duration) {
	v := d.Seconds()
	i := 0
	for i < len(h.Bounds) && v > h.Bounds[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += v
	h.Count++
}

func (h Histogram) clone() Histogram {
	h.Bounds = append([]float64(nil), h.Bounds...)
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

func (c *counters) observeMatched(d time.Duration) {
	c.mu.Lock()
	c.joinToMatched.observe(d)
	c.mu.Unlock()
}

func (c *counters) observeChat(d time.Duration) {
	c.mu.Lock()
	c.chatLength.observe(d)
	c.mu.Unlock()
}

// Reasons an upgrade is refused, as counted.
const (
	refusedOrigin   = "origin"
	refusedCapacity = "capacity"
	refusedSessions = "new-sessions" // too many new sessions from one prefix
	refusedNetwork  = "network"      // too many new connections from one /24 or /48
)

func (c *counters) countMessage(t string)   { c.messages.inc(t) }
func (c *counters) countError(code string)  { c.errors.inc(code) }
func (c *counters) countRefused(why string) { c.refused.inc(why) }

// tally counts by key over a set of keys fixed when it is made; the map is
// never written after that, so it is read without a lock.
type tally map[string]*atomic.Int64

func newTally(keys ...string) tally {
	t := make(tally, len(keys))
	for _, k := range keys {
		t[k] = new(atomic.Int64)
	}
	return t
}

// inc counts one for k; a key outside the set is a bug and not counted.
func (t tally) inc(k string) {
	if n := t[k]; n != nil {
		n.Add(1)
	}
}

// snapshot returns the keys counted at least once.
func (t tally) snapshot() map[string]int64 {
	out := make(map[string]int64, len(t))
	for k, n := range t {
		if v := n.Load(); v > 0 {
			out[k] = v
		}
	}
	return out
}

func (c *counters) observeWrite(d time.Duration) {
	c.writes.Add(1)
	c.writeNanos.Add(int64(d))
}

// Stats is a snapshot of the server's aggregates.
type Stats struct {
	Online           int             // open connections
	Waiting          []matcher.Count // people waiting per mode and media
	Sessions         int             // sessions in memory
	ConnectionsTotal int64
	PairsTotal       int64
	SignalsForwarded int64
	SignalsStripped  int64
	RateLimited      int64
	SlowDropped      int64
	// DirectWrites are frames written at once on the sender's goroutine;
	// PartialWrites those of them the socket's buffer took only in part.
	DirectWrites, PartialWrites int64
	Reports                     int64
	Bans                        int64
	TokenRotations              int64
	AmbiguousCookies            int64
	StoreWrites                 int64
	StoreWriteTime              time.Duration
	Messages                    map[string]int64 // by type
	Errors                      map[string]int64 // by code
	Refused                     map[string]int64 // upgrades refused, by reason
	JoinToMatched               Histogram        // seconds from entering the queue to matched
	ChatLength                  Histogram        // seconds from matched to the end of the chat
	ChatsToday                  int
	ChatsEndedToday             int
	AvgChatLength               time.Duration
	Rooms                       int // open chats
	QueuedBytes                 int64
}

// Stats returns the aggregates.
func (s *Server) Stats() Stats {
	now := time.Now()
	m := s.metrics
	st := Stats{
		ConnectionsTotal: m.connections.Load(),
		PairsTotal:       m.pairs.Load(),
		SignalsForwarded: m.forwarded.Load(),
		SignalsStripped:  m.stripped.Load(),
		RateLimited:      m.rateLimited.Load(),
		SlowDropped:      m.slowDropped.Load(),
		DirectWrites:     m.directWrites.Load(),
		PartialWrites:    m.partialWrites.Load(),
		Reports:          m.reports.Load(),
		Bans:             m.bans.Load(),
		TokenRotations:   m.rotations.Load(),
		AmbiguousCookies: m.ambiguousCookies.Load(),
		StoreWrites:      m.writes.Load(),
		StoreWriteTime:   time.Duration(m.writeNanos.Load()),
		QueuedBytes:      s.queued.Load(),
	}
	st.Messages, st.Errors, st.Refused = m.messages.snapshot(), m.errors.snapshot(), m.refused.snapshot()
	m.mu.Lock()
	st.JoinToMatched, st.ChatLength = m.joinToMatched.clone(), m.chatLength.clone()
	m.mu.Unlock()

	s.mu.RLock()
	st.Online = len(s.open)
	s.mu.RUnlock()
	h := s.hub()
	st.Waiting = h.q.waiting()
	h.mu.RLock()
	st.Sessions, st.Rooms = len(h.sessions), len(h.rooms)
	h.mu.RUnlock()
	st.ChatsToday, st.ChatsEndedToday, st.AvgChatLength = h.daily.get(now)
	return st
}

// dailyStats counts chats of the current UTC day.
type dailyStats struct {
	mu       sync.Mutex // guards the fields below
	day      time.Time
	pairs    int
	ended    int
	totalLen time.Duration
}

func (d *dailyStats) rollLocked(now time.Time) {
	day := now.UTC().Truncate(24 * time.Hour)
	if !day.Equal(d.day) {
		d.day, d.pairs, d.ended, d.totalLen = day, 0, 0, 0
	}
}

func (d *dailyStats) pairFormed(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rollLocked(now)
	d.pairs++
}

func (d *dailyStats) chatEnded(now time.Time, length time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rollLocked(now)
	d.ended++
	d.totalLen += length
}

func (d *dailyStats) get(now time.Time) (pairs, ended int, avg time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rollLocked(now)
	if d.ended == 0 {
		return d.pairs, 0, 0
	}
	return d.pairs, d.ended, d.totalLen / time.Duration(d.ended)
}
