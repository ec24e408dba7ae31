package matcher

// relation is what one session holds about another: meetings and avoidance.
type relation struct {
	met   int32 // pairs formed between the two
	avoid bool  // one skipped or reported the other
}

type peerRel struct {
	p *session
	r relation
}

// smallRels is how many relations a session keeps in a slice before switching to a map.
// Most sessions meet or skip a few people; a slice keyed by pointer needs no hashing and,
// for the first two, no allocation.
const smallRels = 8

// rels is a session's relations keyed by the peer's record. Relations are symmetric
// (s.rels.get(p) == p.rels.get(s)), so checks need one side and Forget finds the other side
// directly.
type rels struct {
	inline [2]peerRel
	small  []peerRel // nil, inline[:n] or a larger slice; unused once big is set
	big    map[*session]relation
}

func (x *rels) len() int {
	if x.big != nil {
		return len(x.big)
	}
	return len(x.small)
}

func (x *rels) get(p *session) relation {
	if x.big != nil {
		return x.big[p]
	}
	for i := range x.small {
		if x.small[i].p == p {
			return x.small[i].r
		}
	}
	return relation{}
}

func (x *rels) set(p *session, r relation) {
	if x.big != nil {
		x.big[p] = r
		return
	}
	for i := range x.small {
		if x.small[i].p == p {
			x.small[i].r = r
			return
		}
	}
	if x.small == nil {
		x.small = x.inline[:0]
	}
	if len(x.small) < smallRels {
		x.small = append(x.small, peerRel{p, r})
		return
	}
	x.big = make(map[*session]relation, 2*smallRels)
	for _, pr := range x.small {
		x.big[pr.p] = pr.r
	}
	x.big[p] = r
	x.small, x.inline = nil, [2]peerRel{}
}

func (x *rels) del(p *session) {
	if x.big != nil {
		delete(x.big, p)
		if len(x.big) == 0 {
			x.big = nil
		}
		return
	}
	for i := range x.small {
		if x.small[i].p == p {
			last := len(x.small) - 1
			x.small[i] = x.small[last]
			x.small[last] = peerRel{}
			x.small = x.small[:last]
			return
		}
	}
}

// all calls f for every relation; f must not change x.
func (x *rels) all(f func(p *session, r relation)) {
	if x.big != nil {
		for p, r := range x.big {
			f(p, r)
		}
		return
	}
	for _, pr := range x.small {
		f(pr.p, pr.r)
	}
}
