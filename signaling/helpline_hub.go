package signaling

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// The helpline in the hub. The queue's rules are signaling/helpline's (a
// pure model); this keeps who is who, makes the rooms and delivers. A
// helpline chat is a room of two, a visitor and a volunteer, held in both
// sessions' seats beside their one-to-one chat: a volunteer holds several.
// Both members hide their address whatever they sent, so the signaling
// between them is stripped to relay candidates both ways.

// seat is a session's place in a helpline chat.
type seat struct {
	room *room
	peer string // this session's peer id in it
}

// seatFor finds the held chat whose other member is to; a signal without a
// peer (a v1 client) goes to the only chat. Callers hold sess.mu.
func (sess *session) seatFor(to string) (*room, string) {
	if to == "" {
		if len(sess.held) == 1 {
			return sess.held[0].room, sess.held[0].peer
		}
		return nil, ""
	}
	for _, st := range sess.held {
		if _, ok := st.room.member(to); ok && to != st.peer {
			return st.room, st.peer
		}
	}
	return nil, ""
}

// queuedEvery is the most often a visitor is told its place.
const queuedEvery = 2 * time.Second

// helplineHub is the hub's helpline state.
type helplineHub struct {
	h        *hub
	cfg      helpline.Config
	staff    *helpline.Staff // set by Server.mountHelpline
	contacts *helpline.Contacts
	rule     store.TimeOutRule

	// mu guards the fields below. It is taken before any other lock of the
	// hub (session, room), never while one is held.
	mu       sync.Mutex
	q        *helpline.Queue
	visitors map[string]*hlVisitor   // by session id: waiting or in a chat
	vols     map[string]*hlVolunteer // by session id: staff connected (or in their resume window)
	handles  map[string]string       // a volunteer's handle -> session id
	offers   map[string]*hlOffer     // by offer id
	chats    map[string]*hlChat      // by room id
}

type hlVisitor struct {
	sid     string
	token   string     // the visitor cookie's token, in memory only
	addr    netip.Addr // in memory only: a time-out blocks its prefix
	name    string
	contact helpline.ContactSummary
	since   time.Time // the place in the queue, kept by a handover
	chat    *hlChat   // nil while waiting
	sent    string    // the last queued frame, and when
	sentAt  time.Time
}

type hlVolunteer struct {
	sid      string
	member   helpline.Member
	handle   string // random, for colleagues to hand over to; never the staff id
	on       bool
	capacity int
	chats    map[string]*hlChat
	sent     string // the last shift frame
}

type hlOffer struct {
	id      string
	visitor string  // session id
	vol     string  // session id
	from    string  // a handover: the session id handing over
	chat    *hlChat // a handover: the chat handed over
	expires time.Time
}

type hlChat struct {
	room    *room
	visitor *hlVisitor // nil: handover notes between two volunteers
	vol     string     // the volunteer's session id (notes: who took the chat)
	from    string     // notes: who handed it over
	handing string     // the offer id of a handover in progress
	moved   bool       // handed over: the queue already counted its end
}

func newHelplineHub(h *hub, cfg helpline.Config) *helplineHub {
	return &helplineHub{
		h:        h,
		cfg:      cfg,
		contacts: helpline.NewContacts(h.store, cfg.ContactPeriod),
		rule:     store.TimeOutRule{Threshold: cfg.TimeOutThreshold, LongFor: cfg.LongBlock, StrikeWindow: cfg.LongBlock},
		q:        helpline.NewQueue(cfg.Queue),
		visitors: map[string]*hlVisitor{},
		vols:     map[string]*hlVolunteer{},
		handles:  map[string]string{},
		offers:   map[string]*hlOffer{},
		chats:    map[string]*hlChat{},
	}
}

