package helpline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), Key: strings.Repeat("a1", 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// staffClient is a browser of the staff pages: a cookie jar against the
// staff API.
type staffClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

// newStaffClient talks to base by the name localhost: passkeys are bound
// to a host name, never an IP address.
func newStaffClient(t *testing.T, base string) *staffClient {
	base = strings.Replace(base, "127.0.0.1", "localhost", 1)
	jar, _ := cookiejar.New(nil)
	return &staffClient{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (sc *staffClient) do(method, path string, body any) (int, json.RawMessage) {
	sc.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, sc.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := sc.c.Do(req)
	if err != nil {
		sc.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

type ceremonyJSON struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

// register opens an invite link: a passkey and a name.
func (sc *staffClient) register(invite, name string) (*softKey, int) {
	sc.t.Helper()
	status, body := sc.do("POST", "/api/staff/register/begin", map[string]string{"invite": invite, "name": name})
	if status != http.StatusOK {
		return nil, status
	}
	var c ceremonyJSON
	_ = json.Unmarshal(body, &c)
	key, cred := create(sc.t, c.Options, sc.base)
	status, _ = sc.do("POST", "/api/staff/register/finish?ceremony="+c.Ceremony, cred)
	return key, status
}

func (sc *staffClient) login(key *softKey) int {
	sc.t.Helper()
	status, body := sc.do("POST", "/api/staff/login/begin", nil)
	if status != http.StatusOK {
		return status
	}
	var c ceremonyJSON
	_ = json.Unmarshal(body, &c)
	status, _ = sc.do("POST", "/api/staff/login/finish?ceremony="+c.Ceremony, key.get(sc.t, c.Options))
	return status
}

func (sc *staffClient) me() (Member, int) {
	status, body := sc.do("GET", "/api/staff/me", nil)
	var m Member
	_ = json.Unmarshal(body, &m)
	return m, status
}

// Passkey registration through an invite and sign-in, with a software
// authenticator; an invite works once and not after it was revoked; a
// revoked member's cookie and passkey stop working at once; coordinators
// invite volunteers, volunteers manage nothing.
func TestStaffPasskeys(t *testing.T) {
	st := openStore(t)
	var revoked []string
	staff := NewStaff(StaffConfig{Store: st, OnRevoke: func(id string) { revoked = append(revoked, id) }})
	srv := httptest.NewServer(staff.Handler())
	t.Cleanup(srv.Close)
	now := time.Now()

	token, _, err := staff.NewInvite(now, store.RoleCoordinator, Admin)
	if err != nil {
		t.Fatal(err)
	}
	coord := newStaffClient(t, srv.URL)
	if _, status := coord.me(); status != http.StatusUnauthorized {
		t.Fatalf("me before sign-in: %d", status)
	}
	byIP := newStaffClient(t, srv.URL)
	byIP.base = srv.URL
	if status, body := byIP.do("POST", "/api/staff/login/begin", nil); status != http.StatusBadRequest || !strings.Contains(string(body), "host name") {
		t.Fatalf("a sign-in by IP address: %d %s", status, body)
	}
	if _, status := coord.register(token, "<b>Ada</b>"); status != http.StatusBadRequest {
		t.Fatalf("a name with markup: %d", status)
	}
	key, status := coord.register(token, "Ada")
	if status != http.StatusOK {
		t.Fatalf("register: %d", status)
	}
	if m, status := coord.me(); status != http.StatusOK || m.Name != "Ada" || m.Role != store.RoleCoordinator {
		t.Fatalf("me after registration: %+v %d", m, status)
	}
	// The invite worked once.
	if _, status := newStaffClient(t, srv.URL).register(token, "Eve"); status != http.StatusNotFound {
		t.Fatalf("a second registration with one invite: %d", status)
	}
	// Sign out, sign in again with the passkey.
	coord.do("POST", "/api/staff/logout", nil)
	if _, status := coord.me(); status != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", status)
	}
	if status := coord.login(key); status != http.StatusOK {
		t.Fatalf("login: %d", status)
	}
	if m, _ := coord.me(); m.Name != "Ada" {
		t.Fatalf("me after login: %+v", m)
	}

	// A coordinator invites volunteers, not coordinators.
	status, body := coord.do("POST", "/api/staff/invites", map[string]string{"role": store.RoleCoordinator})
	if status != http.StatusForbidden {
		t.Fatalf("a coordinator inviting a coordinator: %d %s", status, body)
	}
	status, body = coord.do("POST", "/api/staff/invites", map[string]string{})
	var inv NewInviteJSON
	if err := json.Unmarshal(body, &inv); status != http.StatusOK || err != nil || inv.Role != store.RoleVolunteer || !strings.HasPrefix(inv.Path, InvitePath) {
		t.Fatalf("a coordinator's invite: %d %s", status, body)
	}
	// Revoked before use: the link stops working.
	if status, _ := coord.do("DELETE", "/api/staff/invites/"+inv.ID, nil); status != http.StatusNoContent {
		t.Fatalf("revoking an invite: %d", status)
	}
	if _, status := newStaffClient(t, srv.URL).register(inv.Token, "Sam"); status != http.StatusNotFound {
		t.Fatalf("registering with a revoked invite: %d", status)
	}
	_, body = coord.do("POST", "/api/staff/invites", map[string]string{})
	_ = json.Unmarshal(body, &inv)
	vol := newStaffClient(t, srv.URL)
	volKey, status := vol.register(inv.Token, "Sam")
	if status != http.StatusOK {
		t.Fatalf("a volunteer's registration: %d", status)
	}
	m, _ := vol.me()
	if status, _ := vol.do("GET", "/api/staff/invites", nil); status != http.StatusForbidden {
		t.Fatalf("a volunteer listing invites: %d", status)
	}
	// Writes from another site are refused whatever the cookie.
	req, _ := http.NewRequest("POST", coord.base+"/api/staff/invites", strings.NewReader(`{}`))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, err := coord.c.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site write: %v %v", res.StatusCode, err)
	}

	// Revoked: the cookie and the passkey stop working at once.
	if status, _ := coord.do("DELETE", "/api/staff/members/"+m.ID, nil); status != http.StatusNoContent {
		t.Fatalf("revoking: %d", status)
	}
	if len(revoked) != 1 || revoked[0] != m.ID {
		t.Fatalf("OnRevoke told %v", revoked)
	}
	if _, status := vol.me(); status != http.StatusUnauthorized {
		t.Fatalf("a revoked member's cookie: %d", status)
	}
	if status := vol.login(volKey); status != http.StatusBadRequest {
		t.Fatalf("a revoked member's passkey: %d", status)
	}
	// Everything the coordinators did is in the audit log.
	status, body = coord.do("GET", "/api/staff/audit", nil)
	var log []store.AuditEntry
	if err := json.Unmarshal(body, &log); status != http.StatusOK || err != nil {
		t.Fatalf("audit: %d %s", status, body)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	mine := func(a string) string { return coordID(t, coord) + ":" + a }
	want := []string{mine("revoke-volunteer"), mine("invite-volunteer"), mine("revoke-invite"), mine("invite-volunteer"), "admin:invite-coordinator"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("audit log %v, want %v", actions, want)
	}
}

func coordID(t *testing.T, sc *staffClient) string {
	m, _ := sc.me()
	return m.ID
}

// A forged, expired or doubled staff cookie signs nobody in.
func TestStaffCookie(t *testing.T) {
	st := openStore(t)
	staff := NewStaff(StaffConfig{Store: st, CookieTTL: time.Hour})
	id := store.NewStaffID()
	if err := st.PutStaff(&store.Staff{ID: id, Name: "Sam", Role: store.RoleVolunteer, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req := httptest.NewRequest("GET", "/", nil)
	good := staff.Cookie(req, Member{ID: id, Name: "Sam", Role: store.RoleVolunteer}, now)
	if !good.HttpOnly || good.SameSite != http.SameSiteStrictMode || good.MaxAge != 3600 || good.Name != StaffCookieName {
		t.Fatalf("cookie %+v", good)
	}
	tls := httptest.NewRequest("GET", "https://example.org/", nil)
	if c := staff.Cookie(tls, Member{ID: id}, now); c.Name != SecureStaffCookieName || !c.Secure {
		t.Fatalf("cookie under TLS %+v", c)
	}
	with := func(cookies ...*http.Cookie) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		return r
	}
	if m, ok := staff.Authenticate(with(good), now); !ok || m.ID != id {
		t.Fatal("a good cookie was refused")
	}
	if _, ok := staff.Authenticate(with(good), now.Add(time.Hour)); ok {
		t.Error("a cookie past its end signed in")
	}
	forged := *good
	forged.Value = strings.ToUpper(forged.Value[:10]) + forged.Value[10:]
	if _, ok := staff.Authenticate(with(&forged), now); ok {
		t.Error("a forged cookie signed in")
	}
	if _, ok := staff.Authenticate(with(good, good), now); ok {
		t.Error("two cookies of the name signed in")
	}
	other := NewStaff(StaffConfig{Store: openStore(t)})
	if _, ok := other.Authenticate(with(good), now); ok {
		t.Error("another server's cookie signed in")
	}
	if !errors.Is(other.Revoke(now, "00", Admin), ErrNoSuchStaff) {
		t.Error("revoking nobody")
	}
}
