package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/parley-chat/parley/store"
)

// meResponse is everything stored about the caller's session, opened with
// the caller's own cookie, and whether the caller's address is banned. It
// names nobody: no session ID, no partner's ID, only counts of the people
// the session skipped or met.
type meResponse struct {
	Session     *meSession `json:"session"`
	Banned      bool       `json:"banned"`
	BannedUntil *time.Time `json:"bannedUntil,omitempty"`
	Retention   retention  `json:"retention"`
	// Helpline is the caller's contact record, with a helpline and its
	// visitor cookie (helpline_wire.go).
	Helpline *meHelpline `json:"helpline,omitempty"`
}

type meSession struct {
	Name      string    `json:"name,omitempty"`
	Mode      string    `json:"mode,omitempty"`
	Media     string    `json:"media,omitempty"`
	Interests []string  `json:"interests,omitempty"`
	HideIP    bool      `json:"hideIP"`
	InChat    bool      `json:"inChat"`
	Avoided   int       `json:"avoided"` // people you skipped or reported, or who skipped you
	Met       int       `json:"met"`     // different people you were paired with
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"lastSeen"`
	Expires   time.Time `json:"expires"`
}

type retention struct {
	Session string `json:"session"`
	Note    string `json:"note"`
}

func (s *Server) serveMe(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	w.Header().Set("Cache-Control", "no-store")
	resp := meResponse{Retention: retention{
		Session: "kept until " + s.cfg.SessionTTL.String() + " after the last activity, then deleted; sealed under a key only your browser's cookie can give",
		Note:    "the political preference, the chat and your address are never stored; bans are keyed by a slow keyed hash of your address prefix",
	}}
	if token := s.tokenOf(r); token != "" {
		rec, err := s.cfg.Store.GetSession(s.cfg.Store.SessionKey(token))
		switch {
		case err == nil:
			resp.Session = &meSession{
				Name: rec.Name, Mode: rec.Mode, Media: rec.Media, Interests: rec.Interests, HideIP: rec.HideIP,
				InChat: rec.Chat != "", Avoided: len(rec.Avoid), Met: len(rec.Met),
				Created: rec.Created.UTC(), LastSeen: rec.LastSeen.UTC(), Expires: rec.LastSeen.Add(s.cfg.SessionTTL).UTC(),
			}
		case !errors.Is(err, store.ErrNotFound):
			s.log.Error("reading a session failed", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	if err := s.helplineMe(r, now, &resp); err != nil {
		s.log.Error("reading a contact record failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if addr := s.clientAddr(r); addr.IsValid() {
		ban, banned, err := s.cfg.Store.Banned(now, addr)
		if err != nil {
			s.log.Error("ban check failed", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if banned {
			resp.Banned = true
			u := ban.Until.UTC()
			resp.BannedUntil = &u
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// serveDeleteMe erases the caller's session now: the chat ends, the socket
// closes, the record is deleted and the cookie cleared.
func (s *Server) serveDeleteMe(w http.ResponseWriter, r *http.Request) {
	if !sameOriginWrite(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	if token := s.tokenOf(r); token != "" {
		if err := s.backend().Erase(token, time.Now()); err != nil {
			// Nothing was erased (a node without its leader): say so, and
			// keep the cookie, so the person can try again.
			s.log.Warn("erasing a session failed", "err", err)
			s.refuse(w, err)
			return
		}
	}
	if err := s.helplineErase(w, r, time.Now()); err != nil {
		s.log.Error("erasing a contact record failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, s.cookie(r, "", true))
	w.WriteHeader(http.StatusNoContent)
}

// sameOriginWrite refuses a state-changing request a browser sent from
// another site. SameSite=Strict already keeps the cookie off such requests;
// this is the second lock.
func sameOriginWrite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	return true
}

// Public statistics. They must not let anyone learn one person's political
// preference (special-category data), or even that one person came or went,
// by any sequence of their own joins and leaves: so there is no count per
// preference or per mode at all, the number online is a coarse band that
// one person cannot move except at its edge, and the daily counts say
// nothing about who.
const (
	// onlineBand is the width of the band the online count is rounded down
	// to; below the first band it is not shown.
	onlineBand = 10
	// statsSuppressBelow hides the daily counts while they are small.
	statsSuppressBelow = 5
)

// PublicStats is what GET /api/stats returns. A nil count is not shown.
type PublicStats struct {
	// OnlineAtLeast is the number of open connections rounded down to a
	// multiple of 10; nil under 10.
	OnlineAtLeast  *int `json:"onlineAtLeast"`
	ChatsToday     *int `json:"chatsToday"`
	AvgChatSeconds *int `json:"avgChatSeconds"`
}

// Counts are what GET /api/stats is made of, before the rounding.
type Counts struct {
	Online          int           // open connections
	ChatsToday      int           // one-to-one chats formed since 00:00 UTC
	ChatsEndedToday int           // of them, those that ended
	AvgChatLength   time.Duration // their mean length
}

// Counts are this node's: its open connections and its hub's chats today.
func (s *Server) Counts() Counts {
	s.mu.RLock()
	online := len(s.open)
	s.mu.RUnlock()
	c := Counts{Online: online}
	c.ChatsToday, c.ChatsEndedToday, c.AvgChatLength = s.hub().daily.get(time.Now())
	return c
}

// CountWith makes GET /api/stats show f of this node's counts: a cluster
// adds the other nodes' connections and takes the chats of the leader's
// hub, where every chat is formed.
// A nil f goes back to this node's counts.
func (s *Server) CountWith(f func(local Counts) Counts) {
	if f == nil {
		s.counts.Store(nil)
		return
	}
	s.counts.Store(&f)
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Counts()
	if f := s.counts.Load(); f != nil {
		st = (*f)(st)
	}
	var out PublicStats
	if st.Online >= onlineBand {
		n := st.Online / onlineBand * onlineBand
		out.OnlineAtLeast = &n
	}
	if st.ChatsToday >= statsSuppressBelow {
		n := st.ChatsToday
		out.ChatsToday = &n
	}
	if st.ChatsEndedToday >= statsSuppressBelow {
		secs := int(st.AvgChatLength / time.Second)
		out.AvgChatSeconds = &secs
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
