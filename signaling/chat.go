package signaling

import (
	"net/netip"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store/prefix"
)

// The one-to-one chat: join, matching, next, leave, and chats ending.

// join checks a join and queues the session; a chat in progress ends.
func (h *hub) join(sess *session, j proto.Join, now time.Time) error {
	sess.mu.Lock()
	addr := sess.addr
	sess.mu.Unlock()
	if ban, banned, err := h.store.Banned(now, addr); err != nil {
		h.log.Error("ban check failed", "err", err)
		return proto.ErrInternal
	} else if banned {
		h.enforceBan(now, ban.Until, func(a netip.Addr) bool { return prefix.Of(a) == prefix.Of(addr) })
		return nil
	}
	if j.Mode == proto.ModeOpposite && !h.q.knownPreference(j.Preference) {
		return proto.ErrBadPreference
	}
	if !h.knownLanguage(j.Language) {
		return proto.ErrBadLanguage
	}
	h.leaveChat(sess, proto.ReasonLeave, false, now)
	sess.mu.Lock()
	sess.join = &j
	sess.persisted = true
	sess.mu.Unlock()
	if err := h.enqueue(sess, now); err != nil {
		return err
	}
	h.tick(now)
	return nil
}

// enqueue puts a connected session in the queue of its last join and says
// queued; false when there is no join to repeat.
func (h *hub) enqueue(sess *session, now time.Time) error { return h.enqueueAt(sess, now, now) }

// enqueueAt queues a session as waiting since at (a new leader rebuilding
// the queue keeps the original order; see reattach.go).
func (h *hub) enqueueAt(sess *session, at, now time.Time) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	j := sess.join
	if j == nil || !sess.connected || sess.gone || sess.chat != nil {
		return proto.ErrNotQueued
	}
	if !h.collect(sess, at) {
		req := matcher.Request{ID: sess.id, Mode: matcher.Mode(j.Mode), Media: matcher.Media(j.Media), Preference: j.Preference,
			Interests: j.Interests, Language: j.Language}
		if err := h.q.join(at, req); err != nil {
			return err
		}
	}
	sess.queued, sess.queuedAt, sess.wasQueued = true, at, false
	h.markDirtyLocked(sess, now)
	h.send(sess.id, &proto.Outbound{Type: proto.TypeQueued, Mode: j.Mode, Media: j.Media})
	return nil
}

// tick runs the matcher and forms every pair it found.
func (h *hub) tick(now time.Time) {
	for _, p := range h.q.tick(now) {
		h.formPair(p, now)
	}
}

// formPair turns a pair of the matcher into a chat and tells both people.
// Either may have left or dropped since the matcher took them out of the
// queue: then the other goes back into it.
func (h *hub) formPair(p matcher.Pair, now time.Time) {
	a, b := h.lookup(p.Offerer), h.lookup(p.Answerer)
	if a == nil || b == nil || a == b {
		for _, s := range []*session{a, b} {
			if s != nil {
				h.requeueAfterFailedPair(s, now)
			}
		}
		return
	}
	lockTwo(a, b)
	ready := func(s *session) bool { return s.queued && s.connected && s.chat == nil && !s.gone && s.join != nil }
	if !ready(a) || !ready(b) {
		ra, rb := ready(a), ready(b)
		unlockTwo(a, b)
		if ra {
			h.requeueAfterFailedPair(a, now)
		}
		if rb {
			h.requeueAfterFailedPair(b, now)
		}
		return
	}
	var st *proto.Statement
	if p.Statement != nil {
		st = &proto.Statement{ID: p.Statement.ID, Text: p.Statement.Text, Texts: p.Statement.Texts}
	}
	r := newPairRoom(
		member{sid: a.id, name: a.join.Name, hideIP: a.join.HideIP},
		member{sid: b.id, name: b.join.Name, hideIP: b.join.HideIP},
		string(p.Mode), string(p.Media), st, p.Shared, now)
	r.language = p.Language
	for i, s := range []*session{a, b} {
		s.queued = false
		s.chat, s.peer = r, r.members[i].peer
		h.m.observeMatched(now.Sub(s.queuedAt))
		h.markDirtyLocked(s, now)
	}
	// Counted before anyone is told, so that whoever hears matched sees
	// the count too (/admin/stats, /metrics).
	h.daily.pairFormed(now)
	h.m.pairs.Add(1)
	// The room is registered and both are told while both sessions are
	// locked: whatever ends the chat takes one of these locks, so its
	// partner-left always comes after matched, and it finds the room.
	h.addRoom(r)
	for _, m := range r.members {
		h.sendMatched(r, m, false)
	}
	unlockTwo(a, b)
}

// requeueAfterFailedPair puts back a person the matcher took out of the
// queue for a pair that could not form.
func (h *hub) requeueAfterFailedPair(s *session, now time.Time) {
	s.mu.Lock()
	want := s.queued
	s.queued = false
	s.mu.Unlock()
	if want && h.enqueue(s, now) == nil {
		h.tick(now)
	}
}

