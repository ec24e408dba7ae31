package signaling

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/proto"
	"golang.org/x/time/rate"
)

// queue is the matcher behind its own lock: the one lock joins share. The
// matcher is pure (no clock, no goroutines); this only serialises it.
type queue struct {
	preferences []proto.Preference // the configured list, as welcome sends it
	statements  map[string]*proto.Statement

	mu  sync.Mutex // guards eng
	eng *matcher.Engine
}

func newQueue(cfg matcher.Config) (*queue, error) {
	eng, err := matcher.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	t := eng.Topics()
	q := &queue{eng: eng, statements: make(map[string]*proto.Statement, len(t.Statements))}
	for _, p := range t.Preferences {
		q.preferences = append(q.preferences, proto.Preference{ID: p.ID, Label: p.Label, Labels: p.Labels})
	}
	for _, s := range t.Statements {
		q.statements[s.ID] = &proto.Statement{ID: s.ID, Text: s.Text, Texts: s.Texts}
	}
	return q, nil
}

func (q *queue) join(now time.Time, r matcher.Request) error {
	q.mu.Lock()
	err := q.eng.Join(now, r)
	q.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, matcher.ErrBadPreference), errors.Is(err, matcher.ErrNoPreference):
		return proto.ErrBadPreference
	case errors.Is(err, matcher.ErrBadMedia):
		return proto.ErrBadMedia
	case errors.Is(err, matcher.ErrBadInterests):
		return proto.ErrBadInterests
	case errors.Is(err, matcher.ErrBadLanguage):
		return proto.ErrBadLanguage
	}
	return proto.ErrBadMode
}

func (q *queue) leave(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.eng.Leave(id)
}

func (q *queue) tick(now time.Time) []matcher.Pair {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.eng.Tick(now)
}

func (q *queue) avoid(a, b string) {
	q.mu.Lock()
	q.eng.Avoid(a, b)
	q.mu.Unlock()
}

func (q *queue) history(id string) matcher.History {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.eng.History(id)
}

func (q *queue) restore(id string, h matcher.History) {
	q.mu.Lock()
	q.eng.Restore(id, h)
	q.mu.Unlock()
}

// related returns the sessions id has a history with.
func (q *queue) related(id string) []string {
	h := q.history(id)
	out := append([]string(nil), h.Avoid...)
	for p := range h.Met {
		out = append(out, p)
	}
	return out
}

func (q *queue) forget(id string) {
	q.mu.Lock()
	q.eng.Forget(id)
	q.mu.Unlock()
}

func (q *queue) waiting() []matcher.Count {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.eng.Waiting()
}

func (q *queue) knownPreference(id string) bool {
	for _, p := range q.preferences {
		if p.ID == id {
			return true
		}
	}
	return false
}

func (q *queue) statement(id string) *proto.Statement { return q.statements[id] }

// prefixLimiters are token buckets per address prefix, for new sessions.
// Buckets that are full again are dropped, so memory follows the prefixes
// active in the last few minutes, and a sweep keeps the map from growing
// without bound under a flood of addresses.
type prefixLimiters struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex // guards m and swept
	m       map[netip.Prefix]*rate.Limiter
	swept   time.Time
	maxKeys int
}

func newPrefixLimiters(limit rate.Limit, burst int) *prefixLimiters {
	return &prefixLimiters{limit: limit, burst: burst, m: make(map[netip.Prefix]*rate.Limiter), maxKeys: 1 << 20}
}

func (p *prefixLimiters) allow(key netip.Prefix, now time.Time) bool {
	ok, _ := p.take(key, now)
	return ok
}

// take is allow that can be undone: giveBack returns the token, for a
// request refused later for a reason of its own.
func (p *prefixLimiters) take(key netip.Prefix, now time.Time) (ok bool, giveBack func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.swept) > time.Minute || len(p.m) >= p.maxKeys {
		p.swept = now
		for k, l := range p.m {
			if l.TokensAt(now) >= float64(p.burst) {
				delete(p.m, k)
			}
		}
	}
	l := p.m[key]
	if l == nil {
		if len(p.m) >= p.maxKeys {
			return false, nil // a flood from more prefixes than memory allows: refuse, do not grow
		}
		l = rate.NewLimiter(p.limit, p.burst)
		p.m[key] = l
	}
	r := l.ReserveN(now, 1)
	if !r.OK() || r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		return false, nil
	}
	return true, func() { r.CancelAt(now) }
}
