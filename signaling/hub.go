package signaling

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/signaling/pow"
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/prefix"
	"golang.org/x/time/rate"
)

// Locator is told where each session is connected (the node of its
// connection), for a Delivery that reaches sessions on other nodes.
type Locator interface {
	Locate(sessionID, node string)
}

// Delivery passes frames to sessions by ID. The hub never holds a
// connection: the local implementation writes to this process's sockets;
// with several nodes another one reaches the node that holds the session.
type Delivery interface {
	// Deliver queues (or writes) a frame for the session's connection. It
	// never blocks; false means the session has no connection now.
	Deliver(sessionID string, frame []byte) bool
	// Disconnect closes the session's connection with a close code, after
	// what is already queued.
	Disconnect(sessionID string, code int, text string)
}

// The hub's locks, outermost first. A goroutine holds at most one session
// lock, except when a pair forms (two, in order of ID); it never takes a
// session lock while holding any other of these, and calls out to the
// store or the network under none of them:
//
//	session.mu  <  room.mu  <  queue.mu  <  hub.mu  <  (delivery's own)
//
// The helpline's lock (helplineHub.mu) comes before all of them: it is
// taken first or not at all.
//
// A signal takes its sender's session lock and its room's lock for a few
// reads; no lock is shared between rooms on that path.

// hub is the state machine of sessions and chats. It addresses sessions by
// ID only and delivers through Delivery.
type hub struct {
	cfg     *Config
	log     *slog.Logger
	store   *store.Store
	out     Delivery
	q       *queue
	m       *counters
	persist *persister
	daily   dailyStats
	fresh   *prefixLimiters // new sessions per address prefix
	pow     *pow.Guard      // nil when the proof of work is off (pow.go)

	mu       sync.RWMutex // guards the maps and closing; a leaf
	sessions map[string]*session
	byKey    map[string]*session // by the store key of the current token
	byCred   map[string]*session // by TURN credential id
	rooms    map[string]*room    // open chats, by id
	groups   map[string]*room    // open group rooms, by the hex of their key
	rb       rebuild             // a new leader's queue, collected for a moment
	closing  bool

	hl *helplineHub // nil without a helpline (helpline_hub.go)
}

func newHub(cfg *Config, out Delivery, m *counters) (*hub, error) {
	q, err := newQueue(matcher.Config{Topics: cfg.Topics, InterestWait: cfg.InterestWait,
		Languages: cfg.Languages, LanguageWait: cfg.LanguageWait})
	if err != nil {
		return nil, err
	}
	guard, err := newGuard(cfg)
	if err != nil {
		return nil, err
	}
	h := &hub{
		cfg: cfg, log: cfg.Logger, store: cfg.Store, out: out, q: q, m: m,
		fresh:    newPrefixLimiters(rate.Limit(cfg.NewSessionsPerMinute/60), cfg.NewSessionBurst),
		sessions: make(map[string]*session),
		byKey:    make(map[string]*session),
		byCred:   make(map[string]*session),
		rooms:    make(map[string]*room),
		groups:   make(map[string]*room),
		pow:      guard,
	}
	h.persist = newPersister(h)
	if cfg.Helpline != nil {
		h.hl = newHelplineHub(h, *cfg.Helpline)
	}
	return h, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newToken returns a random 128-bit session token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validToken(t string) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == 16
}

// open finds the session of a cookie's token, in memory or in the store,
// or makes a new one. It returns the token to set as the cookie when it is
// new: a new session, or a rotation because the session came back from an
// unexpected place (another address prefix than its last connection, or
// not in memory), so a token planted in someone's browser stops working
// for whoever planted it. The session counts a connection in progress
// until attach or abandon.
func (h *hub) openSession(token string, addr netip.Addr, now time.Time) (*session, string, error) {
	p := prefix.Of(addr)
	if token != "" {
		key := h.store.SessionKey(token)
		h.mu.Lock()
		sess := h.byKey[key.Hex()]
		if sess != nil {
			sess.connecting.Add(1)
		}
		closing := h.closing
		h.mu.Unlock()
		if closing {
			return h.release(sess, ErrClosing)
		}
		if sess != nil {
			sess.mu.Lock()
			same := sess.prefix == p || !sess.prefix.IsValid()
			sess.mu.Unlock()
			if same {
				return sess, "", nil
			}
			return h.rotate(sess, now)
		}
		rec, err := h.store.GetSession(key)
		if err == nil {
			var adopted *session
			adopted, err = h.adopt(key, rec, now)
			if err == nil {
				return h.rotate(adopted, now)
			}
		}
		if !isNotFound(err) {
			return nil, "", err
		}
	}
	if !h.fresh.allow(p, now) {
		h.m.countRefused(refusedSessions)
		return nil, "", ErrTooManySessions
	}
	token = newToken()
	sess := newSession(randomID(16), h.store.SessionKey(token), now, h.cfg)
	sess.connecting.Add(1)
	h.sessionOpened(p, now)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, "", ErrClosing
	}
	h.sessions[sess.id] = sess
	h.byKey[sess.key.Hex()] = sess
	h.byCred[sess.cred] = sess
	return sess, token, nil
}

