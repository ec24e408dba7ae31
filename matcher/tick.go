package matcher

import (
	"cmp"
	"slices"
	"time"
)

// Pools. The lists of each mode exist once per pool: a media and a language slot. Slot
// slotNone holds people without a language, slot slotCrossed people with a language who
// are past LanguageWait (each is on the lists of its own language's pool too), and every
// configured language has a slot of its own. Who may meet whom by language is then which
// pools one searches (reach): within the wait only one's own language's pool; after it,
// or without a language, also the none and crossed pools. The crossed pool is separate
// from the none pool so that every list stays ordered by seq with pushes at the tail
// only: people cross in the order they joined, since everyone waits equally long.
const (
	slotNone    = 0
	slotCrossed = 1
	slotFirst   = 2 // the first language's slot
)

func (e *Engine) pool(media, slot int) int { return media*e.slots + slot }

// reach lists the pools whose people x may meet by language, in a fixed order.
func (e *Engine) reach(x *entry, out *[3]int) []int {
	md := int(x.media)
	n := 0
	if x.lang == slotNone || x.crossed {
		if x.lang != slotNone {
			out[n] = x.own
			n++
		}
		out[n] = e.pool(md, slotNone)
		n++
		if e.crossed[md] > 0 { // most often nobody: a search saved
			out[n] = e.pool(md, slotCrossed)
			n++
		}
		return out[:n]
	}
	out[0] = x.own
	return out[:1]
}

// interestList returns pool p's list for an interest, making it when missing.
func (e *Engine) interestList(p int, name string) *list {
	l := e.interest[p][name]
	if l == nil {
		l = new(list)
		e.interest[p][name] = l
	}
	return l
}

