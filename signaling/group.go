package signaling

import (
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"slices"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/prefix"
)

// Group rooms: small private rooms by link, a full mesh of up to 8 people
// for text and 6 for video. The link's secret lives after '#' in the
// browser; the server keeps only its keyed hash.

// group is the state of a group room beyond its members. Its fields
// after key, name, media and max are guarded by the room's mutex.
type group struct {
	key        store.RoomKey
	name       string
	max        int
	owner      string // the owner's peer id
	locked     bool
	banned     map[string]bool       // member hashes of kicked-and-banned sessions
	bannedNets map[netip.Prefix]bool // and their prefixes, in memory only
	lastActive time.Time
	dirty      bool // to be written
}

func newRoomSecret() string {
	b := make([]byte, proto.RoomSecretBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *hub) roomMax(media string) int {
	if media == proto.MediaVideo {
		return h.cfg.RoomMaxVideo
	}
	return h.cfg.RoomMaxText
}

// roomCreate makes a room with its creator as owner and only member.
func (h *hub) roomCreate(sess *session, rc proto.RoomCreate, now time.Time) error {
	limit := h.roomMax(rc.Media)
	if rc.Max > limit {
		return proto.ErrBadRoom
	}
	if rc.Max == 0 {
		rc.Max = limit
	}
	if err := h.checkNotBanned(sess, now); err != nil {
		return err
	}
	h.leaveEverything(sess, now)
	secret := newRoomSecret()
	me := member{peer: newPeerID(), sid: sess.id, name: rc.Member, hideIP: rc.HideIP, joined: now}
	r := &room{id: "g" + randomID(9), media: rc.Media, created: now, members: []member{me}}
	r.group = &group{key: h.store.RoomKey(secret), name: rc.Name, max: rc.Max, owner: me.peer,
		banned: map[string]bool{}, bannedNets: map[netip.Prefix]bool{}, lastActive: now, dirty: true}
	r.members[0].hash = h.store.MemberHash(r.id, sess.id)
	sess.mu.Lock()
	sess.chat, sess.peer, sess.persisted = r, me.peer, true
	// The room is marked before the session: a session record that names
	// the room is never written in an earlier round than the room.
	h.persist.markRoom(r)
	h.markDirtyLocked(sess, now)
	h.addGroup(r)
	h.send(sess.id, &proto.Outbound{Type: proto.TypeRoomCreated, Room: r.id, Secret: secret})
	h.sendRoomJoined(r, me)
	sess.mu.Unlock()
	h.m.roomsCreated.Add(1)
	return nil
}

// roomJoin adds a session to the room a secret opens. A wrong secret and
// the secret of a room that ended get the same answer, after the same work.
func (h *hub) roomJoin(sess *session, rj proto.RoomJoin, now time.Time) error {
	if err := h.checkNotBanned(sess, now); err != nil {
		return err
	}
	key := h.store.RoomKey(rj.Secret)
	r, err := h.groupByKey(key, now)
	if err != nil {
		return err
	}
	sess.mu.Lock()
	if sess.chat == r {
		me, ok := r.member(sess.peer)
		sess.mu.Unlock()
		if ok {
			h.sendRoomJoined(r, me) // already in: say it again
		}
		return nil
	}
	addr := sess.addr
	sess.mu.Unlock()
	hash := h.store.MemberHash(r.id, sess.id)

	// A room that would refuse the person leaves their chat or place in
	// the queue as it was; it is asked again below, under the locks, in
	// case it changed meanwhile.
	r.mu.Lock()
	err = r.admitsLocked(hash, addr)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	h.leaveEverything(sess, now)
	me := member{peer: newPeerID(), sid: sess.id, name: rj.Name, hideIP: rj.HideIP, joined: now, hash: hash}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	r.mu.Lock()
	if err := r.admitsLocked(hash, addr); err != nil {
		r.mu.Unlock()
		return err
	}
	g := r.group
	r.members = append(r.members, me)
	g.lastActive, g.dirty = now, true
	others := slices.Clone(r.members[:len(r.members)-1])
	r.mu.Unlock()
	sess.chat, sess.peer, sess.persisted = r, me.peer, true
	h.persist.markRoom(r) // before the session: see roomCreate
	h.markDirtyLocked(sess, now)
	h.sendRoomJoined(r, me)
	for _, o := range others {
		if o.sid != "" {
			h.send(o.sid, &proto.Outbound{Type: proto.TypePeerJoined, Peer: me.peer, Name: me.name})
		}
	}
	return nil
}

// admitsLocked says whether a group room takes a newcomer with the member
// hash and address: not closed, not banned from it, not locked, not full.
// Callers hold r.mu.
func (r *room) admitsLocked(hash string, addr netip.Addr) error {
	g := r.group
	switch {
	case r.closed:
		return proto.ErrNoSuchRoom
	case g.banned[hash] || g.bannedNets[prefix.Of(addr)]:
		return proto.ErrForbidden
	case g.locked:
		return proto.ErrForbidden
	case len(r.members) >= g.max:
		return proto.ErrRoomFull
	}
	return nil
}

// checkNotBanned refuses a banned address before it creates or joins.
func (h *hub) checkNotBanned(sess *session, now time.Time) error {
	sess.mu.Lock()
	addr := sess.addr
	sess.mu.Unlock()
	ban, banned, err := h.store.Banned(now, addr)
	if err != nil {
		h.log.Error("ban check failed", "err", err)
		return proto.ErrInternal
	}
	if banned {
		p := prefix.Of(addr)
		h.enforceBan(now, ban.Until, func(a netip.Addr) bool { return prefix.Of(a) == p })
		return proto.ErrForbidden
	}
	return nil
}

// leaveEverything takes a session out of its chat and the queue: one
// chat at a time.
func (h *hub) leaveEverything(sess *session, now time.Time) {
	h.leaveChat(sess, proto.ReasonLeave, false, now)
	h.hlLeave(sess, proto.ReasonLeave, now)
	sess.mu.Lock()
	if sess.queued {
		h.q.leave(sess.id)
		sess.queued = false
	}
	sess.mu.Unlock()
}

// groupByKey finds a room in memory or, after a restart, in the store.
func (h *hub) groupByKey(key store.RoomKey, now time.Time) (*room, error) {
	h.mu.RLock()
	r := h.groups[key.Hex()]
	h.mu.RUnlock()
	if r != nil {
		return r, nil
	}
	rec, err := h.store.GetRoom(key)
	if err != nil {
		if !isNotFound(err) {
			h.log.Error("reading a room failed", "err", err)
		}
		return nil, proto.ErrNoSuchRoom
	}
	return h.restoreGroup(key, rec, now), nil
}

// restoreGroup brings a stored room back into memory after a restart: its
// members are placeholders until each returns with their cookie, and those
// not back within the resume window are gone.
func (h *hub) restoreGroup(key store.RoomKey, rec *store.Room, now time.Time) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.groups[key.Hex()]; r != nil {
		return r // another member got here first
	}
	r := &room{id: rec.ID, media: rec.Media, created: rec.Created}
	r.group = &group{key: key, name: rec.Name, max: rec.Max, owner: rec.Owner, locked: rec.Locked,
		banned: map[string]bool{}, bannedNets: map[netip.Prefix]bool{}, lastActive: now}
	for _, b := range rec.Banned {
		r.group.banned[b] = true
	}
	for _, m := range rec.Members {
		r.members = append(r.members, member{peer: m.Peer, joined: m.Joined, hash: m.Session})
	}
	r.waiting = time.AfterFunc(h.cfg.ResumeWindow, func() { h.restoredMembersMissing(r) })
	h.rooms[r.id] = r
	h.groups[key.Hex()] = r
	h.log.Info("room restored from the store; its members have the resume window to return", "members", len(rec.Members))
	return r
}

