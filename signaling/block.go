package signaling

import (
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// block ends the chat with the partner, or picks the last partner within
// ReportGrace, and keeps the two apart for the rest of the session (the
// matcher's Avoid, kept with the session's history). It is never a report:
// nothing is stored against anyone's address and it counts towards no ban.
// The partner is told the chat ended as if left, as with a report.
//
// In a group room there is nobody to block: the room is among people who
// know each other, and its owner can kick; the room is left as it is.
func (h *hub) block(sess *session, now time.Time) error {
	sess.mu.Lock()
	inChat, inGroup := sess.chat != nil, sess.chat != nil && sess.chat.group != nil
	sess.mu.Unlock()
	if inGroup {
		return proto.ErrNothingToBlock
	}
	if inChat {
		h.leaveChat(sess, proto.ReasonLeave, true, now)
	}
	sess.mu.Lock()
	last := sess.last
	sess.mu.Unlock()
	if last.id == "" || now.Sub(last.at) > h.cfg.ReportGrace {
		return proto.ErrNothingToBlock
	}
	// The last partner stays reportable: a block is no report and uses none up.
	h.q.avoid(sess.id, last.id)
	h.markDirty(sess, now)
	if o := h.lookup(last.id); o != nil {
		h.markDirty(o, now)
	}
	h.send(sess.id, &proto.Outbound{Type: proto.TypeBlocked})
	return nil
}

func onBlock(h *hub, sess *session, _ *proto.Inbound, now time.Time) error {
	return h.block(sess, now)
}
