package signaling

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store/prefix"
)

// When the lead of a cluster passes to another node, the nodes bring their
// open connections to the new leader's hub (Server.reannounce): each
// session is found by its token in the records (no new token: the cookie
// of an open socket cannot change), attached without a welcome (the client
// has one), and put back in the queue with its last join (the political
// preference included, which was only ever in memory) as it waited since.
// The new hub collects the queue for a moment before it matches anyone, so
// that the queue it rebuilds keeps the original order.

// rebuildWindow is how long a new leader's hub collects the queue.
const rebuildWindow = 500 * time.Millisecond

type rebuild struct {
	mu      sync.Mutex // guards the fields below
	until   time.Time
	pending []pendingJoin
	timer   *time.Timer
}

type pendingJoin struct {
	s  *session
	at time.Time
}

// startRebuild opens the window in which the queue is collected.
func (h *hub) startRebuild(now time.Time) {
	h.rb.mu.Lock()
	h.rb.until = now.Add(rebuildWindow)
	h.rb.timer = time.AfterFunc(rebuildWindow, h.endRebuild)
	h.rb.mu.Unlock()
}

// collect keeps a join for the end of the window; false outside it.
func (h *hub) collect(s *session, at time.Time) bool {
	h.rb.mu.Lock()
	defer h.rb.mu.Unlock()
	if h.rb.until.IsZero() {
		return false
	}
	h.rb.pending = append(h.rb.pending, pendingJoin{s: s, at: at})
	return true
}

// endRebuild queues what was collected, oldest first, and matches.
func (h *hub) endRebuild() {
	h.rb.mu.Lock()
	pending := h.rb.pending
	h.rb.pending, h.rb.until, h.rb.timer = nil, time.Time{}, nil
	h.rb.mu.Unlock()
	slices.SortStableFunc(pending, func(a, b pendingJoin) int { return a.at.Compare(b.at) })
	for _, p := range pending {
		p.s.mu.Lock()
		j := p.s.join
		ok := p.s.queued && p.s.connected && p.s.chat == nil && !p.s.gone && j != nil
		if ok {
			req := matcher.Request{ID: p.s.id, Mode: matcher.Mode(j.Mode), Media: matcher.Media(j.Media), Preference: j.Preference, Interests: j.Interests, Language: j.Language}
			if err := h.q.join(p.at, req); err != nil {
				p.s.queued = false
			}
		}
		p.s.mu.Unlock()
	}
	h.tick(time.Now())
}

func (h *hub) stopRebuild() {
	h.rb.mu.Lock()
	if h.rb.timer != nil {
		h.rb.timer.Stop()
	}
	h.rb.mu.Unlock()
}

// Reattach is Backend.Reattach.
func (h *hub) Reattach(token string, addr netip.Addr, v int, id Identity, node string, relay []string, join *proto.Inbound, since, now time.Time) (string, uint64, error) {
	sess, err := h.findForReattach(token, addr, now)
	if err != nil {
		return "", 0, err
	}
	gen := h.attach(sess)
	if l, ok := h.out.(Locator); ok {
		l.Locate(sess.id, node)
	}
	sess.mu.Lock()
	sess.connecting.Add(-1)
	sess.welcomed = true
	sess.connected, sess.version = true, v
	sess.addr, sess.prefix = addr, prefix.Of(addr)
	sess.hl = id
	sess.stopGraceLocked()
	requeue := join != nil && !since.IsZero() && sess.chat == nil
	if requeue {
		j, err := join.Join(h.cfg.HideIPDefault)
		if err != nil || (j.Mode == proto.ModeOpposite && !h.q.knownPreference(j.Preference)) {
			requeue = false
		} else {
			sess.join, sess.persisted, sess.proved = &j, true, true
		}
	}
	h.markDirtyLocked(sess, now)
	sess.mu.Unlock()
	if requeue {
		_ = h.enqueueAt(sess, since, now)
		h.tick(now)
	}
	return sess.id, gen, nil
}

// findForReattach is openSession for a connection already open: no new
// token, and no refusal for too many new sessions (nobody new came).
func (h *hub) findForReattach(token string, addr netip.Addr, now time.Time) (*session, error) {
	if !validToken(token) {
		// Without a token of its own the connection would land in whatever
		// session the empty or forged token names.
		return nil, ErrNoSession
	}
	key := h.store.SessionKey(token)
	h.mu.Lock()
	sess := h.byKey[key.Hex()]
	if sess != nil {
		sess.connecting.Add(1)
	}
	closing := h.closing
	h.mu.Unlock()
	if closing {
		if sess != nil {
			h.abandonSession(sess)
		}
		return nil, ErrClosing
	}
	if sess != nil {
		return sess, nil
	}
	rec, err := h.store.GetSession(key)
	if err == nil {
		return h.adopt(key, rec, now)
	}
	if !isNotFound(err) {
		return nil, err
	}
	// A session that never joined has no record: it starts afresh under
	// the same token, so the client's cookie stays good.
	sess = newSession(randomID(16), key, now, h.cfg)
	sess.connecting.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions[sess.id] = sess
	h.byKey[key.Hex()] = sess
	h.byCred[sess.cred] = sess
	return sess, nil
}
