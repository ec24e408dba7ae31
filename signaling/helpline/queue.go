// Package helpline is parley's helpline: the queue of visitors and the offers to volunteers (a pure model, time passed in), staff sign-in with invites and passkeys, and the contact pseudonyms with their rotating keys.
package helpline

import (
	"cmp"
	"errors"
	"slices"
	"time"
)

// Errors of the queue, mapped to wire codes by the hub.
var (
	// ErrNoOffer: the offer was withdrawn, taken, timed out or never made.
	ErrNoOffer = errors.New("helpline: no such offer")
	// ErrNoRoom: the volunteer is off shift, full, or the one handing over.
	ErrNoRoom = errors.New("helpline: that volunteer cannot take a chat now")
)

// QueueConfig configures the queue. Zero values mean the defaults.
type QueueConfig struct {
	// OfferTimeout is how long an offer waits for an answer before it moves
	// on to another volunteer. Default 30s.
	OfferTimeout time.Duration
	// RetryAfter is how long a visitor is not offered again to a volunteer
	// who declined them or let the offer lapse. Default 1m.
	RetryAfter time.Duration
}

func (c *QueueConfig) setDefaults() {
	if c.OfferTimeout <= 0 {
		c.OfferTimeout = 30 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Minute
	}
}

// Queue is the waiting room and the offers: visitors wait oldest first; a
// waiting visitor is offered to the volunteer on shift with the fewest open
// chats (offers pending count as chats), ties to whoever has been free the
// longest; no offer takes a volunteer over capacity; an offer not answered
// within OfferTimeout moves on. It has no clock, no goroutines and no I/O:
// each method takes the time, and Tick makes and expires offers. Not safe
// for concurrent use: its owner serialises calls.
type Queue struct {
	cfg      QueueConfig
	seq      uint64
	visitors map[string]*visitor   // waiting, and those being handed over
	vols     map[string]*volunteer // on shift, or holding chats
	offers   map[string]*Offer     // pending, by visitor
}

type visitor struct {
	id      string
	since   time.Time // the place in the queue: first arrival, kept by a handover
	seq     uint64    // arrival order among equal times
	waiting bool      // in the queue (false: in a chat, being handed over)
	tried   map[string]time.Time
}

type volunteer struct {
	id        string
	on        bool
	capacity  int
	open      int
	pending   int
	freeSince time.Time
}

// Offer is a visitor offered to a volunteer. From is set for a handover:
// the volunteer whose chat it is.
type Offer struct {
	Visitor   string
	Volunteer string
	From      string
	Since     time.Time // the visitor's place in the queue
	Made      time.Time
	Expires   time.Time
}

// Withdrawn is an offer that ended without an accept, and why.
type Withdrawn struct {
	Offer  Offer
	Reason string
}

// Reasons an offer is withdrawn.
const (
	WithdrawnTimeout  = "timeout"   // not answered in time
	WithdrawnLeft     = "left"      // the visitor left the queue
	WithdrawnOffShift = "off-shift" // the volunteer went off shift, lowered the capacity or went away
)

// NewQueue returns an empty queue.
func NewQueue(cfg QueueConfig) *Queue {
	cfg.setDefaults()
	return &Queue{cfg: cfg, visitors: map[string]*visitor{}, vols: map[string]*volunteer{}, offers: map[string]*Offer{}}
}

// Config is the queue's configuration with defaults filled in.
func (q *Queue) Config() QueueConfig { return q.cfg }

// Arrive puts a visitor at the back of the queue; one already there keeps
// its place.
func (q *Queue) Arrive(now time.Time, id string) {
	if v := q.visitors[id]; v != nil && v.waiting {
		return
	}
	q.Return(now, id, now, "")
}

// Return puts a visitor back in the queue at the place since (a chat handed
// back to the queue, or a volunteer gone): ahead of everyone who came
// later. from, when set, is not offered this visitor again for RetryAfter.
func (q *Queue) Return(now time.Time, id string, since time.Time, from string) {
	v := q.visitors[id]
	if v == nil {
		q.seq++
		v = &visitor{id: id, seq: q.seq, tried: map[string]time.Time{}}
		q.visitors[id] = v
	}
	q.withdraw(id)
	v.since, v.waiting = since, true
	if from != "" {
		v.tried[from] = now
	}
}

// Leave takes a visitor out of the queue (or out of a handover); a pending
// offer of them is withdrawn and returned.
func (q *Queue) Leave(id string) *Withdrawn {
	var w *Withdrawn
	if o := q.withdraw(id); o != nil {
		w = &Withdrawn{Offer: *o, Reason: WithdrawnLeft}
	}
	delete(q.visitors, id)
	return w
}

