package matcher

import "fmt"

// check verifies the engine's internal invariants: ordered, consistent lists, every queued
// entry on exactly the lists its request calls for, symmetric relations, no empty records
// (bounded memory) and matching counts.
func (e *Engine) check() error {
	var counts [nModes][nMedia]int
	queued := 0
	for id, s := range e.sessions {
		if s.id != id {
			return fmt.Errorf("session %q filed under %q", s.id, id)
		}
		if s.ent == nil && s.rels.len() == 0 {
			return fmt.Errorf("session %q kept with nothing to keep", id)
		}
		if s.rels.big != nil && s.rels.small != nil || s.rels.big == nil && len(s.rels.small) > smallRels {
			return fmt.Errorf("session %q: relations both in the slice and the map", id)
		}
		var err error
		s.rels.all(func(p *session, r relation) {
			if e.sessions[p.id] != p || p.rels.get(s) != r || r == (relation{}) || p == s {
				err = fmt.Errorf("relation %q-%q not symmetric, empty or to a dropped record", id, p.id)
			}
		})
		if err != nil {
			return err
		}
		x := s.ent
		if x == nil {
			continue
		}
		if !x.queued || x.s != s || x != &s.e {
			return fmt.Errorf("entry of %q inconsistent", id)
		}
		queued++
		counts[x.mode][x.media]++
		var want, wantX *list
		xp := e.pool(int(x.media), slotCrossed)
		switch {
		case x.mode == modeRandom:
			want, wantX = &e.random[x.own], &e.random[xp]
		case x.mode == modeOpposite:
			want, wantX = &e.opposite[x.own][x.pref], &e.opposite[xp][x.pref]
		case x.fellBack:
			want, wantX = &e.fallback[x.own], &e.fallback[xp]
		default:
			want = &e.pending
		}
		if x.own != e.pool(int(x.media), int(x.lang)) || x.lang == slotCrossed {
			return fmt.Errorf("entry of %q in the wrong pool", id)
		}
		if x.q.list != want {
			return fmt.Errorf("entry of %q on the wrong list", id)
		}
		if !x.crossed {
			wantX = nil
		}
		if x.xq.list != wantX {
			return fmt.Errorf("entry of %q on the wrong crossed list (crossed %v)", id, x.crossed)
		}
		if x.crossed && x.lang == slotNone {
			return fmt.Errorf("entry of %q crossed without a language", id)
		}
		if onL := x.lq.list == &e.lpending; onL != (x.lang != slotNone && !x.crossed) || !onL && x.lq.list != nil {
			return fmt.Errorf("entry of %q: language wait list wrong", id)
		}
		if x.mode != modeInterests && len(x.in)+len(x.xin) != 0 {
			return fmt.Errorf("entry of %q: interests outside interests mode", id)
		}
		for _, in := range x.in {
			if in.list == nil || e.interest[x.own][in.name] != in.list {
				return fmt.Errorf("entry of %q not on the list of interest %q", id, in.name)
			}
		}
		if x.crossed && len(x.xin) != len(x.in) || !x.crossed && len(x.xin) != 0 {
			return fmt.Errorf("entry of %q: crossed interests wrong", id)
		}
		for _, in := range x.xin {
			if in.list == nil || e.interest[xp][in.name] != in.list {
				return fmt.Errorf("entry of %q not on the crossed list of interest %q", id, in.name)
			}
		}
	}
	var crossed [nMedia]int
	for _, s := range e.sessions {
		if s.ent != nil && s.ent.crossed {
			crossed[s.ent.media]++
		}
	}
	if crossed != e.crossed {
		return fmt.Errorf("%v crossed, engine says %v", crossed, e.crossed)
	}
	if counts != e.counts || queued != e.queued {
		return fmt.Errorf("counts %v (%d), engine says %v (%d)", counts, queued, e.counts, e.queued)
	}
	var lists []*list
	for p := range e.random {
		lists = append(lists, &e.random[p], &e.fallback[p])
		for q := range e.opposite[p] {
			lists = append(lists, &e.opposite[p][q])
		}
		for it, l := range e.interest[p] {
			if l.head == nil {
				return fmt.Errorf("empty list kept for interest %q", it)
			}
			lists = append(lists, l)
		}
	}
	lists = append(lists, &e.pending, &e.lpending)
	nodes := 0
	for _, l := range lists {
		var prev *node
		walked := 0
		for n := l.head; n != nil; prev, n = n, n.next {
			walked++
			if n.list != l || n.prev != prev || !n.e.queued {
				return fmt.Errorf("list links broken at %q", n.e.s.id)
			}
			if prev != nil && prev.e.seq >= n.e.seq {
				return fmt.Errorf("list out of order at %q", n.e.s.id)
			}
			if l == &e.pending && prev != nil && prev.e.deadline.After(n.e.deadline) ||
				l == &e.lpending && prev != nil && prev.e.ldeadline.After(n.e.ldeadline) {
				return fmt.Errorf("deadlines out of order at %q", n.e.s.id)
			}
			nodes++
		}
		if l.tail != prev {
			return fmt.Errorf("list tail wrong")
		}
		if l.n != walked {
			return fmt.Errorf("list counts %d entries, holds %d", l.n, walked)
		}
	}
	want := 0
	for _, s := range e.sessions {
		if x := s.ent; x != nil {
			want += 1 + len(x.in) + len(x.xin)
			if x.xq.list != nil {
				want++
			}
			if x.lq.list != nil {
				want++
			}
		}
	}
	if nodes != want {
		return fmt.Errorf("%d list nodes, want %d", nodes, want)
	}
	return nil
}
