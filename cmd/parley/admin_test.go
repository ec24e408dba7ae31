package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/store"
)

const testAdminToken = "test-admin-token-0123456789"

// startOpsApp starts the whole server with the admin listener on a loopback
// port and, when token is set, the admin API.
func startOpsApp(t *testing.T, token string, mutate func(*Config)) *testApp {
	t.Helper()
	return startTestApp(t, func(c *Config) {
		c.AdminListen = "127.0.0.1:0"
		c.AdminToken = token
		if mutate != nil {
			mutate(c)
		}
	})
}

// adminURL is the base URL of the admin listener.
func (ta *testApp) adminURL(t testing.TB) string {
	t.Helper()
	if ta.admin == nil {
		t.Fatal("the admin listener is off")
	}
	return "http://" + ta.admin.ln.Addr().String()
}

// do sends a request and returns the status and body.
func do(t testing.TB, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// dialPeer connects a signaling-only client and registers its close.
func dialPeer(t testing.TB, ta *testApp, from string) *client.Client {
	t.Helper()
	cfg := client.Config{URL: ta.WSURL}
	if from != "" {
		cfg.LocalAddr = netip.MustParseAddr(from)
	}
	return dialClient(t, cfg)
}

// dialClient connects a client and registers its close.
func dialClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitEvent waits for one of the event types.
func waitEvent(t testing.TB, c *client.Client, types ...string) client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := c.WaitFor(ctx, types...)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestAdminAPIToken(t *testing.T) {
	ta := startOpsApp(t, testAdminToken, nil)
	base := ta.adminURL(t)
	paths := []struct{ method, path string }{
		{"GET", "/admin/bans"},
		{"GET", "/admin/stats"},
		{"DELETE", "/admin/bans/" + strings.Repeat("ab", 32)},
	}
	for _, p := range paths {
		t.Run(p.method+p.path, func(t *testing.T) {
			for _, bad := range []struct{ name, header string }{
				{"missing", ""},
				{"wrong", "Bearer not-the-token"},
				{"prefix of the token", "Bearer " + testAdminToken[:10]},
				{"token plus more", "Bearer " + testAdminToken + "x"},
				{"no scheme", testAdminToken},
				{"basic scheme", "Basic " + testAdminToken},
				{"empty bearer", "Bearer "},
			} {
				req, _ := http.NewRequest(p.method, base+p.path, nil)
				if bad.header != "" {
					req.Header.Set("Authorization", bad.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", bad.name, resp.StatusCode)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", bad.name)
				}
			}
			req, _ := http.NewRequest(p.method, base+p.path, nil)
			req.Header.Set("Authorization", "bearer "+testAdminToken)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("a lower-case scheme is refused: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			status, _ := do(t, p.method, base+p.path, testAdminToken)
			want := http.StatusOK
			if p.method == "DELETE" {
				want = http.StatusNotFound // no such ban, but past the lock
			}
			if status != want {
				t.Errorf("with the token: status %d, want %d", status, want)
			}
		})
	}
}

func TestAdminAPIOffWithoutToken(t *testing.T) {
	ta := startOpsApp(t, "", nil)
	base := ta.adminURL(t)
	for _, p := range []string{"/admin/bans", "/admin/stats"} {
		if status, _ := do(t, "GET", base+p, "anything"); status != http.StatusNotFound {
			t.Errorf("GET %s without a configured token: %d, want 404", p, status)
		}
	}
	if status, _ := do(t, "DELETE", base+"/admin/bans/"+strings.Repeat("ab", 32), ""); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE without a configured token: %d, want 404", status)
	}
	// Health and metrics stay.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, _ := do(t, "GET", base+p, ""); status != http.StatusOK {
			t.Errorf("GET %s: %d", p, status)
		}
	}
}

func TestAdminListenerOff(t *testing.T) {
	ta := startTestApp(t, nil) // the harness turns it off
	if ta.admin != nil {
		t.Fatal("--admin-listen off still made an admin listener")
	}
}

