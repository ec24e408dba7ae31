package helpline

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/parley-chat/parley/store"
)

// Staff sign-in: an operator (admin API, `parley invite`) or a coordinator
// makes a single-use invite; opening its link registers a passkey under a
// display name; signing in with the passkey sets the staff cookie. Nothing
// of the person is kept but the name and the passkey's public key.

// Errors of staff sign-in, mapped to HTTP statuses by the handlers.
var (
	ErrNoInvite    = errors.New("helpline: the invite is used, revoked or expired")
	ErrNoCeremony  = errors.New("helpline: the sign-in took too long or was already finished; start again")
	ErrNotStaff    = errors.New("helpline: not signed in as staff")
	ErrBadPasskey  = errors.New("helpline: the passkey could not be verified")
	ErrNotAllowed  = errors.New("helpline: coordinators only")
	ErrNoSuchStaff = errors.New("helpline: no such staff member")
	ErrIPHost      = errors.New("helpline: passkeys need a host name, not an IP address: open the staff page by the server's name, or as localhost")
)

// The staff cookie's names: __Host- on HTTPS, the plain name on HTTP.
const (
	StaffCookieName       = "parley_staff"
	SecureStaffCookieName = "__Host-parley_staff"
)

// ceremonyTTL bounds a registration or a sign-in from begin to finish;
// maxCeremonies bounds the memory unauthenticated begins can take.
const (
	ceremonyTTL   = 5 * time.Minute
	maxCeremonies = 4096
)

// Member is a signed-in staff member.
type Member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Coordinator reports whether the member may manage invites, staff and
// blocks.
func (m Member) Coordinator() bool { return m.Role == store.RoleCoordinator }

// StaffConfig configures the staff service.
type StaffConfig struct {
	Store     *store.Store
	PublicURL string        // see Config.PublicURL
	CookieTTL time.Duration // see Config.StaffCookieTTL
	// Secure tells whether a request came over HTTPS (directly or through a
	// trusted proxy): it decides the cookie's name and the origin.
	Secure func(*http.Request) bool
	// OnRevoke is told the id of a staff member who was revoked, so their
	// live connections end.
	OnRevoke func(staffID string)
	Logger   *slog.Logger
}

// Staff is the staff service: invites, passkeys, the staff cookie.
type Staff struct {
	cfg       StaffConfig
	log       *slog.Logger
	cookieKey []byte

	mu         sync.Mutex // guards ceremonies
	ceremonies map[string]*ceremony
}

// ceremony is a registration or sign-in between begin and finish.
type ceremony struct {
	session webauthn.SessionData
	rp      rp
	expires time.Time
	// registration only
	invite string
	name   string
	id     string // the new staff id
}

// NewStaff builds the service.
func NewStaff(cfg StaffConfig) *Staff {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CookieTTL == 0 {
		cfg.CookieTTL = DefaultStaffCookieTTL
	}
	if cfg.Secure == nil {
		cfg.Secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	return &Staff{cfg: cfg, log: cfg.Logger, cookieKey: cfg.Store.Subkey("helpline-staff-cookie"), ceremonies: map[string]*ceremony{}}
}

// rp is the relying party of one request: the host the passkey is bound to
// and the origin the browser must report.
type rp struct {
	id     string
	origin string
}

func (s *Staff) rpOf(r *http.Request) (rp, error) {
	if s.cfg.PublicURL != "" {
		u, err := url.Parse(s.cfg.PublicURL)
		if err != nil {
			return rp{}, err
		}
		return rp{id: u.Hostname(), origin: u.Scheme + "://" + u.Host}, nil
	}
	host := r.Host
	scheme := "http"
	if s.cfg.Secure(r) {
		scheme = "https"
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if name == "" || net.ParseIP(name) != nil {
		return rp{}, ErrIPHost
	}
	return rp{id: name, origin: scheme + "://" + host}, nil
}

func (s *Staff) webauthnFor(p rp) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{RPID: p.id, RPDisplayName: "parley helpline", RPOrigins: []string{p.origin}})
}

