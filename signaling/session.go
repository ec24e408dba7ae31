package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/store"
)

type sessionState int

const (
	stateIdle sessionState = iota
	stateQueued
	statePaired
)

// touchEvery is how stale LastSeen may get before activity rewrites it. It
// is far below the session TTL, so retention is kept to the minute, and it
// spares the store a write per message.
const touchEvery = time.Minute

// session is a person's session in memory. Every field is guarded by
// Server.mu.
type session struct {
	id    string
	token string // only until the cookie is set; never stored or logged
	rec   store.Session

	conn       *conn
	connecting int        // connections upgraded but not yet past hello
	addr       netip.Addr // the last connection's address, in memory only
	join       *Join      // the last join, preference included, in memory only
	state      sessionState
	partner    *session
	statement  *matcher.Statement
	shared     []string
	pairedAt   time.Time
	queuedAt   time.Time
	banned     bool
	erased     bool // banned or erased: never written again

	grace     *time.Timer // runs while a paired or queued person is away
	wasQueued bool        // dropped while queued: requeue on return
	missed    string      // the chat ended while they were away: partner-left reason to tell

	// The last partner, for a report after the chat ended.
	lastPartner     string
	lastPartnerAddr netip.Addr
	lastPartnerAt   time.Time
}

func (sess *session) stopGrace() {
	if sess.grace != nil {
		sess.grace.Stop()
		sess.grace = nil
	}
}

func (sess *session) hideIP() bool { return sess.join != nil && sess.join.HideIP || sess.rec.HideIP }

// sessionFor finds the session of the request's cookie, in memory or in the
// store, or makes a new one with a new token.
func (s *Server) sessionFor(r *http.Request, now time.Time) (*session, bool, error) {
	if token := tokenOf(r); token != "" {
		id := s.store.SessionID(token)
		s.mu.Lock()
		sess, ok := s.sessions[id]
		if ok {
			sess.connecting++
		}
		s.mu.Unlock()
		if ok {
			return sess, false, nil
		}
		rec, err := s.store.LookupSession(token)
		switch {
		case err == nil:
			return s.adopt(rec), false, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, false, err
		}
	}
	token := newToken()
	sess := &session{id: s.store.SessionID(token), token: token, connecting: 1}
	sess.rec = store.Session{ID: sess.id, Created: now, LastSeen: now}
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	return sess, true, nil
}

// adopt brings a stored session into memory, or returns the one already
// there (two requests may race to load it).
func (s *Server) adopt(rec *store.Session) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[rec.ID]; ok {
		sess.connecting++
		return sess
	}
	sess := &session{id: rec.ID, rec: *rec, connecting: 1}
	s.eng.Restore(rec.ID, matcher.History{Avoid: rec.Avoid, Met: rec.Met})
	s.sessions[rec.ID] = sess
	return sess
}

// restore loads the pairs of the store after a start, so that both people
// can resume within the window as after a reload.
func (s *Server) restore(now time.Time) error {
	recs, err := s.store.Sessions()
	if err != nil {
		return fmt.Errorf("signaling: restoring sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := make(map[string]*store.Session, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, r := range recs {
		p, ok := byID[r.Partner]
		if r.Pair == "" || !ok || p.Pair != r.Pair || p.Partner != r.ID {
			continue
		}
		sess := &session{id: r.ID, rec: *r, state: statePaired}
		if r.Mode != "" && r.Mode != string(matcher.ModeOpposite) {
			// Opposite mode cannot be repeated: the preference is never
			// stored, so that person joins again.
			sess.join = &Join{Mode: matcher.Mode(r.Mode), Media: matcher.Media(r.Media), Name: r.Name, Interests: r.Interests, HideIP: r.HideIP}
		}
		sess.statement = s.statementByID(r.Statement)
		s.sessions[r.ID] = sess
		s.eng.Restore(r.ID, matcher.History{Avoid: r.Avoid, Met: r.Met})
	}
	for _, sess := range s.sessions {
		sess.partner = s.sessions[sess.rec.Partner]
		s.startGraceLocked(sess, s.cfg.ResumeWindow, ReasonGone)
	}
	if n := len(s.sessions); n > 0 {
		s.log.Info("pairs restored from the store", "people", n)
	}
	return nil
}

func (s *Server) statementByID(id string) *matcher.Statement {
	for i := range s.cfg.Topics.Statements {
		if st := &s.cfg.Topics.Statements[i]; st.ID == id {
			return st
		}
	}
	return nil
}

func newPairID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "p" + hex.EncodeToString(b[:])
}

// markDirty asks the persister to write the session. Callers hold s.mu.
func (s *Server) markDirty(sess *session, now time.Time) {
	sess.rec.LastSeen = now
	if !sess.erased {
		s.persist.mark(sess.id)
	}
}

// touch records activity at most once a minute.
func (s *Server) touch(sess *session, now time.Time) {
	if now.Sub(sess.rec.LastSeen) >= touchEvery {
		s.markDirty(sess, now)
	}
}

// snapshot copies what the store keeps of a session. Callers hold s.mu.
func (s *Server) snapshot(sess *session) *store.Session {
	rec := sess.rec
	h := s.eng.History(sess.id)
	rec.Avoid, rec.Met = h.Avoid, h.Met
	rec.Interests = append([]string(nil), rec.Interests...)
	return &rec
}