// hlJoin puts a visitor in the queue: blocked ones are told until when;
// one already waiting or in a chat keeps what they have.
func (h *hub) hlJoin(sess *session, j proto.Join, now time.Time) error {
	hl := h.hl
	sess.mu.Lock()
	id, addr := sess.hl, sess.addr
	sess.mu.Unlock()
	switch {
	case hl == nil:
		return proto.ErrBadMode
	case id.Staff != nil:
		return proto.ErrForbidden // staff help; they are not visitors too
	case id.Visitor == "" || hl.cfg.AdultOnly && !j.Adult:
		return proto.ErrConsentRequired
	}
	hl.mu.Lock()
	if v := hl.visitors[sess.id]; v != nil {
		if v.chat == nil {
			hl.sendQueuedLocked(v, now, true, nil)
		}
		hl.mu.Unlock()
		return nil
	}
	hl.mu.Unlock()
	if err := h.checkNotBanned(sess, now); err != nil {
		return err
	}
	block, blocked, err := h.store.HelplineBlocked(now, id.Visitor, addr)
	if err == nil && !blocked {
		var summary helpline.ContactSummary
		if summary, err = hl.contacts.Lookup(now, id.Visitor); err == nil {
			h.leaveChat(sess, proto.ReasonLeave, false, now)
			sess.mu.Lock()
			if sess.queued {
				h.q.leave(sess.id)
				sess.queued = false
			}
			sess.mu.Unlock()
			hl.mu.Lock()
			defer hl.mu.Unlock()
			if hl.visitors[sess.id] == nil {
				v := &hlVisitor{sid: sess.id, token: id.Visitor, addr: addr, name: j.Name, contact: summary, since: now}
				hl.visitors[sess.id] = v
				hl.q.Arrive(now, sess.id)
				hl.sendQueuedLocked(v, now, true, nil)
				hl.tickLocked(now)
			}
			return nil
		}
	}
	if err != nil {
		h.log.Error("helpline join failed", "err", err)
		return proto.ErrInternal
	}
	h.send(sess.id, &proto.Outbound{Type: proto.TypeHelplineBlocked, Until: block.Until.UTC().Format(time.RFC3339)})
	return nil
}

