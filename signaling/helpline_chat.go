package signaling

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/proto"
)

// The helpline's chats: a volunteer accepts or declines an offer, ends a
// chat, gives a time-out, or hands the chat over to a colleague (with
// notes between the two over a data channel of their own) or back to the
// queue. All of it runs under the helpline's lock.

// shift puts a volunteer on shift with a capacity, or off.
func (h *hub) hlShift(sess *session, on bool, capacity int, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	if capacity == 0 {
		capacity = hl.cfg.Capacity
	}
	if capacity < 1 || capacity > hl.cfg.MaxCapacity {
		return proto.ErrBadMessage
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	vol := hl.vols[sess.id]
	if vol == nil {
		return proto.ErrForbidden // not said hello as staff
	}
	for _, w := range hl.q.Shift(now, vol.sid, on, capacity) {
		hl.offerWithdrawnLocked(w.Offer.Visitor, w.Reason)
	}
	vol.on, vol.capacity = on, capacity
	hl.pushLocked(now) // the shift's state first, then any offers
	hl.tickLocked(now)
	return nil
}

func (h *hub) staffOnly(sess *session) (*helplineHub, error) {
	if h.hl == nil || sess.staff() == nil {
		return nil, proto.ErrForbidden
	}
	return h.hl, nil
}

// hlAccept takes an offer: a new chat, or a colleague's chat handed over.
func (h *hub) hlAccept(sess *session, offerID string, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	hl.mu.Lock()
	o := hl.offers[offerID]
	vol := hl.vols[sess.id]
	v := (*hlVisitor)(nil)
	if o != nil {
		v = hl.visitors[o.visitor]
	}
	if o == nil || vol == nil || o.vol != vol.sid || v == nil {
		hl.mu.Unlock()
		return proto.ErrNoSuchOffer
	}
	if _, err := hl.q.Accept(now, vol.sid, o.visitor); err != nil {
		hl.mu.Unlock()
		return proto.ErrNoSuchOffer
	}
	delete(hl.offers, offerID)
	fresh := o.from == ""
	if !fresh {
		old := o.chat
		from := hl.vols[o.from]
		old.handing, old.moved = "", true // the queue counted the move in Accept
		hl.endChatLocked(old, now)
		hl.h.send(o.from, &proto.Outbound{Type: proto.TypeChatEnded, Chat: old.room.id, Reason: proto.ReasonHandover})
		hl.h.send(v.sid, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: proto.ReasonHandover})
		if from != nil {
			// The notes: a room of the two volunteers, the one handing over
			// offers; what they write goes between their browsers.
			notes := hl.openRoomLocked(vol, from, nil, now)
			hl.sendChatBothLocked(notes, false)
		}
	}
	ch := hl.openRoomLocked(vol, nil, v, now)
	hl.sendChatBothLocked(ch, false)
	token := v.token
	hl.tickLocked(now)
	hl.mu.Unlock()
	if fresh {
		if _, err := hl.contacts.Record(now, token); err != nil {
			h.log.Error("counting a helpline contact failed", "err", err)
		}
	}
	return nil
}

// openRoomLocked makes a chat of a volunteer with a visitor, or (visitor
// nil) the notes of a handover from from to vol, and seats both.
func (hl *helplineHub) openRoomLocked(vol, from *hlVolunteer, v *hlVisitor, now time.Time) *hlChat {
	ch := &hlChat{}
	var first, second member // the first offers
	if v != nil {
		ch.visitor, ch.vol = v, vol.sid
		first = member{sid: v.sid, name: v.name, hideIP: true}
		second = member{sid: vol.sid, name: vol.member.Name, hideIP: true}
		v.chat = ch
	} else {
		ch.vol, ch.from = vol.sid, from.sid
		first = member{sid: from.sid, name: from.member.Name, hideIP: true}
		second = member{sid: vol.sid, name: vol.member.Name, hideIP: true}
	}
	r := newPairRoom(first, second, proto.ModeHelpline, proto.MediaText, nil, nil, now)
	r.id = "h" + randomID(9)
	ch.room = r
	hl.chats[r.id] = ch
	vol.chats[r.id] = ch
	if from != nil {
		from.chats[r.id] = ch
	}
	for _, m := range r.members {
		if s := hl.h.lookup(m.sid); s != nil {
			s.mu.Lock()
			s.held = append(s.held, seat{room: r, peer: m.peer})
			s.mu.Unlock()
		}
	}
	return ch
}