// Tick forms every pair that can form at now and returns them, oldest offerer first.
//
// The result is the same as this greedy rule over everyone waiting: take the person who
// has waited longest among those with any compatible partner, pair them with their
// longest-waiting compatible partner, repeat. Equivalently, going from oldest to
// youngest, each person takes the longest-waiting compatible person older than them.
// Since after every Tick nobody waiting is compatible with anybody else, only people who
// joined since, and people whose interest or language wait ran out (with those who could
// now meet them), can have an older partner; Tick visits only them.
func (e *Engine) Tick(now time.Time) []Pair {
	now = e.advance(now)
	e.tick++
	v := e.visit[:0]
	add := func(x *entry) {
		if x.mark != e.tick {
			x.mark = e.tick
			v = append(v, x)
		}
	}
	for _, x := range e.newcomers {
		e.work++
		if x.queued {
			add(x)
		}
	}
	clear(e.newcomers)
	e.newcomers = e.newcomers[:0]

	// Interests people whose wait ran out fall back. Deadlines are in join order, so
	// they come off the head of one list. A fallen-back person can now meet random
	// people and other fallen-back people, older or younger, in every pool they reach:
	// those are visited too.
	wide := e.wide[:0]
	for n := e.pending.head; n != nil && !n.e.deadline.After(now); n = e.pending.head {
		x := n.e
		e.pending.remove(n)
		x.fellBack = true
		e.fallback[x.own].push(n, x)
		if x.crossed {
			e.fallback[e.pool(int(x.media), slotCrossed)].push(&x.xq, x)
		}
		add(x)
		e.work++
		var r [3]int
		for _, p := range e.reach(x, &r) {
			if !slices.Contains(wide, p) {
				wide = append(wide, p)
			}
		}
	}
	for _, p := range wide {
		// Before this Tick nobody in these lists could meet anybody, so apart from this
		// Tick's newcomers and fallers they hold only people blocked from each other: few.
		for _, l := range [2]*list{&e.random[p], &e.fallback[p]} {
			for n := l.head; n != nil; n = n.next {
				e.work++
				add(n.e)
			}
		}
	}
	e.wide = wide[:0]

	// People whose language wait ran out cross: they join the crossed pool's lists, at the
	// tail, and may now meet people without a language and others who crossed. Those who
	// crossed before are older than them; people without a language who joined after
	// them are younger, and those that could meet them are visited: the tails of the
	// none pool's lists of a compatible mode, back to the crosser's age.
	for n := e.lpending.head; n != nil && !n.e.ldeadline.After(now); n = e.lpending.head {
		x := n.e
		e.lpending.remove(n)
		e.cross(x)
		add(x)
		e.work++
		none := e.pool(int(x.media), slotNone)
		younger := func(l *list) {
			for m := l.tail; m != nil && m.e.seq > x.seq; m = m.prev {
				e.work++
				add(m.e)
			}
		}
		switch x.mode {
		case modeRandom:
			younger(&e.random[none])
			younger(&e.fallback[none])
		case modeOpposite:
			for p := range e.opposite[none] {
				if p != x.pref {
					younger(&e.opposite[none][p])
				}
			}
		case modeInterests:
			for i := range x.in {
				if l := e.interest[none][x.in[i].name]; l != nil {
					younger(l)
				}
			}
			if x.fellBack {
				younger(&e.random[none])
				younger(&e.fallback[none])
			}
		}
	}

	if len(v) == 0 {
		e.visit = v
		return nil
	}
	if len(v) > 1 {
		slices.SortFunc(v, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	}

	f := e.formed[:0]
	for _, y := range v {
		if !y.queued {
			continue // cannot happen (earlier visits take only people older than themselves); cheap to keep
		}
		if c := e.oldestOlder(y); c != nil {
			f = append(f, formed{seq: c.seq, p: e.pair(c, y)})
		}
	}
	clear(v)
	e.visit = v[:0]
	if len(f) > 1 {
		slices.SortFunc(f, func(a, b formed) int { return cmp.Compare(a.seq, b.seq) })
	}
	var pairs []Pair
	if len(f) > 0 {
		pairs = make([]Pair, len(f))
	}
	for i := range f {
		p := f[i].p
		if p.Mode == ModeOpposite {
			// Assigned after sorting so that the rotation follows the documented order.
			p.Statement = &e.topics.Statements[e.nextStmt]
			e.nextStmt = (e.nextStmt + 1) % len(e.topics.Statements)
		}
		pairs[i] = p
	}
	clear(f)
	e.formed = f[:0]
	return pairs
}

// cross puts x, whose language wait ran out, on the crossed pool's lists.
func (e *Engine) cross(x *entry) {
	x.crossed = true
	e.crossed[x.media]++
	xp := e.pool(int(x.media), slotCrossed)
	switch x.mode {
	case modeRandom:
		e.random[xp].push(&x.xq, x)
	case modeOpposite:
		e.opposite[xp][x.pref].push(&x.xq, x)
	case modeInterests:
		if x.fellBack {
			e.fallback[xp].push(&x.xq, x)
		}
		x.xin = slices.Grow(x.xin, len(x.in))[:len(x.in)]
		for i := range x.in {
			x.xin[i].name = x.in[i].name
			e.interestList(xp, x.in[i].name).push(&x.xin[i].node, x)
		}
	}
}

// oldestOlder returns the longest-waiting person who joined before y and may meet y now.
func (e *Engine) oldestOlder(y *entry) *entry {
	var best *entry
	limit := y.seq
	try := func(l *list) {
		if c := e.first(l, y, limit); c != nil {
			best, limit = c, c.seq
		}
	}
	var r [3]int
	for _, p := range e.reach(y, &r) {
		switch y.mode {
		case modeRandom:
			try(&e.random[p])
			try(&e.fallback[p])
		case modeOpposite:
			for q := range e.opposite[p] {
				if q != y.pref {
					try(&e.opposite[p][q])
				}
			}
		case modeInterests:
			for i := range y.in {
				if l := e.interest[p][y.in[i].name]; l != nil {
					try(l)
				}
			}
			if y.fellBack {
				try(&e.fallback[p])
				try(&e.random[p])
			}
		}
	}
	return best
}

// first returns the oldest entry on l that joined before limit and that y may meet.
// Everyone on the lists oldestOlder passes is compatible with y by mode, media and
// language, so the walk skips only people y must not meet again: it is bounded by y's
// history.
func (e *Engine) first(l *list, y *entry, limit uint64) *entry {
	rs := &y.s.rels
	for n := l.head; n != nil && n.e.seq < limit; n = n.next {
		e.work++
		if rs.len() == 0 {
			return n.e
		}
		if r := rs.get(n.e.s); r.avoid || int(r.met) >= e.maxMeet {
			continue
		}
		return n.e
	}
	return nil
}

// pair records the meeting of c (older) and y and takes both out of their queues.
func (e *Engine) pair(c, y *entry) Pair {
	p := Pair{Offerer: c.s.id, Answerer: y.s.id, Media: mediaNames[c.media], Mode: ModeRandom}
	if c.mode == y.mode {
		p.Mode = modeNames[c.mode]
		if c.mode == modeInterests {
			p.Shared = shared(c.in, y.in)
		}
	}
	if c.lang == y.lang && c.lang != slotNone {
		p.Language = e.langNames[c.lang]
	}
	r := c.s.rels.get(y.s)
	r.met++
	relate(c.s, y.s, r)
	e.unqueue(c)
	e.unqueue(y)
	return p
}

func shared(a, b []inode) []string {
	var out []string
	for i := range a {
		for j := range b {
			if a[i].name == b[j].name {
				out = append(out, a[i].name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
