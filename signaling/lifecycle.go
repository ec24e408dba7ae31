package signaling

import (
	"net/netip"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/prefix"
)

// A session's connections: hello, a drop, the resume window, bye, and a
// session brought back from the store.

var features = []string{"random", "opposite", "interests", "text", "video", "hideIP", "resume", "report", "bye", "v2",
	"audio", "block", "language", "pow"}

// hello attaches a connection that said hello to its session, answers
// welcome, and resumes whatever the session was doing.
func (h *hub) helloSession(sess *session, gen uint64, version int, addr netip.Addr, node string, relay []string, now time.Time) {
	ice := h.iceServers(sess.cred, relay, now)
	if l, ok := h.out.(Locator); ok {
		l.Locate(sess.id, node)
	}
	sess.mu.Lock()
	if sess.gen != gen || sess.gone {
		sess.mu.Unlock()
		return // an even newer connection took over meanwhile
	}
	sess.connecting.Add(-1)
	resumed := sess.welcomed || sess.persisted
	sess.welcomed = true
	sess.connected, sess.version = true, version
	sess.byeAt, sess.byeWindow = time.Time{}, false
	sess.addr, sess.prefix = addr, prefix.Of(addr)
	sess.stopGraceLocked()
	welcome := &proto.Outbound{
		Type:          proto.TypeWelcome,
		State:         sess.stateLocked(),
		V:             version,
		Resumed:       proto.Bool(resumed),
		ICEServers:    ice,
		Preferences:   h.q.preferences,
		Features:      features,
		Limits:        h.limits(),
		HideIPDefault: proto.Bool(h.cfg.HideIPDefault),
		Languages:     h.cfg.Languages,
		Pow:           h.challengeLocked(sess, now),
	}
	missed := sess.missed
	sess.missed = ""
	r, peer := sess.chat, sess.peer
	requeue := sess.wasQueued && sess.join != nil && r == nil
	h.markDirtyLocked(sess, now)
	sess.mu.Unlock()

	h.send(sess.id, welcome)
	if missed != "" {
		h.send(sess.id, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: missed})
	}
	if r != nil && r.group != nil {
		// Back in a group room: told the room again, and the others start
		// afresh with this member, who makes the offers as a newcomer does.
		if me, ok := r.member(peer); ok {
			h.sendRoomJoined(r, me)
			for _, o := range r.others(peer) {
				if o.sid != "" {
					h.send(o.sid, &proto.Outbound{Type: proto.TypePeerJoined, Peer: me.peer, Name: me.name, Resumed: proto.Bool(true)})
				}
			}
		}
	} else if r != nil {
		me, ok := r.member(peer)
		if !ok {
			return
		}
		back := false
		for _, o := range r.others(peer) {
			if s := h.lookup(o.sid); s != nil && s.isConnected() {
				back = true
				h.sendMatched(r, o, true)
			}
		}
		if back {
			h.sendMatched(r, me, true)
		} else {
			h.send(sess.id, &proto.Outbound{Type: proto.TypePartnerReconnecting})
		}
	}
	if requeue && h.enqueue(sess, now) == nil {
		h.tick(now)
	}
}

func (sess *session) isConnected() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.connected
}

// iceServers are the TURN servers of the node the connection is on, with a
// credential for the session's credential id: every node's relay honours
// it, since they share the secret.
func (h *hub) iceServers(cred string, relay []string, now time.Time) []proto.ICEServer {
	if h.cfg.Credentials == nil || len(relay) == 0 {
		return nil
	}
	user, pass := h.cfg.Credentials(cred, now)
	return []proto.ICEServer{{URLs: relay, Username: user, Credential: pass}}
}

func (h *hub) limits() *proto.Limits {
	return &proto.Limits{
		MaxFrameBytes:       proto.MaxFrameBytes,
		MaxNameLength:       proto.MaxNameLength,
		MaxInterests:        proto.MaxInterests,
		MaxInterestLength:   proto.MaxInterestLength,
		ResumeWindowSeconds: int(h.cfg.ResumeWindow / time.Second),
		ByeWindowSeconds:    int(h.cfg.ByeWindow / time.Second),
		MessagesPerSecond:   int(h.cfg.MessagesPerSecond),
		RoomMaxText:         h.cfg.RoomMaxText,
		RoomMaxVideo:        h.cfg.RoomMaxVideo,
	}
}

// bye marks that the page is going away: if its socket closes soon after
// and it does not come back within the short bye window, the chat ends for
// the partner as closed. A bye long before the socket closes (a page kept
// in the back-forward cache) is forgotten.
func (h *hub) bye(sess *session, now time.Time) {
	sess.mu.Lock()
	sess.byeAt = now
	sess.mu.Unlock()
}

