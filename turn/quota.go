package turn

import (
	"net/netip"
	"sync"
	"time"

	"github.com/parley-chat/parley/store/prefix"
)

// reserveFor is how long a quota reservation waits for its allocation.
// pion creates the allocation on the same goroutine right after the quota
// hook, so a reservation that is still pending after this long belongs to an
// allocation that failed (no relay port free) and must not hold a slot.
const reserveFor = 5 * time.Second

// The quota model (docs/SELF-HOSTING.md, "Relay quotas"): nested caps on the
// allocations of one session, one client address (IPv4 /32, IPv6 /64), one
// network (IPv4 /24, IPv6 /48, prefix.Network) and in all, plus a reserve.
// The audit (issue 10, point 4) took all 4,096 allocations in 3.4 s from 256
// addresses of one network; the network cap bounds that to a share
// (1/16 of the relay by default), so one network cannot starve the others.
// A network cap alone still yields to an attacker with 16 networks, which
// is cheap with IPv6, so the last quarter of the relay is a reserve: once it
// is that full, only networks that hold less than one session's worth
// (MaxPerSession) get more. A newcomer from any other network then still
// gets a full session's allocations until the reserve is gone too, which
// takes the attacker one network per MaxPerSession-1 allocations of it.
//
// A reserve per network (each network guaranteed some allocations) was the
// alternative; it needs an idea of how many networks will come, and it
// leaves slots idle on a quiet relay, where this one leaves none.

// reserveShare is the fraction (1/reserveShare) of MaxTotal kept back.
const reserveShare = 4

// quotas counts allocations per session, per client prefix, per client
// network and in total.
//
// The quota hook runs before pion creates the allocation, and several read
// loops and TCP connections run hooks at once, so a check alone would let
// parallel requests overshoot. The hook therefore reserves a slot, and the
// created event turns the reservation into a live allocation.
type quotas struct {
	maxSession, maxPrefix, maxNetwork, maxTotal int

	mu        sync.Mutex // guards the fields below
	live      int
	bySession map[string]int
	byPrefix  map[netip.Prefix]int // client address: /32 or /64
	byNetwork map[netip.Prefix]int // client network: /24 or /48
	pending   []reservation
}

type reservation struct {
	session string
	addr    netip.Addr
	expires time.Time
}

func newQuotas(maxSession, maxPrefix, maxNetwork, maxTotal int) *quotas {
	return &quotas{
		maxSession: maxSession, maxPrefix: maxPrefix, maxNetwork: maxNetwork, maxTotal: maxTotal,
		bySession: make(map[string]int), byPrefix: make(map[netip.Prefix]int),
		byNetwork: make(map[netip.Prefix]int),
	}
}

// reserve takes a slot for one allocation of session from the client
// address addr, or returns the kind of limit that refuses it.
func (q *quotas) reserve(now time.Time, session string, addr netip.Addr) (refused string) {
	pfx, network := prefix.Of(addr), prefix.Network(addr)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expire(now)
	total := q.live + len(q.pending)
	perSession, perPrefix, perNetwork := q.bySession[session], q.byPrefix[pfx], q.byNetwork[network]
	for _, r := range q.pending {
		if r.session == session {
			perSession++
		}
		if prefix.Of(r.addr) == pfx {
			perPrefix++
		}
		if prefix.Network(r.addr) == network {
			perNetwork++
		}
	}
	switch {
	case perSession >= q.maxSession:
		return "session"
	case perPrefix >= q.maxPrefix:
		return "prefix"
	case perNetwork >= q.maxNetwork:
		return "network"
	case total >= q.maxTotal:
		return "total"
	case total >= q.maxTotal-q.maxTotal/reserveShare && perNetwork >= q.maxSession:
		return "reserve"
	}
	q.pending = append(q.pending, reservation{session: session, addr: addr, expires: now.Add(reserveFor)})
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
func (q *quotas) created(session string, addr netip.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, r := range q.pending {
		if r.session == session && r.addr == addr {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			break
		}
	}
	q.live++
	q.bySession[session]++
	q.byPrefix[prefix.Of(addr)]++
	q.byNetwork[prefix.Network(addr)]++
}

func (q *quotas) deleted(session string, addr netip.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.live--
	if q.bySession[session]--; q.bySession[session] <= 0 {
		delete(q.bySession, session)
	}
	decr(q.byPrefix, prefix.Of(addr))
	decr(q.byNetwork, prefix.Network(addr))
}

func decr(m map[netip.Prefix]int, k netip.Prefix) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

func (q *quotas) current() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.live
}
