package signaling

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/signaling/proto"
)

// The helpline's transport: the cookies a connection brings, the staff
// messages, and the helpline's HTTP endpoints.

// The visitor cookie's names: __Host- on HTTPS, the plain name on HTTP.
const (
	VisitorCookieName       = "parley_visitor"
	SecureVisitorCookieName = "__Host-parley_visitor"
)

// Identity is who a connection's helpline cookies say it is, read at the
// upgrade and held in memory only, with the connection and its session.
type Identity struct {
	Staff   *helpline.Member `json:"staff,omitempty"`   // signed-in staff, or nil
	Visitor string           `json:"visitor,omitempty"` // the visitor cookie's token, or ""
}

func (s *Server) helplineConn(r *http.Request, now time.Time) Identity {
	hl := s.hub().hl
	if hl == nil {
		return Identity{}
	}
	var id Identity
	if m, ok := hl.staff.Authenticate(r, now); ok {
		id.Staff = &m
	}
	id.Visitor = s.visitorToken(r)
	return id
}

// staff is the signed-in staff member of the session's connection, or nil.
func (sess *session) staff() *helpline.Member {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.hl.Staff
}

// Helpline is the staff service (the admin API makes invites with it);
// nil without a helpline.
func (s *Server) Helpline() *helpline.Staff {
	if s.hub().hl == nil {
		return nil
	}
	return s.hub().hl.staff
}

func (s *Server) mountHelpline() {
	hl := s.hub().hl
	if hl == nil {
		return
	}
	hl.staff = helpline.NewStaff(helpline.StaffConfig{
		Store:     s.cfg.Store,
		PublicURL: hl.cfg.PublicURL,
		CookieTTL: hl.cfg.StaffCookieTTL,
		Secure:    s.secure,
		OnRevoke:  func(id string) { s.hub().hlRevoked(id) },
		Logger:    s.log.With("part", "helpline"),
	})
	s.mux.Handle("/api/staff/", hl.staff.Handler())
	s.mux.HandleFunc("GET /api/helpline", s.serveHelpline)
	s.mux.HandleFunc("POST /api/helpline/visitor", s.serveVisitor)
}

// helplineInfo is GET /api/helpline: what the visitor's page shows before
// anything else.
type helplineInfo struct {
	Staffed      bool   `json:"staffed"` // someone is on shift now
	OpeningHours string `json:"openingHours,omitempty"`
	AdultOnly    bool   `json:"adultOnly"`
}

func (s *Server) serveHelpline(w http.ResponseWriter, _ *http.Request) {
	hl := s.hub().hl
	hl.mu.Lock()
	info := helplineInfo{Staffed: hl.q.Staffed(), OpeningHours: hl.cfg.OpeningHours, AdultOnly: hl.cfg.AdultOnly}
	hl.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, info)
}

// serveVisitor is POST /api/helpline/visitor: the visitor's page asks for
// its cookie once the visitor agreed, before it connects. The token is
// random and stays 90 days from the last visit; the server keeps only
// keyed hashes of it.
func (s *Server) serveVisitor(w http.ResponseWriter, r *http.Request) {
	if !sameOriginWrite(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	token := s.visitorToken(r)
	if token == "" {
		token = newToken()
	}
	http.SetCookie(w, s.visitorCookie(r, token, int(helpline.VisitorCookieTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) visitorCookie(r *http.Request, token string, maxAge int) *http.Cookie {
	name := VisitorCookieName
	if s.secure(r) {
		name = SecureVisitorCookieName
	}
	return &http.Cookie{Name: name, Value: token, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode}
}

// visitorToken is the token of the request's visitor cookie; two cookies of
// the name (one may be planted) give none.
func (s *Server) visitorToken(r *http.Request) string {
	name := VisitorCookieName
	if s.secure(r) {
		name = SecureVisitorCookieName
	}
	var token string
	n := 0
	for _, c := range r.Cookies() {
		if c.Name == name {
			token, n = c.Value, n+1
		}
	}
	if n != 1 || !validToken(token) {
		return ""
	}
	return token
}

// meHelpline is the visitor's contact record in GET /api/me.
type meHelpline struct {
	Tag      string          `json:"tag"`
	Contacts int             `json:"contacts"`
	First    string          `json:"first"`
	Last     string          `json:"last"`
	TimeOuts []proto.TimeOut `json:"timeOuts,omitempty"`
	Expires  time.Time       `json:"expires"`
	Note     string          `json:"note"`
}

func (s *Server) helplineMe(r *http.Request, now time.Time, resp *meResponse) error {
	hl := s.hub().hl
	if hl == nil {
		return nil
	}
	token := s.visitorToken(r)
	rec, until, err := hl.contacts.Get(now, token)
	if err != nil || rec == nil {
		return err
	}
	c := contactOf(helpline.ContactSummary{TimeOuts: rec.TimeOuts})
	resp.Helpline = &meHelpline{Tag: rec.Tag, Contacts: rec.Count, First: rec.First.Format(time.DateOnly), Last: rec.Last.Format(time.DateOnly),
		TimeOuts: c.TimeOuts, Expires: until.UTC(),
		Note: "kept under a pseudonym: a keyed hash of your visitor cookie under a key that changes every " + hl.cfg.ContactPeriod.String() +
			"; volunteers see the tag, the count, the day of the last contact and time-outs. A block in force stays until it ends."}
	return nil
}

// helplineErase deletes the caller's contact record and clears the
// visitor cookie (DELETE /api/me). A block in force stays: it is kept
// under another keyed hash, until it ends.
func (s *Server) helplineErase(w http.ResponseWriter, r *http.Request, now time.Time) error {
	hl := s.hub().hl
	if hl == nil {
		return nil
	}
	token := s.visitorToken(r)
	if token == "" {
		return nil
	}
	if err := hl.contacts.Erase(now, token); err != nil {
		return err
	}
	http.SetCookie(w, s.visitorCookie(r, "", -1))
	return nil
}

func onShift(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	on, capacity, err := m.Shift()
	if err != nil {
		if _, ferr := h.staffOnly(sess); ferr != nil {
			return ferr
		}
		return err
	}
	return h.hlShift(sess, on, capacity, now)
}

func onOfferAccept(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	if _, err := h.staffOnly(sess); err != nil {
		return err
	}
	id, err := m.OfferID()
	if err != nil {
		return err
	}
	return h.hlAccept(sess, id, now)
}

func onOfferDecline(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	if _, err := h.staffOnly(sess); err != nil {
		return err
	}
	id, err := m.OfferID()
	if err != nil {
		return err
	}
	return h.hlDecline(sess, id, now)
}

func onChatEnd(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	if _, err := h.staffOnly(sess); err != nil {
		return err
	}
	chat, err := m.ChatID()
	if err != nil {
		return err
	}
	return h.hlChatEnd(sess, chat, now)
}

func onChatTimeOut(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	if _, err := h.staffOnly(sess); err != nil {
		return err
	}
	chat, hours, err := m.ChatTimeOut()
	if err != nil {
		return err
	}
	return h.hlTimeOut(sess, chat, hours, now)
}

func onChatHandover(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	if _, err := h.staffOnly(sess); err != nil {
		return err
	}
	chat, to, err := m.ChatHandover()
	if err != nil {
		return err
	}
	return h.hlHandover(sess, chat, to, now)
}