// detach runs when the connection gen closes. A person in a chat keeps it
// for the resume window, a queued one their place in the queue.
func (h *hub) detachSession(sess *session, gen uint64, now time.Time) {
	sess.mu.Lock()
	if sess.gen != gen || !sess.connected {
		sess.mu.Unlock()
		return // taken over by a newer connection
	}
	sess.connected = false
	if h.isClosing() {
		sess.mu.Unlock()
		return // the chat stays in the store; the next process resumes it
	}
	if sess.queued {
		h.q.leave(sess.id)
		sess.queued, sess.wasQueued = false, true
	}
	r, peer := sess.chat, sess.peer
	if !sess.banned && !sess.erased {
		window := h.cfg.ResumeWindow
		sess.byeWindow = !sess.byeAt.IsZero() && now.Sub(sess.byeAt) <= h.cfg.ByeWindow
		if sess.byeWindow {
			window = h.cfg.ByeWindow
		}
		h.startGraceLocked(sess, window)
	}
	h.markDirtyLocked(sess, now)
	sess.mu.Unlock()
	h.hlDetach(sess)
	if r != nil {
		m := &proto.Outbound{Type: proto.TypePartnerReconnecting}
		if r.group != nil {
			m.Peer = peer // in a room, which member is reconnecting
		}
		for _, o := range r.others(peer) {
			if o.sid != "" {
				h.send(o.sid, m)
			}
		}
	}
	h.forgetIfIdle(sess)
}

func (h *hub) startGraceLocked(sess *session, window time.Duration) {
	sess.stopGraceLocked()
	sess.graceGen++
	gen := sess.graceGen
	sess.grace = time.AfterFunc(window, func() { h.graceOver(sess, gen) })
}

// graceOver ends the resume window of a person who did not come back: the
// chat ends for the partner (gone, or closed after bye) and the session
// leaves memory.
func (h *hub) graceOver(sess *session, gen uint64) {
	now := time.Now()
	sess.mu.Lock()
	if sess.graceGen != gen || sess.grace == nil || sess.connected || sess.gone {
		sess.mu.Unlock()
		return
	}
	sess.grace = nil
	sess.wasQueued = false
	reason := proto.ReasonGone
	if sess.byeWindow {
		reason = proto.ReasonClosed
	}
	sess.mu.Unlock()
	h.leaveChat(sess, reason, false, now)
	h.hlGone(sess, reason, now)
	h.forgetIfIdle(sess)
}

// rejoinStoredChat puts a session loaded from the store (after a restart)
// back into its chat: the room is made again by the first of the two to
// return, and the other has the resume window to follow.
func (h *hub) rejoinStoredChat(sess *session, rec *store.Session, now time.Time) {
	h.mu.Lock()
	r := h.rooms[rec.Chat]
	if r == nil {
		r = &room{id: rec.Chat, mode: rec.Mode, media: rec.Media, statement: h.q.statement(rec.Statement), created: now}
		partnerRole := proto.RoleAnswerer
		if rec.Role == proto.RoleAnswerer {
			partnerRole = proto.RoleOfferer
		}
		r.members = []member{
			{peer: rec.Peer, sid: sess.id, name: rec.ChatName, role: rec.Role, hideIP: rec.ChatHideIP},
			{peer: rec.PartnerPeer, role: partnerRole},
		}
		h.rooms[r.id] = r
		r.waiting = time.AfterFunc(h.cfg.ResumeWindow, func() { h.restoredPartnerMissing(r) })
		h.mu.Unlock()
		h.log.Info("chat restored from the store; the partner has the resume window to return")
	} else {
		h.mu.Unlock()
		r.mu.Lock()
		i := r.indexLocked(rec.Peer)
		if i < 0 || r.closed || r.members[i].sid != "" {
			r.mu.Unlock()
			return // not the chat it remembers any more
		}
		r.members[i].sid, r.members[i].name, r.members[i].hideIP = sess.id, rec.ChatName, rec.ChatHideIP
		if r.waiting != nil {
			r.waiting.Stop()
			r.waiting = nil
		}
		r.mu.Unlock()
	}
	sess.mu.Lock()
	sess.chat, sess.peer = r, rec.Peer
	sess.mu.Unlock()
}

// restoredPartnerMissing ends a chat restored after a restart whose other
// member did not come back in time.
func (h *hub) restoredPartnerMissing(r *room) {
	now := time.Now()
	r.mu.Lock()
	stale := r.closed || r.waiting == nil
	r.waiting = nil
	r.mu.Unlock()
	if stale {
		return
	}
	others := r.end("")
	if others == nil {
		return
	}
	h.chatEnded(r, now)
	for _, m := range others {
		h.partnerLeft(m, r, proto.ReasonGone, lastPartner{}, now)
	}
}