func (h *hub) release(sess *session, err error) (*session, string, error) {
	if sess != nil {
		h.abandonSession(sess)
	}
	return nil, "", err
}

// rotate gives a session a new token: its record moves to the new key.
func (h *hub) rotate(sess *session, now time.Time) (*session, string, error) {
	token := newToken()
	key := h.store.SessionKey(token)
	sess.mu.Lock()
	old := sess.key
	sess.key = key
	persisted := sess.persisted
	sess.mu.Unlock()
	h.mu.Lock()
	if h.byKey[old.Hex()] == sess {
		delete(h.byKey, old.Hex())
	}
	h.byKey[key.Hex()] = sess
	h.mu.Unlock()
	if persisted {
		// The old record goes before the upgrade is answered: from then on
		// the old token opens nothing, not even after a crash.
		<-h.persist.remove(old)
		h.markDirty(sess, now)
	}
	h.m.rotations.Add(1)
	return sess, token, nil
}

// adopt brings a stored session into memory, or returns the one already
// there (two connections may race to load it).
func (h *hub) adopt(key store.SessionKey, rec *store.Session, now time.Time) (*session, error) {
	h.mu.Lock()
	if sess := h.sessions[rec.ID]; sess != nil {
		if h.byKey[key.Hex()] != sess {
			// A record left under a token the session no longer has (it
			// was rotated a moment ago): that token opens nothing.
			h.mu.Unlock()
			return nil, store.ErrNotFound
		}
		sess.connecting.Add(1)
		h.mu.Unlock()
		return sess, nil
	}
	if h.closing {
		h.mu.Unlock()
		return nil, ErrClosing
	}
	sess := newSession(rec.ID, key, rec.Created, h.cfg)
	sess.rec = *rec
	sess.persisted = true
	sess.proved = rec.Mode != "" // it joined the queue before, so it did the work (pow.go)
	sess.lastSeen = rec.LastSeen
	sess.connecting.Add(1)
	h.sessions[sess.id] = sess
	h.byKey[key.Hex()] = sess
	h.byCred[sess.cred] = sess
	h.mu.Unlock()
	h.q.restore(rec.ID, matcher.History{Avoid: rec.Avoid, Met: rec.Met})
	if rec.Mode != "" && rec.Mode != proto.ModeOpposite {
		// Opposite mode cannot be repeated: the preference is never stored.
		sess.join = &proto.Join{Mode: rec.Mode, Media: rec.Media, Name: rec.Name, Interests: rec.Interests, HideIP: rec.HideIP}
	}
	switch {
	case rec.RoomKey != "":
		h.rejoinStoredGroup(sess, rec, now)
	case rec.Chat != "":
		h.rejoinStoredChat(sess, rec, now)
	}
	return sess, nil
}

// abandonSession undoes open for a connection that never got to attach.
func (h *hub) abandonSession(sess *session) {
	sess.connecting.Add(-1)
	h.forgetIfIdle(sess)
}

// lookup returns the session with this ID, if it is in memory.
func (h *hub) lookup(id string) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sessions[id]
}

// SessionLive reports whether a credential id names a live session: in
// memory, not banned, not erased. The relay asks before every allocation.
func (h *hub) SessionLive(cred string) bool {
	h.mu.RLock()
	sess := h.byCred[cred]
	h.mu.RUnlock()
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return !sess.banned && !sess.erased
}