func TestAdminBans(t *testing.T) {
	ta := startOpsApp(t, testAdminToken, func(c *Config) { c.BanAfter = 1 })
	base := ta.adminURL(t)
	now := time.Now()
	target := netip.MustParseAddr("198.51.100.7")
	ban, banned, err := ta.store.Report(now, target, store.Reporter{Addr: netip.MustParseAddr("203.0.113.9")}, "abuse")
	if err != nil || !banned {
		t.Fatalf("report: banned=%v err=%v", banned, err)
	}

	type bansResp struct {
		Bans []struct {
			Key   string    `json:"key"`
			Until time.Time `json:"until"`
			Count int       `json:"count"`
		} `json:"bans"`
	}
	list := func() bansResp {
		t.Helper()
		status, body := do(t, "GET", base+"/admin/bans", testAdminToken)
		if status != http.StatusOK {
			t.Fatalf("GET /admin/bans: %d %s", status, body)
		}
		if strings.Contains(body, target.String()) {
			t.Fatal("the ban list holds the banned address")
		}
		var r bansResp
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return r
	}
	got := list()
	if len(got.Bans) != 1 || got.Bans[0].Key != ban.Key || got.Bans[0].Count != 1 || !got.Bans[0].Until.Equal(ban.Until) {
		t.Fatalf("bans = %+v, want the one of key %s until %v", got, ban.Key, ban.Until)
	}

	// An operator can find the ban of an address someone wrote in with.
	for _, tc := range []struct {
		addr, want string
		status     int
	}{
		{target.String(), ban.Key, http.StatusOK},
		{"::ffff:" + target.String(), ban.Key, http.StatusOK},
		{"203.0.113.9", `"banned": false`, http.StatusOK},
		{"not-an-address", "addr must be", http.StatusBadRequest},
	} {
		status, body := do(t, "GET", base+"/admin/ban-lookup?addr="+url.QueryEscape(tc.addr), testAdminToken)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("lookup %s: %d %s", tc.addr, status, body)
		}
	}
	if status, _ := do(t, "GET", base+"/admin/ban-lookup?addr="+target.String(), ""); status != http.StatusUnauthorized {
		t.Errorf("lookup without a token: %d", status)
	}

	for _, tc := range []struct {
		key  string
		want int
	}{
		{"not-hex", http.StatusBadRequest},
		{strings.Repeat("ab", 31), http.StatusBadRequest},
		{strings.Repeat("cd", 32), http.StatusNotFound},
		{ban.Key, http.StatusNoContent},
		{ban.Key, http.StatusNotFound}, // already lifted
	} {
		if status, body := do(t, "DELETE", base+"/admin/bans/"+tc.key, testAdminToken); status != tc.want {
			t.Errorf("DELETE %s: %d %s, want %d", tc.key, status, body, tc.want)
		}
	}
	if got := list(); len(got.Bans) != 0 {
		t.Fatalf("bans after lifting: %+v", got)
	}
	if _, banned, _ := ta.store.Banned(now, target); banned {
		t.Fatal("the store still bans the address")
	}
}

func TestAdminStats(t *testing.T) {
	ta := startOpsApp(t, testAdminToken, nil)
	a, b := dialPeer(t, ta, ""), dialPeer(t, ta, "")
	for _, c := range []*client.Client{a, b} {
		if err := c.Join(client.Join{Name: "Stats"}); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, a, proto.TypeMatched)
	waitEvent(t, b, proto.TypeMatched)

	status, body := do(t, "GET", ta.adminURL(t)+"/admin/stats", testAdminToken)
	if status != http.StatusOK {
		t.Fatalf("GET /admin/stats: %d %s", status, body)
	}
	var st adminStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if st.Version != version || st.Goroutines < 1 || st.Memory.SysBytes == 0 || st.Memory.HeapAllocBytes == 0 {
		t.Errorf("process part: %+v", st)
	}
	if st.Connections.Open != 2 || st.Connections.Total < 2 || st.PairsTotal < 1 || st.Sessions < 2 {
		t.Errorf("totals: %+v", st)
	}
	if st.Relay == nil || st.BansActive == nil || *st.BansActive != 0 {
		t.Errorf("relay %v, bans active %v", st.Relay, st.BansActive)
	}
	for _, leak := range []string{a.Token(), b.Token(), ta.store.SessionKey(a.Token()).Hex(), "Stats", "127.0.0.1"} {
		if strings.Contains(body, leak) {
			t.Errorf("/admin/stats holds %q", leak)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Run("store closed", func(t *testing.T) {
		ta := startOpsApp(t, "", nil)
		base := ta.adminURL(t)
		if status, body := do(t, "GET", base+"/readyz", ""); status != http.StatusOK {
			t.Fatalf("readyz of a fresh server: %d %s", status, body)
		}
		if err := ta.store.Close(); err != nil {
			t.Fatal(err)
		}
		status, body := do(t, "GET", base+"/readyz", "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "store: store: closed") {
			t.Fatalf("readyz with the store closed: %d %q", status, body)
		}
		if status, _ := do(t, "GET", base+"/healthz", ""); status != http.StatusOK {
			t.Fatalf("healthz: %d, the process still lives", status)
		}
	})
	t.Run("shutting down", func(t *testing.T) {
		ta := startOpsApp(t, "", nil)
		base := ta.adminURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ta.sig.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		status, body := do(t, "GET", base+"/readyz", "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "signaling: shutting down") {
			t.Fatalf("readyz while shutting down: %d %q", status, body)
		}
	})
	t.Run("relay closed", func(t *testing.T) {
		ta := startOpsApp(t, "", nil)
		base := ta.adminURL(t)
		if err := ta.admin.relay.Close(); err != nil {
			t.Fatal(err)
		}
		status, body := do(t, "GET", base+"/readyz", "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "relay: ") || strings.Contains(body, "relay: ok") {
			t.Fatalf("readyz with the relay closed: %d %q", status, body)
		}
	})
	t.Run("relay off", func(t *testing.T) {
		ta := startOpsApp(t, "", func(c *Config) { c.TURNListen = "off" })
		if status, body := do(t, "GET", ta.adminURL(t)+"/readyz", ""); status != http.StatusOK {
			t.Fatalf("readyz without a relay: %d %q", status, body)
		}
	})
}