// hlLeave takes a visitor out of the queue or ends their chat.
func (h *hub) hlLeave(sess *session, reason string, now time.Time) {
	hl := h.hl
	if hl == nil {
		return
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if v := hl.visitors[sess.id]; v != nil {
		hl.visitorOutLocked(v, reason, now)
		hl.pushLocked(now)
	}
}

// hlGone ends everything a session had in the helpline: its resume window
// ended, it was banned or erased.
func (h *hub) hlGone(sess *session, reason string, now time.Time) {
	hl := h.hl
	if hl == nil {
		return
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if v := hl.visitors[sess.id]; v != nil {
		hl.visitorOutLocked(v, reason, now)
	}
	if vol := hl.vols[sess.id]; vol != nil {
		hl.volunteerGoneLocked(vol, reason, now)
	}
	hl.tickLocked(now)
}

// visitorOutLocked removes a visitor: a pending offer of them is
// withdrawn, and a chat ends for its volunteer with reason.
func (hl *helplineHub) visitorOutLocked(v *hlVisitor, reason string, now time.Time) {
	if w := hl.q.Leave(v.sid); w != nil {
		hl.offerWithdrawnLocked(w.Offer.Visitor, helpline.WithdrawnLeft)
	}
	if ch := v.chat; ch != nil {
		hl.endChatLocked(ch, now)
		hl.h.send(ch.vol, &proto.Outbound{Type: proto.TypeChatEnded, Chat: ch.room.id, Reason: reason})
	}
	delete(hl.visitors, v.sid)
}

// volunteerGoneLocked removes a volunteer: offers to them are withdrawn,
// a handover from them ends, and their visitors go back to the queue at
// their place.
func (hl *helplineHub) volunteerGoneLocked(vol *hlVolunteer, reason string, now time.Time) {
	for _, w := range hl.q.Gone(vol.sid) {
		hl.offerWithdrawnLocked(w.Offer.Visitor, w.Reason)
	}
	for _, ch := range hl.sortedChats(vol) {
		hl.endChatLocked(ch, now)
		if v := ch.visitor; v != nil {
			hl.h.send(v.sid, &proto.Outbound{Type: proto.TypePartnerLeft, Reason: proto.ReasonGone})
			hl.requeueLocked(v, vol.sid, now)
		} else {
			other := ch.vol
			if other == vol.sid {
				other = ch.from
			}
			hl.h.send(other, &proto.Outbound{Type: proto.TypeChatEnded, Chat: ch.room.id, Reason: reason})
		}
	}
	delete(hl.handles, vol.handle)
	delete(hl.vols, vol.sid)
	hl.pushLocked(now)
}

func (hl *helplineHub) sortedChats(vol *hlVolunteer) []*hlChat {
	out := make([]*hlChat, 0, len(vol.chats))
	for _, ch := range vol.chats {
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b *hlChat) int { return a.room.created.Compare(b.room.created) })
	return out
}

// requeueLocked puts a visitor whose chat ended back in the queue at their
// place; from is not offered them again at once.
func (hl *helplineHub) requeueLocked(v *hlVisitor, from string, now time.Time) {
	v.chat, v.sent = nil, "" // told again, even the same place as before the chat

	hl.q.Return(now, v.sid, v.since, from)
	hl.sendQueuedLocked(v, now, true, nil)
}

// hlDetach tells the partners of a session's helpline chats that it is
// reconnecting; the chats wait for the resume window.
func (h *hub) hlDetach(sess *session) {
	sess.mu.Lock()
	held := slices.Clone(sess.held)
	sess.mu.Unlock()
	for _, st := range held {
		for _, o := range st.room.others(st.peer) {
			h.send(o.sid, &proto.Outbound{Type: proto.TypePartnerReconnecting, Peer: st.peer})
		}
	}
}

// hlHello brings a connection up to date: staff get the state of their
// shift, their chats and offers; a visitor their place or their chat. A
// session that was a volunteer and comes back without the staff cookie
// is one no more.
func (h *hub) hlHello(sess *session, now time.Time) {
	hl := h.hl
	if hl == nil {
		return
	}
	staff := sess.staff()
	hl.mu.Lock()
	defer hl.mu.Unlock()
	sid := sess.id
	vol := hl.vols[sid]
	if vol != nil && (staff == nil || staff.ID != vol.member.ID) {
		hl.volunteerGoneLocked(vol, proto.ReasonRevoked, now)
		vol = nil
	}
	if staff != nil && vol == nil {
		vol = &hlVolunteer{sid: sid, member: *staff, handle: randomID(6), capacity: hl.cfg.Capacity, chats: map[string]*hlChat{}}
		hl.vols[sid] = vol
		hl.handles[vol.handle] = sid
	}
	if vol != nil {
		vol.sent = ""
		for _, ch := range hl.sortedChats(vol) {
			hl.sendChatBothLocked(ch, true) // the other side negotiates again too
		}
		for _, o := range hl.sortedOffers() {
			if o.vol == sid {
				hl.sendOfferLocked(o, now)
			}
		}
	}
	if v := hl.visitors[sid]; v != nil {
		if ch := v.chat; ch != nil {
			hl.sendChatBothLocked(ch, true)
		} else {
			hl.sendQueuedLocked(v, now, true, nil)
		}
	}
	hl.pushLocked(now)
}

// hlTick expires and makes offers and tells visitors their place.
func (h *hub) hlTick(now time.Time) {
	if hl := h.hl; hl != nil {
		hl.mu.Lock()
		hl.tickLocked(now)
		hl.mu.Unlock()
	}
}

func (hl *helplineHub) tickLocked(now time.Time) {
	made, gone := hl.q.Tick(now)
	for _, w := range gone {
		hl.offerWithdrawnLocked(w.Offer.Visitor, w.Reason)
	}
	for _, m := range made {
		o := &hlOffer{id: randomID(8), visitor: m.Visitor, vol: m.Volunteer, expires: m.Expires}
		hl.offers[o.id] = o
		hl.sendOfferLocked(o, now)
	}
	hl.pushLocked(now)
}

// offerWithdrawnLocked forgets the offer of a visitor and tells its
// volunteer; a handover that lapsed is told to who asked for it.
func (hl *helplineHub) offerWithdrawnLocked(visitor, reason string) {
	for id, o := range hl.offers {
		if o.visitor != visitor {
			continue
		}
		delete(hl.offers, id)
		hl.h.send(o.vol, &proto.Outbound{Type: proto.TypeOfferGone, Offer: id, Reason: reason})
		if o.chat != nil {
			o.chat.handing = ""
			if reason != helpline.WithdrawnLeft { // a visitor who left ended the chat: that was told
				hl.h.send(o.from, &proto.Outbound{Type: proto.TypeHandoverFailed, Chat: o.chat.room.id, Reason: reason})
			}
		}
	}
}

func (hl *helplineHub) sortedOffers() []*hlOffer {
	out := make([]*hlOffer, 0, len(hl.offers))
	for _, o := range hl.offers {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *hlOffer) int { return a.expires.Compare(b.expires) })
	return out
}

