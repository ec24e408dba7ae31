package matcher

import "slices"

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
	r := sa.rel[b]
	r.avoid = true
	e.relate(sa, sb, r)
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
	for p := range s.rel {
		ps := e.sessions[p] // exists: relations are symmetric
		delete(ps.rel, id)
		if len(ps.rel) == 0 {
			ps.rel = nil
			e.dropIfEmpty(ps)
		}
	}
	delete(e.sessions, id)
}

// History returns a snapshot of id's history (Avoid sorted), empty for an unknown id.
func (e *Engine) History(id string) History {
	var h History
	s := e.sessions[id]
	if s == nil {
		return h
	}
	for p, r := range s.rel {
		if r.avoid {
			h.Avoid = append(h.Avoid, p)
		}
		if r.met > 0 {
			if h.Met == nil {
				h.Met = make(map[string]int, len(s.rel))
			}
			h.Met[p] = r.met
		}
	}
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
			r := s.rel[p]
			r.avoid = true
			e.relate(s, e.sessionFor(p), r)
		}
	}
	for p, n := range h.Met {
		if validRef(p) && p != id && n > 0 {
			r := s.rel[p]
			r.met = max(r.met, n)
			e.relate(s, e.sessionFor(p), r)
		}
	}
	e.dropIfEmpty(s)
}

func validRef(id string) bool { return id != "" && len(id) <= MaxIDLen }

func (e *Engine) sessionFor(id string) *session {
	s := e.sessions[id]
	if s == nil {
		s = &session{id: id}
		e.sessions[id] = s
	}
	return s
}

// relate sets the relation between a and b on both sides.
func (e *Engine) relate(a, b *session, r relation) {
	if a.rel == nil {
		a.rel = make(map[string]relation, 1)
	}
	if b.rel == nil {
		b.rel = make(map[string]relation, 1)
	}
	a.rel[b.id] = r
	b.rel[a.id] = r
}
