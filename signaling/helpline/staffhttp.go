package helpline

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// The staff API on the public listener, under /api/staff/. Sign-in needs
// nothing; everything else needs the staff cookie, and the management of
// invites, staff and blocks a coordinator's. Writes are refused from other
// sites (SameSite=Strict keeps the cookie off them; Sec-Fetch-Site and a
// JSON body are the second lock).

// maxBody bounds what a staff request may send: a WebAuthn response is a
// few KiB.
const maxBody = 64 << 10

// InvitePath is the link of an invite, after the origin; the token goes in
// the fragment, which no server or log ever sees.
const InvitePath = "/staff.html#invite="

// Handler serves /api/staff/.
func (s *Staff) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/staff/register/begin", s.serveRegisterBegin)
	mux.HandleFunc("POST /api/staff/register/finish", s.serveRegisterFinish)
	mux.HandleFunc("POST /api/staff/login/begin", s.serveLoginBegin)
	mux.HandleFunc("POST /api/staff/login/finish", s.serveLoginFinish)
	mux.HandleFunc("POST /api/staff/logout", s.serveLogout)
	mux.HandleFunc("GET /api/staff/me", s.member(s.serveMe))
	mux.HandleFunc("GET /api/staff/invites", s.coordinator(s.serveInvites))
	mux.HandleFunc("POST /api/staff/invites", s.coordinator(s.serveNewInvite))
	mux.HandleFunc("DELETE /api/staff/invites/{id}", s.coordinator(s.serveRevokeInvite))
	mux.HandleFunc("GET /api/staff/members", s.coordinator(s.serveMembers))
	mux.HandleFunc("DELETE /api/staff/members/{id}", s.coordinator(s.serveRevoke))
	mux.HandleFunc("GET /api/staff/blocks", s.coordinator(s.serveBlocks))
	mux.HandleFunc("DELETE /api/staff/blocks/{id}", s.coordinator(s.serveLift))
	mux.HandleFunc("GET /api/staff/audit", s.coordinator(s.serveAudit))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && !SameOriginWrite(r) {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// SameOriginWrite refuses a state-changing request a browser sent from
// another site.
func SameOriginWrite(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin" || site == "none"
}

func (s *Staff) member(h func(http.ResponseWriter, *http.Request, Member)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.Authenticate(r, time.Now())
		if !ok {
			http.Error(w, ErrNotStaff.Error(), http.StatusUnauthorized)
			return
		}
		h(w, r, m)
	}
}

func (s *Staff) coordinator(h func(http.ResponseWriter, *http.Request, Member)) http.HandlerFunc {
	return s.member(func(w http.ResponseWriter, r *http.Request, m Member) {
		if !m.Coordinator() {
			http.Error(w, ErrNotAllowed.Error(), http.StatusForbidden)
			return
		}
		h(w, r, m)
	})
}

// readJSON decodes a small JSON body strictly.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// StatusOf maps the errors of this package (and the store's) to HTTP.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrNoInvite), errors.Is(err, ErrNoSuchStaff), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNoCeremony), errors.Is(err, ErrBadPasskey), errors.Is(err, ErrIPHost), errors.Is(err, proto.ErrBadName), errors.Is(err, store.ErrBadInvite):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotStaff):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNotAllowed):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func (s *Staff) fail(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("staff request failed", "err", err)
		msg = "internal error"
	} else if errors.Is(err, ErrBadPasskey) {
		msg = ErrBadPasskey.Error() // the library's details stay here
	}
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON writes v as the response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Staff) serveRegisterBegin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Invite string `json:"invite"`
		Name   string `json:"name"`
	}
	if err := readJSON(r, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	name, err := proto.CleanName(req.Name, proto.MaxNameLength)
	if err != nil || name == "" {
		s.fail(w, proto.ErrBadName)
		return
	}
	id, creation, err := s.BeginRegistration(time.Now(), r, req.Invite, name)
	if err != nil {
		s.fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"ceremony": id, "options": creation})
}

func (s *Staff) serveRegisterFinish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	now := time.Now()
	m, err := s.FinishRegistration(now, r.URL.Query().Get("ceremony"), body)
	if err != nil {
		s.fail(w, err)
		return
	}
	http.SetCookie(w, s.Cookie(r, m, now))
	WriteJSON(w, http.StatusOK, m)
}

