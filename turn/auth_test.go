package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

func TestCredentialsFormat(t *testing.T) {
	ts := newTestServer(t, nil)
	now := time.Unix(1_700_000_000, 0)
	user, pass := ts.Credentials("abc", now)
	if want := strconv.FormatInt(now.Add(DefaultCredentialTTL).Unix(), 10) + ":abc"; user != want {
		t.Errorf("username %q, want %q", user, want)
	}
	m := hmac.New(sha1.New, testSecret)
	m.Write([]byte(user))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); pass != want {
		t.Errorf("password %q, want %q", pass, want)
	}

	servers := ts.ICEServers("abc", now)
	if len(servers) != 1 || servers[0].Username != user || servers[0].Credential != pass {
		t.Fatalf("ICEServers = %+v", servers)
	}
	udp, tcp := port(ts.UDPAddr()), port(ts.TCPAddr())
	want := []string{
		fmt.Sprintf("stun:127.0.0.1:%d", udp),
		fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", udp),
		fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", tcp),
	}
	if got := strings.Join(servers[0].URLs, " "); got != strings.Join(want, " ") {
		t.Errorf("URLs %s, want %s", got, want)
	}
}

func TestCredentialsRefused(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.Banned = func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
	})
	// The ban applies to 127.0.0.1 only: other clients come from 127.0.0.3.
	id := ts.live("live-session")
	ended := ts.live("ended-session")
	ts.sessions.set(ended, false)
	now := time.Now()

	user, pass := ts.Credentials(id, now)
	expiredUser, expiredPass := ts.Credentials(id, now.Add(-DefaultCredentialTTL-time.Minute))
	endedUser, endedPass := ts.Credentials(ended, now)
	exp, _, _ := strings.Cut(user, ":")
	n, _ := strconv.ParseInt(exp, 10, 64)
	tamperedUser := strconv.FormatInt(n+86400, 10) + ":" + id // a longer life, same password
	_, otherPass := ts.Credentials("someone-else", now)
	ts.secrets = append(ts.secrets, pass, expiredPass, endedPass, otherPass)

	tests := []struct {
		name       string
		from       string
		user, pass string
		want       int
	}{
		{"expired", "127.0.0.3", expiredUser, expiredPass, 401},
		{"tampered", "127.0.0.3", tamperedUser, pass, 401},
		{"wrong password", "127.0.0.3", user, otherPass, 401},
		{"ended session", "127.0.0.3", endedUser, endedPass, 401},
		{"unknown session", "127.0.0.3", strconv.FormatInt(n, 10) + ":nobody", "x", 401},
		{"malformed", "127.0.0.3", "no-expiry", "x", 401},
		{"banned address", "127.0.0.1", user, pass, 403},
		{"valid", "127.0.0.3", user, pass, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := udpSink(t, tt.from+":0")
			c := startClient(t, ts.UDPAddr().String(), conn, tt.user, tt.pass)
			err := c.allocate()
			if got := stunCode(err); got != tt.want || (tt.want == 0) != (err == nil) {
				t.Fatalf("allocate: code %d (%v), want %d", got, err, tt.want)
			}
		})
	}
	st := ts.Stats()
	if st.Refused.Auth != 6 || st.Refused.Banned != 1 || st.AllocationsTotal != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A session that ends stops its relay at once: EndSession closes its
// allocations, and a refresh with its credential is refused.
func TestEndSession(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.live("ending")
	c := ts.sessionClient(t, id)
	c.mustAllocate(t)
	other := ts.sessionClient(t, ts.live("staying"))
	other.mustAllocate(t)
	eventually(t, "two allocations", func() bool { return ts.Stats().Allocations == 2 })

	ts.sessions.set(id, false)
	if n := ts.EndSession(id); n != 1 {
		t.Fatalf("EndSession closed %d allocations, want 1", n)
	}
	eventually(t, "one allocation", func() bool { return ts.Stats().Allocations == 1 })
	res := c.request(t, stun.MethodRefresh)
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil || code.Code != stun.CodeUnauthorized {
		t.Errorf("refresh of an ended session: %s %v", res.Type, code)
	}
}