func (hl *helplineHub) sendOfferLocked(o *hlOffer, now time.Time) {
	v := hl.visitors[o.visitor]
	if v == nil {
		return
	}
	m := &proto.Outbound{Type: proto.TypeOffer, Offer: o.id, Contact: contactOf(v.contact), With: v.name,
		ExpiresIn: max(1, int((o.expires.Sub(now)+time.Second-1)/time.Second))}
	if o.from != "" {
		if from := hl.vols[o.from]; from != nil {
			m.Handover = &proto.HandoverInfo{From: from.member.Name}
		}
	}
	hl.h.send(o.vol, m)
}

func contactOf(s helpline.ContactSummary) *proto.Contact {
	c := &proto.Contact{Tag: s.Tag, Earlier: s.Earlier}
	if !s.Last.IsZero() {
		c.Last = s.Last.Format(time.DateOnly)
	}
	for _, t := range s.TimeOuts {
		c.TimeOuts = append(c.TimeOuts, proto.TimeOut{Day: t.Day.Format(time.DateOnly), Hours: t.Hours})
	}
	return c
}

// queueView is the queue as visitors are told it, computed once for all.
type queueView struct {
	places  map[string]int
	staffed bool
}

func (hl *helplineHub) viewLocked() *queueView {
	return &queueView{places: hl.q.Positions(), staffed: hl.q.Staffed()}
}

// sendQueuedLocked tells a waiting visitor its place when it changed, at
// most every queuedEvery unless forced; view may be nil.
func (hl *helplineHub) sendQueuedLocked(v *hlVisitor, now time.Time, force bool, view *queueView) {
	if view == nil {
		view = hl.viewLocked()
	}
	pos, ok := view.places[v.sid]
	if !ok {
		return
	}
	frame := proto.Encode(&proto.Outbound{Type: proto.TypeQueued, Mode: proto.ModeHelpline, Media: proto.MediaText,
		Position: pos, Ahead: proto.Int(pos - 1), Staffed: proto.Bool(view.staffed), OpeningHours: hl.cfg.OpeningHours})
	if string(frame) == v.sent || !force && now.Sub(v.sentAt) < queuedEvery {
		return
	}
	if hl.h.deliver(v.sid, frame) {
		v.sent, v.sentAt = string(frame), now
	}
}

// pushLocked sends every visitor and volunteer what changed for them.
func (hl *helplineHub) pushLocked(now time.Time) {
	view := hl.viewLocked()
	for _, v := range hl.visitors {
		if v.chat == nil {
			hl.sendQueuedLocked(v, now, false, view)
		}
	}
	waiting := hl.q.Waiting()
	for _, vol := range hl.vols {
		m := &proto.Outbound{Type: proto.TypeShift, On: proto.Bool(vol.on), Capacity: vol.capacity, MaxCapacity: hl.cfg.MaxCapacity,
			Open: proto.Int(hl.openOf(vol)), Waiting: proto.Int(waiting), OpeningHours: hl.cfg.OpeningHours}
		for _, other := range hl.vols {
			if other != vol && other.on {
				m.Colleagues = append(m.Colleagues, proto.Colleague{Volunteer: other.handle, Name: other.member.Name, Open: hl.openOf(other), Capacity: other.capacity})
			}
		}
		slices.SortFunc(m.Colleagues, func(a, b proto.Colleague) int {
			if a.Name != b.Name {
				return compareStrings(a.Name, b.Name)
			}
			return compareStrings(a.Volunteer, b.Volunteer)
		})
		if frame := proto.Encode(m); string(frame) != vol.sent && hl.h.deliver(vol.sid, frame) {
			vol.sent = string(frame)
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// openOf counts a volunteer's chats with visitors (notes do not count).
func (hl *helplineHub) openOf(vol *hlVolunteer) int {
	n := 0
	for _, ch := range vol.chats {
		if ch.visitor != nil {
			n++
		}
	}
	return n
}

// hlRevoked ends the helpline for every session of a revoked staff
// member, and closes their connections.
func (h *hub) hlRevoked(staffID string) {
	hl := h.hl
	now := time.Now()
	hl.mu.Lock()
	var sids []string
	for _, vol := range hl.vols {
		if vol.member.ID == staffID {
			sids = append(sids, vol.sid)
			hl.volunteerGoneLocked(vol, proto.ReasonRevoked, now)
		}
	}
	hl.tickLocked(now)
	hl.mu.Unlock()
	for _, sid := range sids {
		h.out.Disconnect(sid, proto.ClosePolicy, "revoked")
	}
}
