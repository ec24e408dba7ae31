package signaling

import (
	"net/netip"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/prefix"
)

// Reports, bans and erasure.

// reportMember reports one member of the reporter's group room. Reports
// from one room count as one reporter towards a ban, so a room cannot gang
// up on someone; the reported member stays, and the two are never matched
// at random afterwards.
func (h *hub) reportMember(sess *session, peer, reason string, now time.Time) error {
	sess.mu.Lock()
	r, me, reporter := sess.chat, sess.peer, sess.addr
	sess.mu.Unlock()
	if r == nil || r.group == nil || peer == me {
		return proto.ErrNoSuchPeer
	}
	m, ok := r.member(peer)
	if !ok || m.sid == "" {
		return proto.ErrNoSuchPeer
	}
	target := h.lookup(m.sid)
	if target == nil {
		return proto.ErrNoSuchPeer
	}
	target.mu.Lock()
	addr := target.addr
	target.mu.Unlock()
	h.q.avoid(sess.id, m.sid)
	return h.fileReport(sess, addr, store.Reporter{Addr: reporter, Group: r.id}, reason, now)
}

// report records a report against the partner (the chat ends and the two
// never meet again), or against the last partner within ReportGrace, and
// bans the partner's address when enough different networks reported it.
func (h *hub) report(sess *session, reason string, now time.Time) error {
	sess.mu.Lock()
	inChat, inGroup, reporter := sess.chat != nil, sess.chat != nil && sess.chat.group != nil, sess.addr
	sess.mu.Unlock()
	if inGroup {
		// In a group room a report names its member (report{peer}):
		// without one, the room is left as it is and nobody is reported.
		return proto.ErrNoSuchPeer
	}
	if inChat {
		h.leaveChat(sess, proto.ReasonLeave, true, now)
	}
	sess.mu.Lock()
	last := sess.last
	if last.id != "" && now.Sub(last.at) <= h.cfg.ReportGrace {
		sess.last = lastPartner{} // one report per chat
	} else {
		last = lastPartner{}
	}
	sess.mu.Unlock()
	if last.id == "" {
		return proto.ErrNothingToReport
	}
	h.q.avoid(sess.id, last.id)
	if !last.addr.IsValid() {
		return proto.ErrNothingToReport // a partner restored after a restart, not back yet
	}
	return h.fileReport(sess, last.addr, store.Reporter{Addr: reporter}, reason, now)
}

// fileReport stores a report and, when it bans, ends every live session
// the ban covers.
func (h *hub) fileReport(sess *session, target netip.Addr, reporter store.Reporter, reason string, now time.Time) error {
	if !target.IsValid() || !reporter.Addr.IsValid() {
		return proto.ErrNothingToReport
	}
	h.m.reports.Add(1)
	ban, banned, err := h.store.Report(now, target, reporter, reason)
	if err != nil {
		h.log.Error("storing a report failed", "err", err)
		return proto.ErrInternal
	}
	if banned {
		h.m.bans.Add(1) // before reported: whoever hears it sees the count
	}
	h.send(sess.id, &proto.Outbound{Type: proto.TypeReported})
	if banned {
		h.log.Info("address banned after reports", "until", ban.Until.UTC().Format(time.RFC3339))
		// A ban may cover the target's /64, or its /56 or /48 when several
		// /64s under it are banned: end every live session it covers.
		bits := ban.Bits
		if bits == 0 {
			bits = prefix.Of(target).Bits()
		}
		covered := prefix.Bits(target, 32, bits)
		h.enforceBan(now, ban.Until, func(a netip.Addr) bool { return a.IsValid() && covered.Contains(a.Unmap()) })
	}
	return nil
}

// enforceBan ends every session in memory whose last address is banned,
// connected or away in its resume window: the person sees until when, the
// partner learns the chat ended because of a ban, the relay ends their
// allocations, and the session's record goes.
func (h *hub) enforceBan(now, until time.Time, covered func(netip.Addr) bool) {
	frame := bannedFrame(until)
	var gone []<-chan struct{}
	// The records are gone before this returns: a cookie of a banned
	// session must not load it again from the store meanwhile.
	defer func() {
		for _, done := range gone {
			<-done
		}
	}()
	for _, s := range h.snapshot() {
		s.mu.Lock()
		hit := !s.banned && covered(s.addr)
		if hit {
			s.banned = true
			s.stopGraceLocked()
			if s.queued {
				h.q.leave(s.id)
				s.queued = false
			}
		}
		s.mu.Unlock()
		if !hit {
			continue
		}
		h.leaveChat(s, proto.ReasonBanned, true, now)
		h.hlGone(s, proto.ReasonBanned, now)
		h.deliver(s.id, frame)
		h.out.Disconnect(s.id, proto.CloseBanned, "banned")
		gone = append(gone, h.endSession(s))
	}
}

func bannedFrame(until time.Time) []byte {
	return proto.Encode(&proto.Outbound{Type: proto.TypeBanned, Until: until.UTC().Format(time.RFC3339)})
}

// endSession removes a banned or erased session everywhere: memory, the
// matcher, the store and the relay. The channel closes once the record is
// deleted.
func (h *hub) endSession(s *session) <-chan struct{} {
	s.mu.Lock()
	key := s.key
	s.gone = true
	s.stopGraceLocked()
	s.mu.Unlock()
	for _, id := range h.q.related(s.id) {
		if o := h.lookup(id); o != nil {
			defer h.markDirty(o, time.Now()) // their records drop the erased ID too
		}
	}
	h.q.forget(s.id)
	h.unregister(s, key)
	done := h.persist.remove(key)
	if h.cfg.OnSessionEnd != nil {
		h.cfg.OnSessionEnd(s.cred)
	}
	return done
}

// erase ends the session of a token now (DELETE /api/me): the chat ends,
// the socket closes, the record is deleted, and references to the session
// in the records of people in memory go with it.
func (h *hub) Erase(token string, now time.Time) error {
	key := h.store.SessionKey(token)
	h.mu.RLock()
	s := h.byKey[key.Hex()]
	h.mu.RUnlock()
	if s == nil {
		<-h.persist.remove(key)
		return nil
	}
	s.mu.Lock()
	s.erased = true
	if s.queued {
		h.q.leave(s.id)
		s.queued = false
	}
	s.mu.Unlock()
	h.leaveChat(s, proto.ReasonLeave, false, now)
	h.hlGone(s, proto.ReasonLeave, now)
	h.out.Disconnect(s.id, proto.CloseNormal, "session erased")
	<-h.endSession(s)
	return nil
}
