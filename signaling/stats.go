package signaling

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/matcher"
)

// counters are process-wide aggregates for metrics. None of them names a
// person, a session or an address.
type counters struct {
	connections atomic.Int64 // connections accepted
	pairs       atomic.Int64
	forwarded   atomic.Int64 // signals passed to a partner
	stripped    atomic.Int64 // signals withheld by the hide-IP policy
	rateLimited atomic.Int64
	slowDropped atomic.Int64 // readers dropped for a full send queue
	reports     atomic.Int64
	bans        atomic.Int64
	writes      atomic.Int64
	writeNanos  atomic.Int64

	mu            sync.Mutex // guards the maps and histograms
	joinToMatched Histogram
	chatLength    Histogram
	messages      map[string]int64
	errors        map[string]int64
	refused       map[string]int64
}

func newCounters() *counters {
	return &counters{
		messages:      map[string]int64{},
		errors:        map[string]int64{},
		refused:       map[string]int64{},
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

// countMessage counts a message by type; only protocol types reach it, so
// the label set is closed.
func (c *counters) countMessage(t string)   { c.inc(c.messages, t) }
func (c *counters) countError(code string)  { c.inc(c.errors, code) }
func (c *counters) countRefused(why string) { c.inc(c.refused, why) }

func (c *counters) inc(m map[string]int64, k string) {
	c.mu.Lock()
	m[k]++
	c.mu.Unlock()
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
	Reports          int64
	Bans             int64
	StoreWrites      int64
	StoreWriteTime   time.Duration
	Messages         map[string]int64 // by type
	Errors           map[string]int64 // by code
	Refused          map[string]int64 // upgrades refused, by reason
	JoinToMatched    Histogram        // seconds from entering the queue to matched
	ChatLength       Histogram        // seconds from matched to the end of the chat
	ChatsToday       int
	ChatsEndedToday  int
	AvgChatLength    time.Duration
	PreferenceSpread map[string]int // opposite mode: people waiting per preference id
}

// Stats returns the aggregates.
func (s *Server) Stats() Stats {
	now := s.cfg.Clock()
	m := s.metrics
	st := Stats{
		ConnectionsTotal: m.connections.Load(),
		PairsTotal:       m.pairs.Load(),
		SignalsForwarded: m.forwarded.Load(),
		SignalsStripped:  m.stripped.Load(),
		RateLimited:      m.rateLimited.Load(),
		SlowDropped:      m.slowDropped.Load(),
		Reports:          m.reports.Load(),
		Bans:             m.bans.Load(),
		StoreWrites:      m.writes.Load(),
		StoreWriteTime:   time.Duration(m.writeNanos.Load()),
	}
	m.mu.Lock()
	st.Messages, st.Errors, st.Refused = copyMap(m.messages), copyMap(m.errors), copyMap(m.refused)
	st.JoinToMatched, st.ChatLength = m.joinToMatched.clone(), m.chatLength.clone()
	m.mu.Unlock()

	s.mu.Lock()
	st.Online = len(s.open)
	st.Waiting = s.eng.Waiting()
	st.Sessions = len(s.sessions)
	st.ChatsToday, st.ChatsEndedToday, st.AvgChatLength = s.daily.get(now)
	st.PreferenceSpread = map[string]int{}
	for _, sess := range s.sessions {
		if sess.state == stateQueued && sess.join != nil && sess.join.Mode == matcher.ModeOpposite {
			st.PreferenceSpread[sess.join.Preference]++
		}
	}
	s.mu.Unlock()
	return st
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// dailyStats counts chats of the current UTC day. Guarded by Server.mu.
type dailyStats struct {
	day      time.Time
	pairs    int
	ended    int
	totalLen time.Duration
}

func (d *dailyStats) roll(now time.Time) {
	day := now.UTC().Truncate(24 * time.Hour)
	if !day.Equal(d.day) {
		*d = dailyStats{day: day}
	}
}

func (d *dailyStats) pairFormed(now time.Time) {
	d.roll(now)
	d.pairs++
}

func (d *dailyStats) chatEnded(now time.Time, length time.Duration) {
	d.roll(now)
	d.ended++
	d.totalLen += length
}

func (d *dailyStats) get(now time.Time) (pairs, ended int, avg time.Duration) {
	d.roll(now)
	if d.ended == 0 {
		return d.pairs, 0, 0
	}
	return d.pairs, d.ended, d.totalLen / time.Duration(d.ended)
}
