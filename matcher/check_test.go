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
		var want *list
		switch {
		case x.mode == modeRandom:
			want = &e.random[x.media]
		case x.mode == modeOpposite:
			want = &e.opposite[x.media][x.pref]
		case x.fellBack:
			want = &e.fallback[x.media]
		default:
			want = &e.pending
		}
		if x.q.list != want {
			return fmt.Errorf("entry of %q on the wrong list", id)
		}
		if x.mode != modeInterests && len(x.in) != 0 {
			return fmt.Errorf("entry of %q: interests outside interests mode", id)
		}
		for _, in := range x.in {
			if in.list == nil || e.interest[x.media][in.name] != in.list {
				return fmt.Errorf("entry of %q not on the list of interest %q", id, in.name)
			}
		}
	}
	if counts != e.counts || queued != e.queued {
		return fmt.Errorf("counts %v (%d), engine says %v (%d)", counts, queued, e.counts, e.queued)
	}
	var lists []*list
	for md := range nMedia {
		lists = append(lists, &e.random[md], &e.fallback[md])
		for p := range e.opposite[md] {
			lists = append(lists, &e.opposite[md][p])
		}
		for it, l := range e.interest[md] {
			if l.head == nil {
				return fmt.Errorf("empty list kept for interest %q", it)
			}
			lists = append(lists, l)
		}
	}
	lists = append(lists, &e.pending)
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
			if l == &e.pending && prev != nil && prev.e.deadline.After(n.e.deadline) {
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
		if s.ent != nil {
			want += 1 + len(s.ent.in)
		}
	}
	if nodes != want {
		return fmt.Errorf("%d list nodes, want %d", nodes, want)
	}
	return nil
}