// withdraw removes the pending offer of a visitor. The visitor of a
// handover was in the queue's books only for the offer: they stay in their
// chat, and leave the books with it.
func (q *Queue) withdraw(visitor string) *Offer {
	o := q.offers[visitor]
	if o == nil {
		return nil
	}
	delete(q.offers, visitor)
	if o.From != "" {
		delete(q.visitors, visitor)
	}
	if vol := q.vols[o.Volunteer]; vol != nil {
		vol.pending--
		q.dropIfIdle(vol)
	}
	return o
}

// Shift puts a volunteer on shift with a capacity, or off. Going off keeps
// the open chats and withdraws the pending offers; a lower capacity
// withdraws the newest offers it no longer has room for.
func (q *Queue) Shift(now time.Time, id string, on bool, capacity int) []Withdrawn {
	vol := q.vols[id]
	if vol == nil {
		if !on {
			return nil
		}
		vol = &volunteer{id: id}
		q.vols[id] = vol
	}
	if on && !vol.on {
		vol.freeSince = now
	}
	vol.on, vol.capacity = on, capacity
	var out []Withdrawn
	for _, o := range q.offersTo(id) { // newest first
		if vol.on && vol.open+vol.pending <= vol.capacity {
			break
		}
		q.withdraw(o.Visitor)
		out = append(out, Withdrawn{Offer: *o, Reason: WithdrawnOffShift})
	}
	q.dropIfIdle(vol)
	return out
}

// Gone removes a volunteer who went away: their pending offers are
// withdrawn and returned. Their open chats are the caller's to end.
func (q *Queue) Gone(id string) []Withdrawn {
	var out []Withdrawn
	for _, o := range q.offersTo(id) {
		q.withdraw(o.Visitor)
		out = append(out, Withdrawn{Offer: *o, Reason: WithdrawnOffShift})
	}
	for _, o := range q.offers {
		if o.From == id { // a handover from them: nobody to hand over from any more
			q.withdraw(o.Visitor)
			out = append(out, Withdrawn{Offer: *o, Reason: WithdrawnOffShift})
		}
	}
	delete(q.vols, id)
	return out
}

// offersTo lists the pending offers to a volunteer, newest first.
func (q *Queue) offersTo(id string) []*Offer {
	var out []*Offer
	for _, o := range q.offers {
		if o.Volunteer == id {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *Offer) int {
		if c := b.Made.Compare(a.Made); c != 0 {
			return c
		}
		return cmp.Compare(q.visitors[b.Visitor].seq, q.visitors[a.Visitor].seq)
	})
	return out
}

func (q *Queue) dropIfIdle(vol *volunteer) {
	if !vol.on && vol.open == 0 && vol.pending == 0 {
		delete(q.vols, vol.id)
	}
}

// Accept takes a pending offer: the visitor leaves the queue, and the chat
// counts for the volunteer (and no longer for the one who handed it over).
func (q *Queue) Accept(now time.Time, vol, visitor string) (Offer, error) {
	o := q.offers[visitor]
	if o == nil || o.Volunteer != vol || !now.Before(o.Expires) {
		return Offer{}, ErrNoOffer
	}
	q.withdraw(visitor)
	v := q.vols[vol]
	v.open++
	if o.From != "" {
		q.Closed(now, o.From)
	}
	delete(q.visitors, visitor)
	return *o, nil
}

// Decline refuses a pending offer: the visitor is not offered to that
// volunteer again for RetryAfter. A declined handover is returned, so the
// volunteer who asked can be told; their chat goes on.
func (q *Queue) Decline(now time.Time, vol, visitor string) (Offer, error) {
	o := q.offers[visitor]
	if o == nil || o.Volunteer != vol {
		return Offer{}, ErrNoOffer
	}
	q.withdraw(visitor)
	q.lapsed(now, o)
	return *o, nil
}

// lapsed remembers a declined or timed-out offer of a waiting visitor (a
// handover that lapsed leaves the visitor with the volunteer they have).
func (q *Queue) lapsed(now time.Time, o *Offer) {
	if v := q.visitors[o.Visitor]; v != nil {
		v.tried[o.Volunteer] = now
	}
}

// Opened counts a chat the volunteer holds that no offer made (a chat
// brought back after their own drop).
func (q *Queue) Opened(id string) {
	if v := q.vols[id]; v != nil {
		v.open++
	}
}

// Closed counts a chat of the volunteer as ended.
func (q *Queue) Closed(now time.Time, id string) {
	v := q.vols[id]
	if v == nil || v.open == 0 {
		return
	}
	v.open--
	v.freeSince = now
	q.dropIfIdle(v)
}