// lockTwo takes two session locks in the order of their IDs, the only way
// two are ever held.
func lockTwo(a, b *session) {
	if a.id > b.id {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
}

func unlockTwo(a, b *session) {
	a.mu.Unlock()
	b.mu.Unlock()
}

func (h *hub) addRoom(r *room) {
	h.mu.Lock()
	h.rooms[r.id] = r
	h.mu.Unlock()
}

func (h *hub) removeRoom(r *room) {
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	h.mu.Unlock()
}

// sendMatched tells a member of a one-to-one chat who the partner is.
func (h *hub) sendMatched(r *room, me member, resumed bool) {
	if me.sid == "" {
		return
	}
	var partner member
	for _, m := range r.others(me.peer) {
		partner = m
	}
	h.send(me.sid, &proto.Outbound{
		Type:      proto.TypeMatched,
		Pair:      r.id,
		Role:      me.role,
		You:       me.peer,
		Peer:      partner.peer,
		Partner:   &proto.PartnerInfo{Name: partner.name},
		Mode:      r.mode,
		Media:     r.media,
		Statement: r.statement,
		Shared:    r.shared,
		Language:  r.language,
		Resumed:   proto.Bool(resumed),
		HideIP:    proto.Bool(me.hideIP),
	})
}

// next ends the chat and queues both people again, the one who pressed
// first, so that someone already waiting meets them rather than the one
// they skipped; the two never meet again.
func (h *hub) next(sess *session, now time.Time) error {
	sess.mu.Lock()
	inChat, queued, hasJoin := sess.chat != nil, sess.queued, sess.join != nil
	sess.mu.Unlock()
	switch {
	case inChat:
		others := h.leaveChat(sess, proto.ReasonNext, true, now)
		if err := h.enqueue(sess, now); err != nil {
			h.send(sess.id, &proto.Outbound{Type: proto.TypeLeft})
		}
		for _, o := range others {
			if s := h.lookup(o.sid); s != nil && h.enqueue(s, now) != nil {
				h.sendIfConnected(s, &proto.Outbound{Type: proto.TypeLeft})
			}
		}
	case queued:
		sess.mu.Lock()
		j := sess.join
		sess.mu.Unlock()
		h.send(sess.id, &proto.Outbound{Type: proto.TypeQueued, Mode: j.Mode, Media: j.Media})
		return nil
	case !hasJoin:
		return proto.ErrNotQueued
	default:
		if err := h.enqueue(sess, now); err != nil {
			return err
		}
	}
	h.tick(now)
	return nil
}

// leave ends the chat (the partner is left idle) or leaves the queue.
func (h *hub) leave(sess *session, reason string, now time.Time) {
	h.leaveChat(sess, reason, false, now)
	h.hlLeave(sess, reason, now)
	sess.mu.Lock()
	if sess.queued {
		h.q.leave(sess.id)
		sess.queued = false
		h.markDirtyLocked(sess, now)
	}
	sess.mu.Unlock()
	h.send(sess.id, &proto.Outbound{Type: proto.TypeLeft})
}

// leaveChat takes sess out of its chat, if any, and ends it for the others
// with reason; avoid keeps them apart from now on. It returns the members
// told, so the caller can queue them again.
func (h *hub) leaveChat(sess *session, reason string, avoid bool, now time.Time) []member {
	sess.mu.Lock()
	r, peer, addr := sess.chat, sess.peer, sess.addr
	sess.chat, sess.peer = nil, ""
	if r != nil {
		h.markDirtyLocked(sess, now)
	}
	sess.mu.Unlock()
	if r == nil {
		return nil
	}
	if r.group != nil {
		h.leaveGroup(r, peer, reason, now)
		return nil
	}
	others := r.end(peer)
	h.chatEnded(r, now)
	var last lastPartner
	for _, o := range others {
		if avoid {
			h.q.avoid(sess.id, o.sid)
		}
		if a, ok := h.partnerLeft(o, r, reason, lastPartner{id: sess.id, addr: addr, at: now}, now); ok {
			last = lastPartner{id: o.sid, addr: a, at: now}
		}
	}
	sess.mu.Lock()
	sess.last = last
	sess.mu.Unlock()
	return others
}

// chatEnded counts a chat once, when it ends.
func (h *hub) chatEnded(r *room, now time.Time) {
	h.removeRoom(r)
	if r.group != nil {
		return // the daily figures are of one-to-one chats
	}
	d := now.Sub(r.created)
	h.daily.chatEnded(now, d)
	h.m.observeChat(d)
}

// partnerLeft tells a member that the chat r ended, and takes them out of
// it. A member away in their resume window learns it when they return. It
// returns the member's address, for a report of them later.
func (h *hub) partnerLeft(m member, r *room, reason string, leaver lastPartner, now time.Time) (netip.Addr, bool) {
	s := h.lookup(m.sid)
	if s == nil {
		return netip.Addr{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chat != r {
		return s.addr, true
	}
	s.chat, s.peer = nil, ""
	s.last = leaver
	h.markDirtyLocked(s, now)
	if s.connected {
		h.send(s.id, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: reason})
	} else {
		s.missed = reason
	}
	return s.addr, true
}

func (h *hub) sendIfConnected(s *session, m *proto.Outbound) {
	s.mu.Lock()
	ok := s.connected
	s.mu.Unlock()
	if ok {
		h.send(s.id, m)
	}
}
