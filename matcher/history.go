package matcher

import (
	"math"
	"slices"
)

// History is whom one session must not meet again: what the caller persists with the
// session and hands back to Restore after a restart.
type History struct {
	Avoid []string       `json:"avoid,omitempty"` // skipped or reported, either way round
	Met   map[string]int `json:"met,omitempty"`   // pairs formed with each partner
}

// Avoid records that a skipped or reported b: the two are never paired again, either way
// round. Both histories record it, so it holds even if only one is restored.
func (e *Engine) Avoid(a, b string) {
	if !validRef(a) || !validRef(b) || a == b {
		return
	}
	sa, sb := e.sessionFor(a), e.sessionFor(b)
	r := sa.rels.get(sb)
	r.avoid = true
	relate(sa, sb, r)
}

// Forget drops everything about id: its place in a queue, its history, and its entries in
// the histories of the people it met or avoided. Call it when a session ends for good;
// memory is bounded by the queued people and the histories of sessions not yet forgotten.
func (e *Engine) Forget(id string) {
	s := e.sessions[id]
	if s == nil {
		return
	}
	if s.ent != nil {
		e.unqueue(s.ent)
	}
	s.rels.all(func(p *session, _ relation) {
		p.rels.del(s)
		e.dropIfEmpty(p)
	})
	s.rels = rels{}
	e.dropSession(s)
}

// History returns a snapshot of id's history (Avoid sorted), empty for an unknown id.
func (e *Engine) History(id string) History {
	var h History
	s := e.sessions[id]
	if s == nil {
		return h
	}
	s.rels.all(func(p *session, r relation) {
		if r.avoid {
			h.Avoid = append(h.Avoid, p.id)
		}
		if r.met > 0 {
			if h.Met == nil {
				h.Met = make(map[string]int, s.rels.len())
			}
			h.Met[p.id] = int(r.met)
		}
	})
	slices.Sort(h.Avoid)
	return h
}

// Restore merges a persisted history into what the engine knows about id: avoids are
// added and meeting counts take the maximum, on both sides. Merging, never replacing, lets
// the two sides of a pair be restored in any order with the same result, and means a
// restore can only forbid pairs, never allow one, so it needs no Tick.
func (e *Engine) Restore(id string, h History) {
	if !validRef(id) || len(h.Avoid) == 0 && len(h.Met) == 0 {
		return
	}
	s := e.sessionFor(id)
	for _, p := range h.Avoid {
		if validRef(p) && p != id {
			ps := e.sessionFor(p)
			r := s.rels.get(ps)
			r.avoid = true
			relate(s, ps, r)
		}
	}
	for p, n := range h.Met {
		if validRef(p) && p != id && n > 0 {
			ps := e.sessionFor(p)
			r := s.rels.get(ps)
			r.met = int32(min(max(int(r.met), n), math.MaxInt32))
			relate(s, ps, r)
		}
	}
	e.dropIfEmpty(s)
}

func validRef(id string) bool { return id != "" && len(id) <= MaxIDLen }

func (e *Engine) sessionFor(id string) *session {
	s := e.sessions[id]
	if s == nil {
		s = e.newSession(id)
	}
	return s
}

// relate sets the relation between a and b on both sides.
func relate(a, b *session, r relation) {
	a.rels.set(b, r)
	b.rels.set(a, r)
}