// user is a staff member as go-webauthn sees them.
type user struct {
	st    *store.Staff
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return u.st.Name }
func (u *user) WebAuthnDisplayName() string                { return u.st.Name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func userOf(st *store.Staff) (*user, error) {
	id, err := hex.DecodeString(st.ID)
	if err != nil {
		return nil, store.ErrCorrupt
	}
	u := &user{st: st, id: id}
	for _, raw := range st.Credentials {
		var c webauthn.Credential
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, store.ErrCorrupt
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

func (s *Staff) putCeremony(now time.Time, c *ceremony) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.ceremonies {
		if now.After(old.expires) {
			delete(s.ceremonies, id)
		}
	}
	if len(s.ceremonies) >= maxCeremonies {
		return "", errors.New("helpline: too many sign-ins at once")
	}
	id := randomString(16)
	c.expires = now.Add(ceremonyTTL)
	s.ceremonies[id] = c
	return id, nil
}

// takeCeremony removes and returns a ceremony: each is finished once.
func (s *Staff) takeCeremony(now time.Time, id string) (*ceremony, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ceremonies[id]
	delete(s.ceremonies, id)
	if c == nil || now.After(c.expires) {
		return nil, ErrNoCeremony
	}
	return c, nil
}

// BeginRegistration checks an invite (without using it) and returns the
// options for navigator.credentials.create and the ceremony's id.
func (s *Staff) BeginRegistration(now time.Time, r *http.Request, invite, name string) (string, *protocol.CredentialCreation, error) {
	if _, err := s.cfg.Store.PeekInvite(now, invite); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil, ErrNoInvite
		}
		return "", nil, err
	}
	p, err := s.rpOf(r)
	if err != nil {
		return "", nil, err
	}
	wa, err := s.webauthnFor(p)
	if err != nil {
		return "", nil, err
	}
	id := store.NewStaffID()
	u, _ := userOf(&store.Staff{ID: id, Name: name})
	creation, session, err := wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return "", nil, err
	}
	cid, err := s.putCeremony(now, &ceremony{session: *session, rp: p, invite: invite, name: name, id: id})
	return cid, creation, err
}

// FinishRegistration verifies the new passkey, uses the invite and stores
// the staff member. The invite is used only once the passkey verified, and
// in the same transaction that finds it: of two registrations racing with
// one link, one wins.
func (s *Staff) FinishRegistration(now time.Time, ceremonyID string, body []byte) (Member, error) {
	c, err := s.takeCeremony(now, ceremonyID)
	if err != nil {
		return Member{}, err
	}
	wa, err := s.webauthnFor(c.rp)
	if err != nil {
		return Member{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(body))
	if err != nil {
		return Member{}, fmt.Errorf("%w: %v", ErrBadPasskey, err)
	}
	u, _ := userOf(&store.Staff{ID: c.id, Name: c.name})
	cred, err := wa.CreateCredential(u, c.session, parsed)
	if err != nil {
		return Member{}, fmt.Errorf("%w: %v", ErrBadPasskey, err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return Member{}, err
	}
	inv, err := s.cfg.Store.UseInvite(now, c.invite)
	if errors.Is(err, store.ErrNotFound) {
		return Member{}, ErrNoInvite
	}
	if err != nil {
		return Member{}, err
	}
	st := &store.Staff{ID: c.id, Name: c.name, Role: inv.Role, Credentials: []json.RawMessage{raw}, Created: now}
	if err := s.cfg.Store.PutStaff(st); err != nil {
		return Member{}, err
	}
	s.log.Info("staff member registered", "role", inv.Role)
	return Member{ID: st.ID, Name: st.Name, Role: st.Role}, nil
}

// BeginLogin returns the options for navigator.credentials.get: any of
// this helpline's passkeys (discoverable, no name asked).
func (s *Staff) BeginLogin(now time.Time, r *http.Request) (string, *protocol.CredentialAssertion, error) {
	p, err := s.rpOf(r)
	if err != nil {
		return "", nil, err
	}
	wa, err := s.webauthnFor(p)
	if err != nil {
		return "", nil, err
	}
	assertion, session, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return "", nil, err
	}
	cid, err := s.putCeremony(now, &ceremony{session: *session, rp: p})
	return cid, assertion, err
}

// FinishLogin verifies an assertion and returns who signed in; the
// passkey's new sign count is stored.
func (s *Staff) FinishLogin(now time.Time, ceremonyID string, body []byte) (Member, error) {
	c, err := s.takeCeremony(now, ceremonyID)
	if err != nil {
		return Member{}, err
	}
	wa, err := s.webauthnFor(c.rp)
	if err != nil {
		return Member{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(body))
	if err != nil {
		return Member{}, fmt.Errorf("%w: %v", ErrBadPasskey, err)
	}
	var found *user
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		st, err := s.cfg.Store.GetStaff(hex.EncodeToString(userHandle))
		if err != nil {
			return nil, ErrNotStaff
		}
		if !st.Revoked.IsZero() {
			return nil, ErrNotStaff
		}
		if found, err = userOf(st); err != nil {
			return nil, err
		}
		return found, nil
	}
	_, cred, err := wa.ValidatePasskeyLogin(handler, c.session, parsed)
	if err != nil || found == nil {
		return Member{}, fmt.Errorf("%w: %v", ErrBadPasskey, err)
	}
	st := found.st
	for i, old := range found.creds {
		if bytes.Equal(old.ID, cred.ID) {
			if raw, err := json.Marshal(cred); err == nil {
				st.Credentials[i] = raw
			}
		}
	}
	if err := s.cfg.Store.PutStaff(st); err != nil {
		s.log.Warn("storing a passkey's sign count failed", "err", err)
	}
	return Member{ID: st.ID, Name: st.Name, Role: st.Role}, nil
}

// Cookie makes the staff cookie of a member: the staff id and its end,
// under an HMAC. It holds no secret of its own: what it proves is checked
// against the staff record (not revoked) at every use.
func (s *Staff) Cookie(r *http.Request, m Member, now time.Time) *http.Cookie {
	id, _ := hex.DecodeString(m.ID)
	exp := now.Add(s.cfg.CookieTTL)
	b := append(id, binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))...)
	b = append(b, s.mac(b)...)
	return s.cookie(r, base64.RawURLEncoding.EncodeToString(b), int(s.cfg.CookieTTL/time.Second))
}

