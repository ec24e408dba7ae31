package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/parley-chat/parley/store"
)

// meResponse is everything stored about the caller's session, opened, and
// whether the caller's address is banned.
type meResponse struct {
	Session     *store.Session `json:"session"`
	Banned      bool           `json:"banned"`
	BannedUntil *time.Time     `json:"bannedUntil,omitempty"`
	Retention   retention      `json:"retention"`
}

type retention struct {
	Session string `json:"session"`
	Note    string `json:"note"`
}

func (s *Server) serveMe(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Clock()
	w.Header().Set("Cache-Control", "no-store")
	resp := meResponse{Retention: retention{
		Session: "kept until " + s.cfg.SessionTTL.String() + " after the last activity, then deleted",
		Note:    "the political preference, the chat and your address are never stored; bans are keyed by a keyed hash of your address prefix",
	}}
	if token := tokenOf(r); token != "" {
		rec, err := s.store.LookupSession(token)
		switch {
		case err == nil:
			resp.Session = rec
		case !errors.Is(err, store.ErrNotFound):
			s.log.Error("reading a session failed", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	if addr := s.clientAddr(r); addr.IsValid() {
		ban, banned, err := s.store.Banned(now, addr)
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
	token := tokenOf(r)
	if token != "" {
		now := s.cfg.Clock()
		id := s.store.SessionID(token)
		if rec, err := s.store.LookupSession(token); err == nil {
			id = rec.ID
		}
		s.mu.Lock()
		if sess, ok := s.sessions[id]; ok {
			s.forgetLocked(sess, now)
		}
		s.mu.Unlock()
		<-s.persist.remove(id)
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

// statsSuppressBelow hides small counts so the public numbers never single
// anyone out.
const statsSuppressBelow = 5

// PublicStats is what GET /api/stats returns. A nil count was below 5.
type PublicStats struct {
	Online         *int            `json:"online"`
	Waiting        *int            `json:"waiting"`
	ChatsToday     *int            `json:"chatsToday"`
	AvgChatSeconds *int            `json:"avgChatSeconds"`
	OppositeSpread map[string]*int `json:"oppositeSpread"`
}

func suppress(n int) *int {
	if n < statsSuppressBelow {
		return nil
	}
	return &n
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	waiting := 0
	for _, c := range st.Waiting {
		waiting += c.N
	}
	out := PublicStats{
		Online:         suppress(st.Online),
		Waiting:        suppress(waiting),
		ChatsToday:     suppress(st.ChatsToday),
		OppositeSpread: map[string]*int{},
	}
	if st.ChatsEndedToday >= statsSuppressBelow {
		secs := int(st.AvgChatLength / time.Second)
		out.AvgChatSeconds = &secs
	}
	for _, p := range s.cfg.Topics.Preferences {
		out.OppositeSpread[p.ID] = suppress(st.PreferenceSpread[p.ID])
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
