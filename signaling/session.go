package signaling

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"golang.org/x/time/rate"
)

// touchEvery is how stale the stored LastSeen may get before activity
// rewrites it: far below the session TTL, so retention is kept to the
// minute, and a store write per message is spared.
const touchEvery = time.Minute

// session is one person's browser session in memory. Its ID is random and
// never leaves the server; the relay knows it by cred, another random id.
type session struct {
	id   string
	cred string

	connecting atomic.Int32 // upgrades not yet attached (or abandoned)

	mu sync.Mutex // guards everything below
	// key finds and seals the stored record; it comes from the token, so
	// it changes when the token is rotated.
	key       store.SessionKey
	rec       store.Session // what was loaded from the store, until used
	persisted bool          // joined once: written from then on, never before
	gen       uint64        // the current connection's generation
	connected bool
	version   int          // protocol version of the current connection
	addr      netip.Addr   // the last connection's address, in memory only
	prefix    netip.Prefix // its /32 or /64
	join      *proto.Join  // the last join, preference included, in memory only
	queued    bool
	queuedAt  time.Time
	chat      *room    // the current chat, nil when idle or queued
	peer      string   // this session's peer id in chat
	held      []seat   // helpline chats, beside chat: a volunteer holds several (helpline_hub.go)
	hl        Identity // the current connection's helpline cookies, in memory only
	grace     *time.Timer
	graceGen  uint64 // which window the running timer is for
	wasQueued bool   // dropped while queued: requeue on return
	missed    string // the chat ended while away: the partner-left reason to tell
	last      lastPartner
	budget    *rate.Limiter // bytes of signaling this session may forward
	welcomed  bool          // said hello at least once
	proved    bool          // did the proof of work (pow.go)
	byeAt     time.Time     // when the page last said it is closing
	byeWindow bool          // the running resume window is the short one after bye
	banned    bool
	erased    bool
	gone      bool // dropped from memory: a late timer or message does nothing
	created   time.Time
	lastSeen  time.Time
}

// lastPartner is whom a person may still report after a chat ended.
type lastPartner struct {
	id   string
	addr netip.Addr
	at   time.Time
}

func newSession(id string, key store.SessionKey, now time.Time, cfg *Config) *session {
	return &session{
		id:       id,
		cred:     randomID(12),
		key:      key,
		created:  now,
		lastSeen: now,
		budget:   rate.NewLimiter(rate.Limit(cfg.SignalBytesPerSecond), cfg.SignalBytesBurst),
	}
}

func (sess *session) hideIP() bool { return sess.join != nil && sess.join.HideIP }

func (sess *session) stopGraceLocked() {
	if sess.grace != nil {
		sess.grace.Stop()
		sess.grace = nil
	}
}

// state is what welcome says the session is doing.
func (sess *session) stateLocked() string {
	switch {
	case sess.chat != nil:
		return "paired"
	case sess.queued, sess.wasQueued && sess.join != nil:
		return "queued"
	}
	return "idle"
}

// markDirty asks the persister to write the session, once it has joined.
func (h *hub) markDirty(sess *session, now time.Time) {
	sess.mu.Lock()
	h.markDirtyLocked(sess, now)
	sess.mu.Unlock()
}

func (h *hub) markDirtyLocked(sess *session, now time.Time) {
	if now.After(sess.lastSeen) {
		sess.lastSeen = now
	}
	if sess.persisted && !sess.erased && !sess.banned {
		h.persist.mark(sess)
	}
}

// touchLocked records activity at most once a minute.
func (h *hub) touchLocked(sess *session, now time.Time) {
	if now.Sub(sess.lastSeen) >= touchEvery {
		h.markDirtyLocked(sess, now)
	}
}

// snapshotLocked is what the store keeps of a session, derived from the
// live state: the chat from the room, the history from the matcher.
func (h *hub) snapshotLocked(sess *session) *store.Session {
	rec := store.Session{ID: sess.id, Created: sess.created, LastSeen: sess.lastSeen}
	if j := sess.join; j != nil {
		rec.Name, rec.Mode, rec.Media, rec.HideIP = j.Name, j.Mode, j.Media, j.HideIP
		rec.Interests = append([]string(nil), j.Interests...)
	} else {
		rec.Name, rec.Mode, rec.Media, rec.HideIP, rec.Interests = sess.rec.Name, sess.rec.Mode, sess.rec.Media, sess.rec.HideIP, sess.rec.Interests
	}
	if r := sess.chat; r != nil {
		rec.Chat, rec.Peer = r.id, sess.peer
		if m, ok := r.member(sess.peer); ok {
			rec.ChatName, rec.ChatHideIP = m.name, m.hideIP
		}
		if r.group != nil {
			rec.RoomKey = r.group.key.Hex()
		} else if v, ok := r.view(sess.peer); ok {
			rec.PartnerPeer, rec.Role, rec.Statement = v.partnerPeer, v.role, v.statementID
		}
	}
	hist := h.q.history(sess.id)
	rec.Avoid, rec.Met = hist.Avoid, hist.Met
	return &rec
}

// attach starts a connection's generation: what an older connection does
// from now on is ignored.
func (h *hub) attach(sess *session) uint64 {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.gen++
	return sess.gen
}

// current reports whether gen is the session's live connection.
func (sess *session) current(gen uint64) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.gen == gen && sess.connected && !sess.gone
}
