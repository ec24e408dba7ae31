package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/store"
)

func TestHelplineFlags(t *testing.T) {
	env := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--helpline"}, ""},
		{[]string{"--helpline", "--helpline-hours", "every day 18:00-23:00", "--helpline-adult-only", "--helpline-capacity", "3", "--public-url", "https://help.example.org"}, ""},
		{[]string{"--helpline", "--turn-listen", "off"}, "needs the relay"},
		{[]string{"--helpline", "--helpline-capacity", "0"}, "capacity"},
		{[]string{"--helpline", "--helpline-offer-timeout", "10ms"}, "offer-timeout"},
		{[]string{"--helpline", "--public-url", "help.example.org"}, "public URL"},
		{[]string{"--turn-listen", "off"}, ""}, // without the helpline, no relay is fine
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseConfig(tc.args, env, &strings.Builder{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			case tc.want == "" && cfg.Helpline.On && cfg.Helpline.config() == nil:
				t.Fatal("no helpline config")
			}
		})
	}
	// Everyone in the helpline is relayed: a volunteer's session needs
	// room for its chats and notes over every TURN transport.
	cfg, _ := parseConfig([]string{"--helpline"}, env, &strings.Builder{})
	if got := cfg.Helpline.relayAllocations(); got != 3*(helpline.DefaultMaxCapacity+2) {
		t.Errorf("relay allocations per session %d", got)
	}
	if cfg, _ := parseConfig(nil, env, &strings.Builder{}); cfg.Helpline.relayAllocations() != 0 {
		t.Error("relay allocations raised without a helpline")
	}
	var out strings.Builder
	run([]string{"-h"}, env, &out, &out)
	for _, want := range []string{"--helpline ", "PARLEY_HELPLINE_HOURS", "--public-url", "parley invite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not mention %q", want)
		}
	}
}

func startHelplineApp(t *testing.T) *testApp {
	return startOpsApp(t, testAdminToken, func(c *Config) {
		c.Helpline.On = true
		c.Helpline.PublicURL = "https://help.example.org"
	})
}

// doJSON sends a request with a JSON body and decodes the answer.
func doJSON(t testing.TB, method, url, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}

// The admin API makes, lists and revokes invites, lists and revokes
// staff, and lists the audit log; all behind the token.
func TestAdminHelpline(t *testing.T) {
	ta := startHelplineApp(t)
	base := ta.adminURL(t)
	for _, path := range []string{"/admin/invites", "/admin/staff", "/admin/helpline-blocks", "/admin/audit"} {
		if status, _ := do(t, "GET", base+path, "wrong"); status != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d", path, status)
		}
	}
	var inv struct {
		helpline.NewInviteJSON
		Link string `json:"link"`
	}
	if status := doJSON(t, "POST", base+"/admin/invites", testAdminToken, `{"role":"coordinator"}`, &inv); status != http.StatusOK {
		t.Fatalf("POST /admin/invites: %d", status)
	}
	if inv.Role != store.RoleCoordinator || inv.Link != "https://help.example.org"+helpline.InvitePath+inv.Token || inv.Expires.Sub(inv.Created) != store.InviteLifetime {
		t.Fatalf("invite %+v", inv)
	}
	if status := doJSON(t, "POST", base+"/admin/invites", testAdminToken, `{"role":"boss"}`, nil); status != http.StatusBadRequest {
		t.Fatalf("an invite for a role that is none: %d", status)
	}
	var list []helpline.InviteJSON
	doJSON(t, "GET", base+"/admin/invites", testAdminToken, "", &list)
	if len(list) != 1 || list[0].ID != inv.ID || list[0].By != "admin" {
		t.Fatalf("GET /admin/invites: %+v", list)
	}
	if status, _ := do(t, "DELETE", base+"/admin/invites/"+inv.ID, testAdminToken); status != http.StatusNoContent {
		t.Fatalf("DELETE /admin/invites: %d", status)
	}
	if _, err := ta.store.PeekInvite(time.Now(), inv.Token); err == nil {
		t.Fatal("the revoked invite still works")
	}
	st := &store.Staff{ID: store.NewStaffID(), Name: "Sam", Role: store.RoleVolunteer, Created: time.Now()}
	if err := ta.store.PutStaff(st); err != nil {
		t.Fatal(err)
	}
	var members []helpline.MemberJSON
	doJSON(t, "GET", base+"/admin/staff", testAdminToken, "", &members)
	if len(members) != 1 || members[0].Name != "Sam" || members[0].Revoked != nil {
		t.Fatalf("GET /admin/staff: %+v", members)
	}
	if status, _ := do(t, "DELETE", base+"/admin/staff/"+st.ID, testAdminToken); status != http.StatusNoContent {
		t.Fatalf("DELETE /admin/staff: %d", status)
	}
	if status, _ := do(t, "DELETE", base+"/admin/staff/"+store.NewStaffID(), testAdminToken); status != http.StatusNotFound {
		t.Fatalf("revoking nobody: %d", status)
	}
	var audit []store.AuditEntry
	doJSON(t, "GET", base+"/admin/audit", testAdminToken, "", &audit)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	if strings.Join(actions, " ") != "admin:revoke-volunteer admin:revoke-invite admin:invite-coordinator" {
		t.Fatalf("audit log %v", actions)
	}
}

func TestInviteCommand(t *testing.T) {
	ta := startHelplineApp(t)
	env := map[string]string{"PARLEY_ADMIN_LISTEN": ta.admin.ln.Addr().String(), "PARLEY_ADMIN_TOKEN": testAdminToken}
	code, out, errOut := runCmd(env, "invite", "--role", "coordinator")
	if code != 0 {
		t.Fatalf("parley invite: %d %s", code, errOut)
	}
	i := strings.Index(out, "https://help.example.org"+helpline.InvitePath)
	if i < 0 || !strings.Contains(out, "coordinator") {
		t.Fatalf("the output:\n%s", out)
	}
	token := strings.Fields(out[i+len("https://help.example.org"+helpline.InvitePath):])[0]
	if inv, err := ta.store.PeekInvite(time.Now(), token); err != nil || inv.Role != store.RoleCoordinator {
		t.Fatalf("the printed link: %+v %v", inv, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no token", map[string]string{"PARLEY_ADMIN_LISTEN": env["PARLEY_ADMIN_LISTEN"]}, nil, 2, "PARLEY_ADMIN_TOKEN"},
		{"wrong token", map[string]string{"PARLEY_ADMIN_LISTEN": env["PARLEY_ADMIN_LISTEN"], "PARLEY_ADMIN_TOKEN": "nope"}, nil, 1, "401"},
		{"a role that is none", env, []string{"--role", "boss"}, 1, "400"},
		{"an argument", env, []string{"extra"}, 2, "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(tc.env, append([]string{"invite"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}