// rejoinStoredGroup puts a session loaded from the store back into its
// group room, if the room still knows it.
func (h *hub) rejoinStoredGroup(sess *session, rec *store.Session, now time.Time) {
	key, err := store.RoomKeyFromHex(rec.RoomKey)
	if err != nil {
		return
	}
	r, err := h.groupByKey(key, now)
	if err != nil {
		return
	}
	hash := h.store.MemberHash(r.id, sess.id)
	r.mu.Lock()
	i := r.indexLocked(rec.Peer)
	ok := i >= 0 && !r.closed && (r.members[i].sid == "" || r.members[i].sid == sess.id) && r.members[i].hash == hash
	if ok {
		r.members[i].sid, r.members[i].name, r.members[i].hideIP = sess.id, rec.ChatName, rec.ChatHideIP
	}
	r.mu.Unlock()
	if !ok {
		return
	}
	sess.mu.Lock()
	sess.chat, sess.peer = r, rec.Peer
	sess.mu.Unlock()
}

// restoredMembersMissing removes the members of a restored room who did not
// come back within the window.
func (h *hub) restoredMembersMissing(r *room) {
	now := time.Now()
	r.mu.Lock()
	r.waiting = nil
	var gone []member
	kept := r.members[:0]
	for _, m := range r.members {
		if m.sid == "" {
			gone = append(gone, m)
		} else {
			kept = append(kept, m)
		}
	}
	r.members = kept
	r.mu.Unlock()
	for _, m := range gone {
		h.memberGone(r, m, proto.ReasonGone, now)
	}
}

// sendRoomJoined tells a member the room's state and who is in it: the
// newcomer makes the offers, so two members never offer to each other at
// once.
func (h *hub) sendRoomJoined(r *room, me member) {
	r.mu.Lock()
	g := r.group
	peers := make([]proto.PeerInfo, 0, len(r.members))
	for _, m := range r.members {
		if m.peer != me.peer && m.sid != "" {
			peers = append(peers, proto.PeerInfo{Peer: m.peer, Name: m.name})
		}
	}
	out := &proto.Outbound{Type: proto.TypeRoomJoined, Room: r.id, You: me.peer, Peers: peers, Owner: g.owner,
		Max: g.max, RoomName: g.name, Media: r.media, Locked: proto.Bool(g.locked), HideIP: proto.Bool(me.hideIP)}
	r.mu.Unlock()
	h.send(me.sid, out)
}

