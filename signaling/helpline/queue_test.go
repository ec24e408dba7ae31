package helpline

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// offersOf lists a queue's pending offers as "visitor>volunteer".
func offersOf(q *Queue) []string {
	var out []string
	for _, o := range q.offers {
		out = append(out, o.Visitor+">"+o.Volunteer)
	}
	slices.Sort(out)
	return out
}

func madeOf(made []Offer) []string {
	var out []string
	for _, o := range made {
		out = append(out, o.Visitor+">"+o.Volunteer)
	}
	slices.Sort(out)
	return out
}

func TestQueueRules(t *testing.T) {
	t.Run("oldest first", func(t *testing.T) {
		q := NewQueue(QueueConfig{})
		q.Arrive(sec(0), "v1")
		q.Arrive(sec(1), "v2")
		q.Arrive(sec(2), "v3")
		q.Shift(sec(3), "w", true, 1)
		made, _ := q.Tick(sec(3))
		if got := madeOf(made); !slices.Equal(got, []string{"v1>w"}) {
			t.Fatalf("made %v, want the oldest to w", got)
		}
		if p, ahead, _ := q.Position("v3"); p != 3 || ahead != 2 {
			t.Fatalf("v3 at %d with %d ahead", p, ahead)
		}
	})
	t.Run("fewest chats, then free longest", func(t *testing.T) {
		q := NewQueue(QueueConfig{})
		q.Shift(sec(0), "a", true, 2)
		q.Shift(sec(1), "b", true, 2)
		q.Shift(sec(2), "c", true, 2)
		q.Arrive(sec(3), "v1")
		made, _ := q.Tick(sec(3))
		if got := madeOf(made); !slices.Equal(got, []string{"v1>a"}) {
			t.Fatalf("made %v, want a (free longest)", got)
		}
		if _, err := q.Accept(sec(4), "a", "v1"); err != nil {
			t.Fatal(err)
		}
		q.Arrive(sec(5), "v2")
		q.Arrive(sec(6), "v3")
		made, _ = q.Tick(sec(6))
		if got := madeOf(made); !slices.Equal(got, []string{"v2>b", "v3>c"}) {
			t.Fatalf("made %v, want b and c, who have no chat", got)
		}
	})
	t.Run("never over capacity", func(t *testing.T) {
		q := NewQueue(QueueConfig{})
		q.Shift(sec(0), "a", true, 2)
		for i := range 5 {
			q.Arrive(sec(i), fmt.Sprint("v", i))
		}
		made, _ := q.Tick(sec(5))
		if len(made) != 2 {
			t.Fatalf("%d offers to a volunteer of capacity 2", len(made))
		}
		q.Shift(sec(6), "a", true, 1)
		if got := offersOf(q); !slices.Equal(got, []string{"v0>a"}) {
			t.Fatalf("after lowering the capacity: %v, want the older offer only", got)
		}
	})
	t.Run("an offer moves on after the timeout", func(t *testing.T) {
		q := NewQueue(QueueConfig{OfferTimeout: 30 * time.Second})
		q.Shift(sec(0), "a", true, 2)
		q.Shift(sec(1), "b", true, 2)
		q.Arrive(sec(2), "v")
		q.Tick(sec(2))
		if got := offersOf(q); !slices.Equal(got, []string{"v>a"}) {
			t.Fatalf("offers %v", got)
		}
		if made, gone := q.Tick(sec(31)); len(made)+len(gone) != 0 {
			t.Fatal("the offer moved before its time")
		}
		made, gone := q.Tick(sec(32))
		if len(gone) != 1 || gone[0].Reason != WithdrawnTimeout || !slices.Equal(madeOf(made), []string{"v>b"}) {
			t.Fatalf("at the timeout: made %v, gone %v", madeOf(made), gone)
		}
		if _, err := q.Accept(sec(32), "a", "v"); err != ErrNoOffer {
			t.Fatalf("accepting a lapsed offer: %v", err)
		}
		if _, err := q.Accept(sec(62), "b", "v"); err != ErrNoOffer {
			t.Fatalf("accepting at the second timeout, before a tick: %v", err)
		}
	})
	t.Run("declined, offered elsewhere; alone, offered again later", func(t *testing.T) {
		q := NewQueue(QueueConfig{RetryAfter: time.Minute})
		q.Shift(sec(0), "a", true, 2)
		q.Arrive(sec(1), "v")
		q.Tick(sec(1))
		if _, err := q.Decline(sec(2), "a", "v"); err != nil {
			t.Fatal(err)
		}
		if made, _ := q.Tick(sec(3)); len(made) != 0 {
			t.Fatal("offered again at once to who declined")
		}
		if made, _ := q.Tick(sec(62)); !slices.Equal(madeOf(made), []string{"v>a"}) {
			t.Fatalf("made %v after RetryAfter", madeOf(made))
		}
	})
	t.Run("a handover to the queue keeps the place", func(t *testing.T) {
		q := NewQueue(QueueConfig{})
		q.Shift(sec(0), "a", true, 1)
		q.Arrive(sec(1), "v1")
		q.Tick(sec(1))
		o, err := q.Accept(sec(2), "a", "v1")
		if err != nil {
			t.Fatal(err)
		}
		q.Arrive(sec(3), "v2")
		q.Arrive(sec(4), "v3")
		q.Closed(sec(10), "a")
		q.Return(sec(10), "v1", o.Since, "a")
		if p, ahead, _ := q.Position("v1"); p != 1 || ahead != 0 {
			t.Fatalf("v1 back at %d, want 1", p)
		}
		if made, _ := q.Tick(sec(10)); !slices.Equal(madeOf(made), []string{"v2>a"}) {
			t.Fatalf("made %v: the volunteer who handed v1 back is not offered v1 again at once", madeOf(made))
		}
	})
	t.Run("a handover to a volunteer", func(t *testing.T) {
		q := NewQueue(QueueConfig{})
		q.Shift(sec(0), "a", true, 1)
		q.Shift(sec(0), "b", true, 1)
		q.Arrive(sec(1), "v")
		q.Tick(sec(1))
		o, _ := q.Accept(sec(2), "a", "v")
		if _, err := q.Handover(sec(3), "v", o.Since, "a", "a"); err != ErrNoRoom {
			t.Fatalf("a handover to oneself: %v", err)
		}
		h, err := q.Handover(sec(3), "v", o.Since, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		q.Arrive(sec(4), "w")
		if made, _ := q.Tick(sec(4)); len(made) != 0 {
			t.Fatalf("made %v: a is full, b's room is held by the handover", madeOf(made))
		}
		if _, err := q.Accept(sec(5), "b", "v"); err != nil {
			t.Fatal(err)
		}
		if h.From != "a" {
			t.Fatalf("handover offer %+v", h)
		}
		if made, _ := q.Tick(sec(5)); !slices.Equal(madeOf(made), []string{"w>a"}) {
			t.Fatalf("made %v: the chat moved to b, so a has room", madeOf(made))
		}
	})
}

// TestQueueModel drives the queue and a reference model (brute force over
// plain lists, written from the rules, not from the queue's code) through
// random sequences of arrivals, departures, shifts, accepts, declines,
// handovers and ticks, and compares the offers, the withdrawals and the
// places after every step. It also checks the invariants directly: no
// volunteer is offered past capacity, offers are made oldest first, no offer
// outlives its timeout, and a handover to the queue keeps the place.
func TestQueueModel(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

type refVisitor struct {
	id      string
	since   time.Time
	seq     int
	waiting bool
	tried   map[string]time.Time
}

type refVol struct {
	id             string
	on             bool
	capacity, open int
	freeSince      time.Time
}

type refOffer struct {
	visitor, vol, from string
	made, expires      time.Time
}

type refChat struct {
	visitor, vol string
	since        time.Time
}

type ref struct {
	timeout, retry time.Duration
	seq            int
	visitors       []*refVisitor
	vols           []*refVol
	offers         []*refOffer
}

func (r *ref) visitor(id string) *refVisitor {
	for _, v := range r.visitors {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (r *ref) vol(id string) *refVol {
	for _, v := range r.vols {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (r *ref) pending(vol string) int {
	n := 0
	for _, o := range r.offers {
		if o.vol == vol {
			n++
		}
	}
	return n
}

func (r *ref) offerOf(visitor string) *refOffer {
	for _, o := range r.offers {
		if o.visitor == visitor {
			return o
		}
	}
	return nil
}

func (r *ref) dropOffer(visitor string) *refOffer {
	for i, o := range r.offers {
		if o.visitor == visitor {
			r.offers = slices.Delete(r.offers, i, i+1)
			return o
		}
	}
	return nil
}

func (r *ref) dropVisitor(id string) {
	r.visitors = slices.DeleteFunc(r.visitors, func(v *refVisitor) bool { return v.id == id })
}

// before orders visitors by place.
func before(a, b *refVisitor) bool {
	return a.since.Before(b.since) || a.since.Equal(b.since) && a.seq < b.seq
}

func (r *ref) waitingSorted() []*refVisitor {
	var out []*refVisitor
	for _, v := range r.visitors {
		if v.waiting {
			out = append(out, v)
		}
	}
	// insertion sort: plain and obviously right
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && before(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (r *ref) tick(now time.Time) (made, gone []string) {
	for _, v := range r.visitorsBySeq() {
		o := r.offerOf(v.id)
		if o == nil || now.Before(o.expires) {
			continue
		}
		r.dropOffer(v.id)
		v.tried[o.vol] = now
		if o.from != "" {
			r.dropVisitor(v.id)
		}
		gone = append(gone, o.visitor+">"+o.vol)
	}
	for _, v := range r.waitingSorted() {
		if r.offerOf(v.id) != nil {
			continue
		}
		var best *refVol
		for _, w := range r.vols {
			load := w.open + r.pending(w.id)
			if !w.on || load >= w.capacity {
				continue
			}
			if at, ok := v.tried[w.id]; ok && now.Sub(at) < r.retry {
				continue
			}
			if best == nil {
				best = w
				continue
			}
			bl := best.open + r.pending(best.id)
			if load < bl || load == bl && (w.freeSince.Before(best.freeSince) || w.freeSince.Equal(best.freeSince) && w.id < best.id) {
				best = w
			}
		}
		if best != nil {
			r.offers = append(r.offers, &refOffer{visitor: v.id, vol: best.id, made: now, expires: now.Add(r.timeout)})
			made = append(made, v.id+">"+best.id)
		}
	}
	slices.Sort(made)
	slices.Sort(gone)
	return made, gone
}

func (r *ref) visitorsBySeq() []*refVisitor {
	out := slices.Clone(r.visitors)
	slices.SortFunc(out, func(a, b *refVisitor) int { return a.seq - b.seq })
	return out
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 13))
	cfg := QueueConfig{OfferTimeout: 30 * time.Second, RetryAfter: time.Minute}
	q := NewQueue(cfg)
	r := &ref{timeout: cfg.OfferTimeout, retry: cfg.RetryAfter}
	var chats []refChat
	now := t0
	vols := []string{"a", "b", "c"}
	nextVisitor := 0
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d after\n  %s\n%s", seed, strings.Join(log, "\n  "), fmt.Sprintf(format, args...))
	}
	for step := range 200 {
		switch op := rng.IntN(100); {
		case op < 20:
			id := fmt.Sprint("v", nextVisitor)
			nextVisitor++
			log = append(log, "arrive "+id)
			q.Arrive(now, id)
			r.seq++
			r.visitors = append(r.visitors, &refVisitor{id: id, since: now, seq: r.seq, waiting: true, tried: map[string]time.Time{}})
		case op < 27:
			w := r.waitingSorted()
			if len(w) == 0 {
				continue
			}
			v := w[rng.IntN(len(w))]
			log = append(log, "leave "+v.id)
			got := q.Leave(v.id)
			want := r.dropOffer(v.id)
			r.dropVisitor(v.id)
			if (got == nil) != (want == nil) {
				fail("leave %s: withdrawn %v, want %v", v.id, got, want)
			}
		case op < 37:
			id := vols[rng.IntN(len(vols))]
			on, capacity := rng.IntN(4) > 0, 1+rng.IntN(3)
			log = append(log, fmt.Sprintf("shift %s %v %d", id, on, capacity))
			gone := q.Shift(now, id, on, capacity)
			w := r.vol(id)
			if w == nil && on {
				w = &refVol{id: id}
				r.vols = append(r.vols, w)
			}
			var want []string
			if w != nil {
				if on && !w.on {
					w.freeSince = now
				}
				w.on, w.capacity = on, capacity
				for !(w.on && w.open+r.pending(id) <= w.capacity) && r.pending(id) > 0 {
					// the newest offer to w goes first
					var newest *refOffer
					for _, o := range r.offers {
						if o.vol == id && (newest == nil || o.made.After(newest.made) || o.made.Equal(newest.made) && r.visitor(o.visitor).seq > r.visitor(newest.visitor).seq) {
							newest = o
						}
					}
					r.dropOffer(newest.visitor)
					if newest.from != "" {
						r.dropVisitor(newest.visitor)
					}
					want = append(want, newest.visitor)
				}
			}
			var got []string
			for _, g := range gone {
				got = append(got, g.Offer.Visitor)
			}
			if !slices.Equal(got, want) {
				fail("shift: withdrawn %v, want %v", got, want)
			}
		case op < 50:
			if len(r.offers) == 0 {
				continue
			}
			o := r.offers[rng.IntN(len(r.offers))]
			decline := rng.IntN(3) == 0
			log = append(log, fmt.Sprintf("answer %s>%s decline=%v", o.visitor, o.vol, decline))
			if decline {
				if _, err := q.Decline(now, o.vol, o.visitor); err != nil {
					fail("decline: %v", err)
				}
				r.dropOffer(o.visitor)
				r.visitor(o.visitor).tried[o.vol] = now
				if o.from != "" {
					r.dropVisitor(o.visitor)
				}
				continue
			}
			got, err := q.Accept(now, o.vol, o.visitor)
			if !now.Before(o.expires) {
				if err != ErrNoOffer {
					fail("accepting an expired offer: %v", err)
				}
				continue
			}
			if err != nil {
				fail("accept: %v", err)
			}
			v := r.visitor(o.visitor)
			if !got.Since.Equal(v.since) {
				fail("accepted offer since %v, want %v", got.Since, v.since)
			}
			r.dropOffer(o.visitor)
			r.dropVisitor(o.visitor)
			r.vol(o.vol).open++
			if o.from != "" {
				f := r.vol(o.from)
				f.open--
				f.freeSince = now
				chats = slices.DeleteFunc(chats, func(c refChat) bool { return c.visitor == o.visitor })
			}
			chats = append(chats, refChat{visitor: o.visitor, vol: o.vol, since: v.since})
		case op < 58:
			if len(chats) == 0 {
				continue
			}
			i := rng.IntN(len(chats))
			c := chats[i]
			if r.offerOf(c.visitor) != nil {
				continue // a handover is pending: the chat stays as it is
			}
			chats = slices.Delete(chats, i, i+1)
			back := rng.IntN(2) == 0
			log = append(log, fmt.Sprintf("end %s with %s, back to the queue=%v", c.visitor, c.vol, back))
			q.Closed(now, c.vol)
			w := r.vol(c.vol)
			w.open--
			w.freeSince = now
			if back {
				q.Return(now, c.visitor, c.since, c.vol)
				r.seq++
				r.visitors = append(r.visitors, &refVisitor{id: c.visitor, since: c.since, seq: r.seq, waiting: true, tried: map[string]time.Time{c.vol: now}})
				// The handover's promise: the visitor is ahead of everyone
				// who came later.
				p, _, _ := q.Position(c.visitor)
				for _, other := range r.waitingSorted() {
					if other.since.After(c.since) {
						if op, _, _ := q.Position(other.id); op < p {
							fail("%s handed back is behind %s, who came later", c.visitor, other.id)
						}
					}
				}
			}
			if !w.on && w.open == 0 && r.pending(w.id) == 0 {
				r.vols = slices.DeleteFunc(r.vols, func(x *refVol) bool { return x == w })
			}
		case op < 63:
			if len(chats) == 0 {
				continue
			}
			c := chats[rng.IntN(len(chats))]
			to := vols[rng.IntN(len(vols))]
			log = append(log, fmt.Sprintf("handover %s from %s to %s", c.visitor, c.vol, to))
			_, err := q.Handover(now, c.visitor, c.since, c.vol, to)
			w := r.vol(to)
			ok := to != c.vol && w != nil && w.on && w.open+r.pending(to) < w.capacity && r.offerOf(c.visitor) == nil
			if (err == nil) != ok {
				fail("handover: %v, want ok=%v", err, ok)
			}
			if ok {
				r.seq++
				r.visitors = append(r.visitors, &refVisitor{id: c.visitor, since: c.since, seq: r.seq, tried: map[string]time.Time{}})
				r.offers = append(r.offers, &refOffer{visitor: c.visitor, vol: to, from: c.vol, made: now, expires: now.Add(r.timeout)})
			}
		case op < 65:
			id := vols[rng.IntN(len(vols))]
			log = append(log, "gone "+id)
			var got []string
			for _, g := range q.Gone(id) {
				got = append(got, g.Offer.Visitor)
			}
			var want []string
			for _, o := range slices.Clone(r.offers) {
				if o.vol == id || o.from == id {
					r.dropOffer(o.visitor)
					if o.from != "" {
						r.dropVisitor(o.visitor)
					}
					want = append(want, o.visitor)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				fail("gone: withdrawn %v, want %v", got, want)
			}
			r.vols = slices.DeleteFunc(r.vols, func(x *refVol) bool { return x.id == id })
			// As the hub does: the chats of who went return to the queue.
			for _, c := range slices.Clone(chats) {
				if c.vol == id {
					q.Return(now, c.visitor, c.since, id)
					r.seq++
					r.visitors = append(r.visitors, &refVisitor{id: c.visitor, since: c.since, seq: r.seq, waiting: true, tried: map[string]time.Time{id: now}})
				}
			}
			chats = slices.DeleteFunc(chats, func(c refChat) bool { return c.vol == id })
		default:
			now = now.Add(time.Duration(rng.IntN(40)) * time.Second)
			log = append(log, "tick at +"+now.Sub(t0).String())
			made, gone := q.Tick(now)
			var gotGone []string
			for _, g := range gone {
				gotGone = append(gotGone, g.Offer.Visitor+">"+g.Offer.Volunteer)
			}
			slices.Sort(gotGone)
			wantMade, wantGone := r.tick(now)
			if !slices.Equal(madeOf(made), wantMade) || !slices.Equal(gotGone, wantGone) {
				fail("tick: made %v gone %v, want made %v gone %v", madeOf(made), gotGone, wantMade, wantGone)
			}
			// Oldest first: a waiting visitor left without an offer had no
			// volunteer with room who had not lately declined them.
			for _, v := range r.waitingSorted() {
				if r.offerOf(v.id) != nil {
					continue
				}
				for _, w := range r.vols {
					at, tried := v.tried[w.id]
					if w.on && w.open+r.pending(w.id) < w.capacity && (!tried || now.Sub(at) >= r.retry) {
						fail("%s waits without an offer while %s has room", v.id, w.id)
					}
				}
			}
		}
		checkQueue(t, q, r, now, fail)
		_ = step
	}
}

func checkQueue(t *testing.T, q *Queue, r *ref, now time.Time, fail func(string, ...any)) {
	t.Helper()
	var want []string
	for _, o := range r.offers {
		want = append(want, o.visitor+">"+o.vol)
	}
	slices.Sort(want)
	if got := offersOf(q); !slices.Equal(got, want) {
		fail("offers %v, want %v", got, want)
	}
	wantPos := map[string]int{}
	for i, v := range r.waitingSorted() {
		wantPos[v.id] = i + 1
	}
	got := q.Positions()
	if len(got) != len(wantPos) {
		fail("positions %v, want %v", got, wantPos)
	}
	for id, p := range wantPos {
		if got[id] != p {
			fail("positions %v, want %v", got, wantPos)
		}
	}
	for _, l := range q.Loads() {
		if l.Pending > 0 && l.Open+l.Pending > l.Capacity {
			fail("%s has %d chats and %d offers at capacity %d", l.ID, l.Open, l.Pending, l.Capacity)
		}
		w := r.vol(l.ID)
		if w == nil || w.open != l.Open || r.pending(l.ID) != l.Pending || w.on != l.On {
			fail("load %+v, reference %+v with %d pending", l, w, r.pending(l.ID))
		}
	}
	for _, o := range q.offers {
		if o.Expires.Sub(o.Made) != q.cfg.OfferTimeout {
			fail("offer %+v does not end after the timeout", o)
		}
	}
}