// forgetIfIdle drops a session from memory once nothing there needs it:
// no connection, no connection in progress, no resume window, no chat. Its
// last state goes to the store first; a return within the TTL loads it.
func (h *hub) forgetIfIdle(sess *session) {
	sess.mu.Lock()
	if sess.connected || sess.connecting.Load() > 0 || sess.grace != nil || sess.chat != nil || len(sess.held) > 0 {
		sess.mu.Unlock()
		return
	}
	sess.gone = true
	var final *store.Session
	if sess.persisted && !sess.erased && !sess.banned {
		final = h.snapshotLocked(sess)
	}
	key := sess.key
	sess.mu.Unlock()
	h.persist.final(key, final)
	h.q.forget(sess.id)
	h.unregister(sess, key)
}

func (h *hub) unregister(sess *session, key store.SessionKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[sess.id] == sess {
		delete(h.sessions, sess.id)
	}
	if h.byCred[sess.cred] == sess {
		delete(h.byCred, sess.cred)
	}
	if h.byKey[key.Hex()] == sess {
		delete(h.byKey, key.Hex())
	}
}

// snapshot collects every in-memory session, for housekeeping and bans.
func (h *hub) snapshot() []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// deliver sends a frame to a session; false if it has no connection.
func (h *hub) deliver(id string, frame []byte) bool { return h.out.Deliver(id, frame) }

func (h *hub) send(id string, m *proto.Outbound) bool { return h.out.Deliver(id, proto.Encode(m)) }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func (h *hub) isClosing() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closing
}

// shutdown stops every timer: the chats and queues stay as they are in the
// store, for the next process.
func (h *hub) shutdown() {
	h.stopRebuild()
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	for _, s := range h.snapshot() {
		s.mu.Lock()
		s.stopGraceLocked()
		s.mu.Unlock()
	}
	h.mu.RLock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.RUnlock()
	for _, r := range rooms {
		r.mu.Lock()
		if r.waiting != nil {
			r.waiting.Stop()
		}
		r.mu.Unlock()
	}
}

// housekeeping keeps the records of connected people alive in the store
// (being connected is activity, so a record does not expire under its
// owner) and drops from memory what nothing needs any more.
func (h *hub) housekeeping(now time.Time) {
	for _, s := range h.snapshot() {
		s.mu.Lock()
		idle := !s.connected && s.grace == nil && s.chat == nil && len(s.held) == 0 && s.connecting.Load() == 0
		if s.connected {
			h.touchLocked(s, now)
		}
		s.mu.Unlock()
		if idle {
			h.forgetIfIdle(s)
		}
	}
	// A room in use is activity too: its record must not expire while its
	// members talk over their data channels, which the server never sees.
	h.mu.RLock()
	groups := make([]*room, 0, len(h.groups))
	for _, r := range h.groups {
		groups = append(groups, r)
	}
	h.mu.RUnlock()
	for _, r := range groups {
		r.mu.Lock()
		touch := !r.closed && now.Sub(r.group.lastActive) >= touchEvery
		if touch {
			r.group.lastActive = now
		}
		r.mu.Unlock()
		if touch {
			h.persist.markRoom(r)
		}
	}
}

// The hub's side of backend, by session ID.

// Open is Backend.Open.
func (h *hub) Open(token string, addr netip.Addr, now time.Time) (string, string, error) {
	sess, setToken, err := h.openSession(token, addr, now)
	if err != nil {
		return "", "", err
	}
	return sess.id, setToken, nil
}

// Abandon is Backend.Abandon.
func (h *hub) Abandon(sid string) {
	if sess := h.lookup(sid); sess != nil {
		h.abandonSession(sess)
	}
}

// Hello is Backend.Hello.
func (h *hub) Hello(sid string, v int, addr netip.Addr, id Identity, node string, relay []string, now time.Time) (uint64, error) {
	sess := h.lookup(sid)
	if sess == nil {
		return 0, proto.ErrInternal // erased between the upgrade and hello
	}
	gen := h.attach(sess)
	sess.mu.Lock()
	if sess.gen == gen {
		sess.hl = id
	}
	sess.mu.Unlock()
	h.helloSession(sess, gen, v, addr, node, relay, now)
	h.hlHello(sess, now)
	return gen, nil
}

// Detach is Backend.Detach.
func (h *hub) Detach(sid string, gen uint64, now time.Time) {
	if sess := h.lookup(sid); sess != nil {
		h.detachSession(sess, gen, now)
	}
}
