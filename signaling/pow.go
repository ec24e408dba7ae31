package signaling

import (
	"net/netip"
	"slices"
	"time"

	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
)

// The hub's side of the proof of work (signaling/pow) and of the chat
// languages: a challenge in welcome for a session that has not done the work,
// the check at its first join, and the counts that raise the difficulty of a
// busy prefix.

func newGuard(cfg *Config) (*pow.Guard, error) {
	if cfg.NoProofOfWork {
		return nil, nil
	}
	return pow.New(cfg.ProofOfWork)
}

// sessionOpened counts a new session against its prefix.
func (h *hub) sessionOpened(p netip.Prefix, now time.Time) {
	if h.pow != nil {
		h.pow.SessionOpened(p, now)
	}
}

// challengeLocked is the challenge welcome hands out, or nil when the session
// has no work to do: it did it, in this process or, when its stored record
// says it joined the queue, in a previous one. Group rooms (by link, among
// people who know each other) ask for none, so being in one proves nothing.
func (h *hub) challengeLocked(sess *session, now time.Time) *proto.PowChallenge {
	if h.pow == nil || sess.proved {
		return nil
	}
	return h.pow.Issue(sess.id, sess.prefix, now)
}

// proveWork lets a join through: the first join of a session must carry a
// solution to a challenge issued to it; later joins need none. A refusal
// carries a fresh challenge, so a client solves it and joins again. Every
// join that passes counts against its prefix and the server's rate. (The
// refusals are counted with the other wire errors, by code.)
func (h *hub) proveWork(sess *session, sol *proto.PowSolution, now time.Time) error {
	if h.pow == nil {
		return nil
	}
	sess.mu.Lock()
	done, p := sess.proved, sess.prefix
	sess.mu.Unlock()
	if !done {
		if sol == nil {
			return &proto.PowError{Err: proto.ErrPowRequired, Challenge: h.pow.Issue(sess.id, p, now)}
		}
		if err := h.pow.Verify(sess.id, sol, now); err != nil {
			return &proto.PowError{Err: proto.ErrBadPow, Challenge: h.pow.Issue(sess.id, p, now)}
		}
		sess.mu.Lock()
		sess.proved = true
		sess.mu.Unlock()
	}
	h.pow.Joined(p, now)
	return nil
}

// knownLanguage reports whether a join's language is one the server offers
// (or none).
func (h *hub) knownLanguage(l string) bool {
	return l == "" || slices.Contains(h.cfg.Languages, l)
}