func (s *Staff) serveLoginBegin(w http.ResponseWriter, r *http.Request) {
	id, assertion, err := s.BeginLogin(time.Now(), r)
	if err != nil {
		s.fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"ceremony": id, "options": assertion})
}

func (s *Staff) serveLoginFinish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	now := time.Now()
	m, err := s.FinishLogin(now, r.URL.Query().Get("ceremony"), body)
	if err != nil {
		s.fail(w, err)
		return
	}
	http.SetCookie(w, s.Cookie(r, m, now))
	WriteJSON(w, http.StatusOK, m)
}

func (s *Staff) serveLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.ClearCookie(r))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Staff) serveMe(w http.ResponseWriter, _ *http.Request, m Member) {
	WriteJSON(w, http.StatusOK, m)
}

// InviteJSON is an invite as the APIs list it.
type InviteJSON struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// NewInviteJSON is a new invite: its link, shown once.
type NewInviteJSON struct {
	InviteJSON
	Token string `json:"token"`
	Path  string `json:"path"`
}

// InvitesJSON converts invites for the APIs.
func InvitesJSON(list []store.Invite) []InviteJSON {
	out := []InviteJSON{}
	for _, inv := range list {
		out = append(out, InviteJSON{ID: inv.ID, Role: inv.Role, By: inv.By, Created: inv.Created, Expires: inv.Expires})
	}
	return out
}

// NewInviteResponse is what both APIs answer a new invite with.
func NewInviteResponse(token string, inv store.Invite) NewInviteJSON {
	return NewInviteJSON{InviteJSON: InvitesJSON([]store.Invite{inv})[0], Token: token, Path: InvitePath + token}
}

func (s *Staff) serveInvites(w http.ResponseWriter, _ *http.Request, _ Member) {
	list, err := s.cfg.Store.Invites(time.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, InvitesJSON(list))
}

func (s *Staff) serveNewInvite(w http.ResponseWriter, r *http.Request, m Member) {
	var req struct {
		Role string `json:"role"`
	}
	if err := readJSON(r, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if req.Role == "" {
		req.Role = store.RoleVolunteer
	}
	token, inv, err := s.NewInvite(time.Now(), req.Role, m)
	if err != nil {
		s.fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, NewInviteResponse(token, inv))
}

func (s *Staff) serveRevokeInvite(w http.ResponseWriter, r *http.Request, m Member) {
	if err := s.RevokeInvite(time.Now(), r.PathValue("id"), m); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// MemberJSON is a staff member as the APIs list them: no passkey.
type MemberJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Role     string     `json:"role"`
	Passkeys int        `json:"passkeys"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
}

// MembersJSON converts staff records for the APIs.
func MembersJSON(list []store.Staff) []MemberJSON {
	out := []MemberJSON{}
	for _, st := range list {
		m := MemberJSON{ID: st.ID, Name: st.Name, Role: st.Role, Passkeys: len(st.Credentials), Created: st.Created}
		if !st.Revoked.IsZero() {
			rv := st.Revoked
			m.Revoked = &rv
		}
		out = append(out, m)
	}
	return out
}

func (s *Staff) serveMembers(w http.ResponseWriter, _ *http.Request, _ Member) {
	list, err := s.cfg.Store.ListStaff()
	if err != nil {
		s.fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, MembersJSON(list))
}

func (s *Staff) serveRevoke(w http.ResponseWriter, r *http.Request, m Member) {
	if err := s.Revoke(time.Now(), r.PathValue("id"), m); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Staff) serveBlocks(w http.ResponseWriter, _ *http.Request, _ Member) {
	list, err := s.cfg.Store.HelplineBlocks(time.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	if list == nil {
		list = []store.HelplineBlock{}
	}
	WriteJSON(w, http.StatusOK, list)
}

func (s *Staff) serveLift(w http.ResponseWriter, r *http.Request, m Member) {
	if err := s.LiftBlock(time.Now(), r.PathValue("id"), m); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Staff) serveAudit(w http.ResponseWriter, _ *http.Request, _ Member) {
	list, err := s.cfg.Store.AuditLog(time.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	if list == nil {
		list = []store.AuditEntry{}
	}
	WriteJSON(w, http.StatusOK, list)
}