// ClearCookie ends the sign-in in this browser.
func (s *Staff) ClearCookie(r *http.Request) *http.Cookie { return s.cookie(r, "", -1) }

func (s *Staff) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := s.cfg.Secure(r)
	name := StaffCookieName
	if secure {
		name = SecureStaffCookieName
	}
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
}

func (s *Staff) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write(b)
	return m.Sum(nil)
}

// Authenticate returns the staff member a request's cookie signs in, if
// the cookie is sound, not past its end, and its member not revoked.
func (s *Staff) Authenticate(r *http.Request, now time.Time) (Member, bool) {
	name := StaffCookieName
	if s.cfg.Secure(r) {
		name = SecureStaffCookieName
	}
	var value string
	n := 0
	for _, c := range r.Cookies() {
		if c.Name == name {
			value, n = c.Value, n+1
		}
	}
	if n != 1 {
		return Member{}, false // none, or an ambiguous pair (one may be planted)
	}
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) != 16+8+sha256.Size || !hmac.Equal(s.mac(b[:24]), b[24:]) {
		return Member{}, false
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(b[16:24])), 0); !now.Before(exp) {
		return Member{}, false
	}
	st, err := s.cfg.Store.GetStaff(hex.EncodeToString(b[:16]))
	if err != nil || !st.Revoked.IsZero() {
		return Member{}, false
	}
	return Member{ID: st.ID, Name: st.Name, Role: st.Role}, true
}

// NewInvite makes an invite for role by actor ("admin" or a coordinator's
// id) and returns its token, which is the link: shown once, never stored.
func (s *Staff) NewInvite(now time.Time, role string, actor Member) (string, store.Invite, error) {
	if role != store.RoleVolunteer && role != store.RoleCoordinator {
		return "", store.Invite{}, store.ErrBadInvite
	}
	if actor.ID != "admin" && (!actor.Coordinator() || role != store.RoleVolunteer) {
		return "", store.Invite{}, ErrNotAllowed // coordinators invite volunteers; the operator anyone
	}
	token := randomString(32)
	inv, err := s.cfg.Store.CreateInvite(now, token, role, actor.ID)
	if err != nil {
		return "", store.Invite{}, err
	}
	s.audit(now, actor, "invite-"+role, inv.ID)
	return token, inv, nil
}

// RevokeInvite ends an invite's link.
func (s *Staff) RevokeInvite(now time.Time, id string, actor Member) error {
	if err := s.cfg.Store.RevokeInvite(id); err != nil {
		return err
	}
	s.audit(now, actor, "revoke-invite", id)
	return nil
}

// Revoke ends a staff member's access: their cookie stops working at once,
// their connections end, and the record goes StaffRetention later.
// Coordinators may revoke volunteers; the operator anyone.
func (s *Staff) Revoke(now time.Time, id string, actor Member) error {
	st, err := s.cfg.Store.GetStaff(id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchStaff
	}
	if err != nil {
		return err
	}
	if actor.ID != "admin" && (!actor.Coordinator() || st.Role != store.RoleVolunteer) {
		return ErrNotAllowed
	}
	if !st.Revoked.IsZero() {
		return nil
	}
	st.Revoked = now
	if err := s.cfg.Store.PutStaff(st); err != nil {
		return err
	}
	s.audit(now, actor, "revoke-"+st.Role, id)
	if s.cfg.OnRevoke != nil {
		s.cfg.OnRevoke(id)
	}
	return nil
}

// LiftBlock lifts a helpline block.
func (s *Staff) LiftBlock(now time.Time, id string, actor Member) error {
	if err := s.cfg.Store.LiftHelplineBlock(id); err != nil {
		return err
	}
	s.audit(now, actor, "lift-block", id)
	return nil
}

// Audit records an action of a staff member or the operator; a failure is
// logged, never blocks the action.
func (s *Staff) Audit(now time.Time, actor Member, action, target string) {
	s.audit(now, actor, action, target)
}

func (s *Staff) audit(now time.Time, actor Member, action, target string) {
	if err := s.cfg.Store.Audit(store.AuditEntry{At: now, Actor: actor.ID, Name: actor.Name, Action: action, Target: target}); err != nil {
		s.log.Error("writing the audit log failed", "err", err)
	}
}

// Admin is the operator, as the audit log names them.
var Admin = Member{ID: "admin", Name: "operator", Role: store.RoleCoordinator}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
