package signaling

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// room is a chat: a one-to-one chat is a room of two the matcher made.
// Members are named inside a room by peer IDs, random and never the
// session ID; a signal can only reach a member of the sender's own room.
// Each room has its own lock: nothing on the path of a signal is shared
// between rooms.
type room struct {
	id        string
	mode      string
	media     string
	statement *proto.Statement
	shared    []string
	language  string // the language both declared, for matched
	created   time.Time

	// group is set for a group room (by link); nil for a one-to-one chat.
	group *group

	mu      sync.Mutex // guards the fields below, and group's mutable state
	members []member
	closed  bool
	// waiting runs while a member restored from the store after a restart
	// has not come back; at its end the chat is over for the others.
	waiting *time.Timer
}

// member is one person in a room.
type member struct {
	peer   string
	sid    string // the session; empty while a restored member is not back
	name   string
	role   string // one-to-one: offerer or answerer
	hideIP bool
	joined time.Time // group rooms: ownership passes to the longest present
	hash   string    // group rooms: the keyed hash the stored room names the session by
}

// roomView is what a member's stored record says about its chat.
type roomView struct {
	partnerPeer string
	role        string
	statementID string
}

func newPeerID() string { return randomID(9) }

// newPairRoom is the room of a pair the matcher formed: a offers.
func newPairRoom(a, b member, mode, media string, st *proto.Statement, shared []string, now time.Time) *room {
	a.role, b.role = proto.RoleOfferer, proto.RoleAnswerer
	a.peer, b.peer = newPeerID(), newPeerID()
	return &room{id: "p" + randomID(9), mode: mode, media: media, statement: st, shared: shared, created: now, members: []member{a, b}}
}

func (r *room) indexLocked(peer string) int {
	for i := range r.members {
		if r.members[i].peer == peer {
			return i
		}
	}
	return -1
}

// view returns what the member peer's record says of the chat.
func (r *room) view(peer string) (roomView, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.indexLocked(peer)
	if i < 0 || r.closed {
		return roomView{}, false
	}
	v := roomView{role: r.members[i].role}
	if r.statement != nil {
		v.statementID = r.statement.ID
	}
	for j, m := range r.members {
		if j != i {
			v.partnerPeer = m.peer
		}
	}
	return v, true
}

// target finds the recipient of a signal from the member from: the member
// named to, or for a v1 client (to empty) the only other member.
func (r *room) target(from, to string) (me, them member, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.indexLocked(from)
	if i < 0 || r.closed {
		return member{}, member{}, proto.ErrNotPaired
	}
	me = r.members[i]
	if to == "" {
		if len(r.members) != 2 {
			return me, member{}, proto.ErrNoSuchPeer
		}
		return me, r.members[1-i], nil
	}
	j := r.indexLocked(to)
	if j < 0 || j == i {
		return me, member{}, proto.ErrNoSuchPeer
	}
	return me, r.members[j], nil
}

// others returns every member but peer.
func (r *room) others(peer string) []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		if m.peer != peer {
			out = append(out, m)
		}
	}
	return out
}

// member returns the member peer.
func (r *room) member(peer string) (member, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.indexLocked(peer); i >= 0 {
		return r.members[i], true
	}
	return member{}, false
}

// end closes a one-to-one chat and returns the members other than peer, or
// nothing when it was already closed (the other side ended it first).
func (r *room) end(peer string) []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.waiting != nil {
		r.waiting.Stop()
		r.waiting = nil
	}
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		if m.peer != peer {
			out = append(out, m)
		}
	}
	return out
}

func (r *room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