// Handover offers the visitor, now in a chat with from, to the volunteer
// to only. The chat stays with from until to accepts.
func (q *Queue) Handover(now time.Time, id string, since time.Time, from, to string) (Offer, error) {
	t := q.vols[to]
	if to == from || t == nil || !t.on || t.open+t.pending >= t.capacity || q.offers[id] != nil {
		return Offer{}, ErrNoRoom
	}
	q.seq++
	q.visitors[id] = &visitor{id: id, since: since, seq: q.seq, tried: map[string]time.Time{}}
	return q.offer(now, id, to, from), nil
}

func (q *Queue) offer(now time.Time, visitor, vol, from string) Offer {
	v := q.visitors[visitor]
	o := &Offer{Visitor: visitor, Volunteer: vol, From: from, Since: v.since, Made: now, Expires: now.Add(q.cfg.OfferTimeout)}
	q.offers[visitor] = o
	q.vols[vol].pending++
	return *o
}

// Tick withdraws the offers that timed out and makes new ones: the
// waiting visitors without an offer, oldest first, each to the volunteer
// with room and the fewest chats who has not lately declined them.
func (q *Queue) Tick(now time.Time) (made []Offer, gone []Withdrawn) {
	for _, o := range q.sortedOffers() {
		if now.Before(o.Expires) {
			continue
		}
		q.withdraw(o.Visitor)
		q.lapsed(now, o)
		gone = append(gone, Withdrawn{Offer: *o, Reason: WithdrawnTimeout})
	}
	for _, v := range q.waiting() {
		if q.offers[v.id] != nil {
			continue
		}
		if vol := q.pick(now, v); vol != nil {
			made = append(made, q.offer(now, v.id, vol.id, ""))
		}
	}
	return made, gone
}

func (q *Queue) sortedOffers() []*Offer {
	out := make([]*Offer, 0, len(q.offers))
	for _, o := range q.offers {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *Offer) int { return cmp.Compare(q.visitors[a.Visitor].seq, q.visitors[b.Visitor].seq) })
	return out
}

// waiting lists the visitors in the queue, oldest place first.
func (q *Queue) waiting() []*visitor {
	out := make([]*visitor, 0, len(q.visitors))
	for _, v := range q.visitors {
		if v.waiting {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *visitor) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return out
}

// pick chooses the volunteer for a waiting visitor, or nil.
func (q *Queue) pick(now time.Time, v *visitor) *volunteer {
	var best *volunteer
	for _, vol := range q.vols {
		if !vol.on || vol.open+vol.pending >= vol.capacity {
			continue
		}
		if at, ok := v.tried[vol.id]; ok && now.Sub(at) < q.cfg.RetryAfter {
			continue
		}
		if best == nil || better(vol, best) {
			best = vol
		}
	}
	return best
}

func better(a, b *volunteer) bool {
	if la, lb := a.open+a.pending, b.open+b.pending; la != lb {
		return la < lb
	}
	if !a.freeSince.Equal(b.freeSince) {
		return a.freeSince.Before(b.freeSince)
	}
	return a.id < b.id
}

// Position is a waiting visitor's place: 1 for the next one served, and
// how many wait ahead. ok is false for a visitor not in the queue.
func (q *Queue) Position(id string) (position, ahead int, ok bool) {
	for i, v := range q.waiting() {
		if v.id == id {
			return i + 1, i, true
		}
	}
	return 0, 0, false
}

// Positions are the places of every waiting visitor, by id.
func (q *Queue) Positions() map[string]int {
	out := map[string]int{}
	for i, v := range q.waiting() {
		out[v.id] = i + 1
	}
	return out
}

// Waiting is how many visitors wait.
func (q *Queue) Waiting() int { return len(q.waiting()) }

// Staffed reports whether any volunteer is on shift.
func (q *Queue) Staffed() bool {
	for _, v := range q.vols {
		if v.on {
			return true
		}
	}
	return false
}

// Load is a volunteer as the queue counts them.
type Load struct {
	ID       string
	On       bool
	Capacity int
	Open     int
	Pending  int
}

// Loads lists the volunteers on shift or holding chats, by id.
func (q *Queue) Loads() []Load {
	out := make([]Load, 0, len(q.vols))
	for _, v := range q.vols {
		out = append(out, Load{ID: v.id, On: v.on, Capacity: v.capacity, Open: v.open, Pending: v.pending})
	}
	slices.SortFunc(out, func(a, b Load) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// PendingOffer returns the pending offer of a visitor.
func (q *Queue) PendingOffer(visitor string) (Offer, bool) {
	if o := q.offers[visitor]; o != nil {
		return *o, true
	}
	return Offer{}, false
}