// endChatLocked closes a helpline chat and unseats its members; the
// caller tells them.
func (hl *helplineHub) endChatLocked(ch *hlChat, now time.Time) {
	r := ch.room
	if hl.chats[r.id] != ch {
		return
	}
	delete(hl.chats, r.id)
	r.end("")
	for _, m := range r.members {
		if s := hl.h.lookup(m.sid); s != nil {
			s.mu.Lock()
			for i, st := range s.held {
				if st.room == r {
					s.held = append(s.held[:i:i], s.held[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
		}
	}
	for _, sid := range []string{ch.vol, ch.from} {
		if vol := hl.vols[sid]; vol != nil {
			delete(vol.chats, r.id)
		}
	}
	if ch.visitor != nil {
		if !ch.moved {
			hl.q.Closed(now, ch.vol)
		}
		ch.visitor.chat = nil
		if ch.handing != "" {
			hl.q.Leave(ch.visitor.sid) // the handover cannot happen any more
			hl.offerWithdrawnLocked(ch.visitor.sid, helpline.WithdrawnLeft)
		}
	}
}

// peerOf is the peer id of a session in a chat.
func (hl *helplineHub) peerOf(ch *hlChat, sid string) string {
	for _, m := range ch.room.others("") {
		if m.sid == sid {
			return m.peer
		}
	}
	return ""
}

// sendChatBothLocked tells both members of a helpline chat what it is, the
// answering one first. The offering one sends its offer as soon as it is
// told, and nothing here holds its session's lock, so the offer can reach
// the other before the other hears of the chat; a client drops a signal
// from a peer it does not know, and the chat never opens.
func (hl *helplineHub) sendChatBothLocked(ch *hlChat, resumed bool) {
	ms := ch.room.others("")
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.role, b.role) }) // "answerer" before "offerer"
	for _, m := range ms {
		hl.sendChatLocked(ch, m.sid, resumed)
	}
}

// sendChatLocked tells one member of a helpline chat what it is: matched
// for the visitor (as a one-to-one chat), chat for a volunteer.
func (hl *helplineHub) sendChatLocked(ch *hlChat, sid string, resumed bool) {
	var me, other member
	for _, m := range ch.room.others("") {
		if m.sid == sid {
			me = m
		} else {
			other = m
		}
	}
	if me.sid == "" {
		return
	}
	if ch.visitor != nil && sid == ch.visitor.sid {
		hl.h.send(sid, &proto.Outbound{Type: proto.TypeMatched, Pair: ch.room.id, Role: me.role, You: me.peer, Peer: other.peer,
			Partner: &proto.PartnerInfo{Name: other.name}, Mode: proto.ModeHelpline, Media: proto.MediaText,
			Resumed: proto.Bool(resumed), HideIP: proto.Bool(true)})
		return
	}
	m := &proto.Outbound{Type: proto.TypeChat, Chat: ch.room.id, Role: me.role, You: me.peer, Peer: other.peer,
		With: other.name, Resumed: proto.Bool(resumed), HideIP: proto.Bool(true)}
	if ch.visitor != nil {
		m.Contact = contactOf(ch.visitor.contact)
	} else {
		m.Notes = proto.Bool(true)
	}
	hl.h.send(sid, m)
}

// hlDecline refuses an offer; it moves on to another volunteer.
func (h *hub) hlDecline(sess *session, offerID string, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	o := hl.offers[offerID]
	if o == nil || o.vol != sess.id {
		return proto.ErrNoSuchOffer
	}
	if _, err := hl.q.Decline(now, o.vol, o.visitor); err != nil {
		return proto.ErrNoSuchOffer
	}
	delete(hl.offers, offerID)
	if o.chat != nil {
		o.chat.handing = ""
		hl.h.send(o.from, &proto.Outbound{Type: proto.TypeHandoverFailed, Chat: o.chat.room.id, Reason: proto.ReasonDeclined})
	}
	hl.tickLocked(now)
	return nil
}

// ownChatLocked returns a chat the volunteer of c is in.
func (hl *helplineHub) ownChatLocked(sess *session, chatID string) (*hlChat, *hlVolunteer, error) {
	vol := hl.vols[sess.id]
	if vol == nil {
		return nil, nil, proto.ErrNoSuchChat
	}
	ch := vol.chats[chatID]
	if ch == nil {
		return nil, nil, proto.ErrNoSuchChat
	}
	return ch, vol, nil
}

// hlChatEnd ends a chat: the visitor (or the colleague of a handover's
// notes) is told.
func (h *hub) hlChatEnd(sess *session, chatID string, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	ch, vol, err := hl.ownChatLocked(sess, chatID)
	if err != nil {
		return err
	}
	hl.endChatLocked(ch, now)
	hl.h.send(vol.sid, &proto.Outbound{Type: proto.TypeChatEnded, Chat: chatID, Reason: proto.ReasonLeave})
	if v := ch.visitor; v != nil {
		hl.h.send(v.sid, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: proto.ReasonLeave})
		delete(hl.visitors, v.sid)
	} else {
		other := ch.vol
		if other == vol.sid {
			other = ch.from
		}
		hl.h.send(other, &proto.Outbound{Type: proto.TypeChatEnded, Chat: chatID, Reason: proto.ReasonLeave})
	}
	hl.tickLocked(now)
	return nil
}