// leaveGroup takes member peer out of a group room: the others hear
// peer-left (with the new owner if ownership passed), and a room left empty
// ends. Called by leaveChat for group rooms.
func (h *hub) leaveGroup(r *room, peer, reason string, now time.Time) []member {
	r.mu.Lock()
	i := r.indexLocked(peer)
	if i < 0 || r.closed {
		r.mu.Unlock()
		return nil
	}
	m := r.members[i]
	r.members = slices.Delete(r.members, i, i+1)
	r.mu.Unlock()
	h.memberGone(r, m, reason, now)
	return r.others("")
}

// memberGone tells the others a member left, passes the ownership on when
// the owner went, and ends a room nobody is left in.
func (h *hub) memberGone(r *room, m member, reason string, now time.Time) {
	r.mu.Lock()
	g := r.group
	g.lastActive, g.dirty = now, true
	if g.owner == m.peer {
		g.owner = ""
		var oldest *member
		for i := range r.members {
			if x := &r.members[i]; x.sid != "" && (oldest == nil || x.joined.Before(oldest.joined)) {
				oldest = x
			}
		}
		if oldest != nil {
			g.owner = oldest.peer
		}
	}
	owner := g.owner
	empty := len(r.members) == 0
	if empty {
		r.closed = true
		if r.waiting != nil {
			r.waiting.Stop()
			r.waiting = nil
		}
	}
	others := slices.Clone(r.members)
	r.mu.Unlock()
	for _, o := range others {
		if o.sid != "" {
			h.send(o.sid, &proto.Outbound{Type: proto.TypePeerLeft, Peer: m.peer, Reason: reason, Owner: owner})
		}
	}
	if empty {
		h.chatEnded(r, now)
		h.mu.Lock()
		if h.groups[g.key.Hex()] == r {
			delete(h.groups, g.key.Hex())
		}
		h.mu.Unlock()
	}
	h.persist.markRoom(r)
}

// roomKick removes a member on the owner's word; with ban, that session
// and its address prefix cannot come back while the room lives.
func (h *hub) roomKick(sess *session, peer string, ban bool, now time.Time) error {
	r, me, err := h.ownerOf(sess)
	if err != nil {
		return err
	}
	if peer == me {
		return proto.ErrNoSuchPeer
	}
	victim, ok := r.member(peer)
	if !ok {
		return proto.ErrNoSuchPeer
	}
	var vaddr netip.Addr
	if s := h.lookup(victim.sid); s != nil {
		s.mu.Lock()
		if s.chat == r {
			s.chat, s.peer = nil, ""
			h.markDirtyLocked(s, now)
		}
		vaddr = s.addr
		s.mu.Unlock()
	}
	r.mu.Lock()
	if ban {
		r.group.banned[victim.hash] = true
		if vaddr.IsValid() {
			r.group.bannedNets[prefix.Of(vaddr)] = true
		}
	}
	r.mu.Unlock()
	h.leaveGroup(r, peer, proto.ReasonKicked, now)
	if victim.sid != "" {
		h.send(victim.sid, &proto.Outbound{Type: proto.TypeKicked, Room: r.id, Ban: proto.Bool(ban)})
	}
	return nil
}

// roomLock closes the room to newcomers, or opens it again.
func (h *hub) roomLock(sess *session, locked bool, now time.Time) error {
	r, _, err := h.ownerOf(sess)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.group.locked = locked
	r.group.lastActive, r.group.dirty = now, true
	members := slices.Clone(r.members)
	r.mu.Unlock()
	for _, m := range members {
		if m.sid != "" {
			h.send(m.sid, &proto.Outbound{Type: proto.TypeRoomLock, Room: r.id, Locked: proto.Bool(locked)})
		}
	}
	h.persist.markRoom(r)
	return nil
}

// ownerOf returns the session's group room and peer if it owns it.
func (h *hub) ownerOf(sess *session) (*room, string, error) {
	sess.mu.Lock()
	r, peer := sess.chat, sess.peer
	sess.mu.Unlock()
	if r == nil || r.group == nil {
		return nil, "", proto.ErrNotPaired
	}
	r.mu.Lock()
	owner := r.group.owner
	r.mu.Unlock()
	if owner != peer {
		return nil, "", proto.ErrForbidden
	}
	return r, peer, nil
}

func (h *hub) addGroup(r *room) {
	h.mu.Lock()
	h.rooms[r.id] = r
	h.groups[r.group.key.Hex()] = r
	h.mu.Unlock()
}

// roomRecord is what the store keeps of a group room. Callers hold r.mu.
func (h *hub) roomRecordLocked(r *room) *store.Room {
	g := r.group
	rec := &store.Room{ID: r.id, Name: g.name, Media: r.media, Max: g.max, Owner: g.owner, Locked: g.locked,
		Created: r.created, LastActive: g.lastActive}
	for _, m := range r.members {
		rec.Members = append(rec.Members, store.RoomMember{Peer: m.peer, Session: m.hash, Joined: m.joined})
	}
	for b := range g.banned {
		rec.Banned = append(rec.Banned, b)
	}
	slices.Sort(rec.Banned)
	return rec
}
