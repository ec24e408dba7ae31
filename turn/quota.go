package turn

import (
	"net/netip"
	"sync"
	"time"
)

// reserveFor is how long a quota reservation waits for its allocation.
// pion creates the allocation on the same goroutine right after the quota
// hook, so a reservation that is still pending after this long belongs to an
// allocation that failed (no relay port free) and must not hold a slot.
const reserveFor = 5 * time.Second

// quotas counts allocations per session, per client prefix and in total.
//
// The quota hook runs before pion creates the allocation, and several read
// loops and TCP connections run hooks at once, so a check alone would let
// parallel requests overshoot. The hook therefore reserves a slot, and the
// created event turns the reservation into a live allocation.
type quotas struct {
	maxSession, maxPrefix, maxTotal int

	mu        sync.Mutex // guards the fields below
	live      int
	bySession map[string]int
	byPrefix  map[netip.Prefix]int
	pending   []reservation
}

type reservation struct {
	session string
	prefix  netip.Prefix
	expires time.Time
}

func newQuotas(maxSession, maxPrefix, maxTotal int) *quotas {
	return &quotas{
		maxSession: maxSession, maxPrefix: maxPrefix, maxTotal: maxTotal,
		bySession: make(map[string]int), byPrefix: make(map[netip.Prefix]int),
	}
}

// reserve takes a slot for one allocation of session from prefix, or
// returns the kind of limit that refuses it.
func (q *quotas) reserve(now time.Time, session string, prefix netip.Prefix) (refused string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expire(now)
	total, perSession, perPrefix := q.live+len(q.pending), q.bySession[session], q.byPrefix[prefix]
	for _, r := range q.pending {
		if r.session == session {
			perSession++
		}
		if r.prefix == prefix {
			perPrefix++
		}
	}
	switch {
	case perSession >= q.maxSession:
		return "session"
	case perPrefix >= q.maxPrefix:
		return "prefix"
	case total >= q.maxTotal:
		return "total"
	}
	q.pending = append(q.pending, reservation{session: session, prefix: prefix, expires: now.Add(reserveFor)})
	return ""
}

func (q *quotas) expire(now time.Time) {
	kept := q.pending[:0]
	for _, r := range q.pending {
		if now.Before(r.expires) {
			kept = append(kept, r)
		}
	}
	clear(q.pending[len(kept):])
	q.pending = kept
}

// created turns the matching reservation into a live allocation. An
// allocation without one (its reservation expired) is counted all the same:
// the counts must match what is really allocated.
func (q *quotas) created(session string, prefix netip.Prefix) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, r := range q.pending {
		if r.session == session && r.prefix == prefix {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			break
		}
	}
	q.live++
	q.bySession[session]++
	q.byPrefix[prefix]++
}

func (q *quotas) deleted(session string, prefix netip.Prefix) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.live--
	if q.bySession[session]--; q.bySession[session] <= 0 {
		delete(q.bySession, session)
	}
	if q.byPrefix[prefix]--; q.byPrefix[prefix] <= 0 {
		delete(q.byPrefix, prefix)
	}
}

func (q *quotas) current() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.live
}