// hlTimeOut gives the visitor of a chat a time-out: their token and their
// address prefix are blocked for the hours given (or the long block, at
// the threshold), the chat ends, and the visitor is told until when.
func (h *hub) hlTimeOut(sess *session, chatID string, hours int, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	if time.Duration(hours)*time.Hour > hl.cfg.MaxTimeOut {
		return proto.ErrBadMessage
	}
	hl.mu.Lock()
	ch, _, err := hl.ownChatLocked(sess, chatID)
	if err == nil && ch.visitor == nil {
		err = proto.ErrNoSuchChat // notes have no visitor to time out
	}
	var token string
	var v *hlVisitor
	if err == nil {
		v = ch.visitor
		token = v.token
	}
	addr := hlAddr(v)
	hl.mu.Unlock()
	if err != nil {
		return err
	}
	rule := hl.rule
	rule.For = time.Duration(hours) * time.Hour
	rule.LongFor = max(rule.LongFor, rule.For)
	block, err := h.store.HelplineTimeOut(now, token, addr, rule)
	if err != nil {
		h.log.Error("storing a time-out failed", "err", err)
		return proto.ErrInternal
	}
	if _, err := hl.contacts.TimeOut(now, token, hours); err != nil {
		h.log.Error("noting a time-out in a contact record failed", "err", err)
	}
	until := block.Until.UTC().Format(time.RFC3339)
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if hl.chats[chatID] == ch {
		hl.endChatLocked(ch, now)
		hl.h.send(sess.id, &proto.Outbound{Type: proto.TypeChatEnded, Chat: chatID, Reason: proto.ReasonTimeOut, Until: until})
	}
	if hl.visitors[v.sid] == v {
		delete(hl.visitors, v.sid)
		hl.q.Leave(v.sid)
	}
	hl.h.send(v.sid, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: proto.ReasonTimeOut, Until: until})
	hl.tickLocked(now)
	return nil
}

func hlAddr(v *hlVisitor) (a netip.Addr) {
	if v != nil {
		a = v.addr
	}
	return a
}

// hlHandover hands a chat to a colleague (they are offered it; the chat
// goes on until they accept) or, without one, back to the queue at the
// visitor's place.
func (h *hub) hlHandover(sess *session, chatID, to string, now time.Time) error {
	hl, err := h.staffOnly(sess)
	if err != nil {
		return err
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	ch, vol, err := hl.ownChatLocked(sess, chatID)
	if err != nil {
		return err
	}
	v := ch.visitor
	if v == nil || ch.handing != "" {
		return proto.ErrNoSuchChat
	}
	if to == "" {
		hl.endChatLocked(ch, now)
		hl.h.send(vol.sid, &proto.Outbound{Type: proto.TypeChatEnded, Chat: chatID, Reason: proto.ReasonHandover})
		hl.h.send(v.sid, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: proto.ReasonHandover})
		hl.requeueLocked(v, vol.sid, now)
		hl.tickLocked(now)
		return nil
	}
	target := hl.handles[to]
	if target == "" {
		return proto.ErrColleagueUnavailable
	}
	off, err := hl.q.Handover(now, v.sid, v.since, vol.sid, target)
	if err != nil {
		return proto.ErrColleagueUnavailable
	}
	o := &hlOffer{id: randomID(8), visitor: v.sid, vol: target, from: vol.sid, chat: ch, expires: off.Expires}
	hl.offers[o.id] = o
	ch.handing = o.id
	hl.sendOfferLocked(o, now)
	hl.pushLocked(now)
	return nil
}
