package signaling

import (
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// signal forwards one signal to a member of the sender's own room, cleaned
// (rebuilt from parsed values) and under the hide-IP policy of both ends,
// stamped with the sender's peer ID. Nobody else can be reached. The path
// takes the sender's session lock and its room's lock for a few reads and
// nothing shared with other rooms.
func (h *hub) signal(sess *session, sig proto.Signal, now time.Time) error {
	sess.mu.Lock()
	r, peer := sess.chat, sess.peer
	if r == nil && len(sess.held) > 0 {
		r, peer = sess.seatFor(sig.Peer)
	}
	if r != nil {
		h.touchLocked(sess, now)
	}
	sess.mu.Unlock()
	if r == nil {
		// A bad signal is refused as bad before anything looks at the state.
		if _, _, err := sig.Data.Clean(false); err != nil {
			return err
		}
		return proto.ErrNotPaired
	}
	me, them, err := r.target(peer, sig.Peer)
	if err != nil {
		return err
	}
	data, forward, err := sig.Data.Clean(me.hideIP || them.hideIP)
	if err != nil {
		return err
	}
	if !forward {
		h.m.stripped.Add(1)
		return nil
	}
	if them.sid == "" {
		return nil // a member restored after a restart, not back yet: both negotiate again then
	}
	frame := proto.Encode(&proto.Outbound{Type: proto.TypeSignal, From: me.peer, Data: data})
	if !sess.budget.AllowN(now, len(frame)) {
		return proto.ErrSignalBudget
	}
	// Counted before it leaves, so that whoever receives it sees the count;
	// taken back when there was nobody to deliver it to.
	h.m.forwarded.Add(1)
	if !h.deliver(them.sid, frame) {
		h.m.forwarded.Add(-1)
	}
	return nil
}
