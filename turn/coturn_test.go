package turn

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// uclient is Debian's coturn test client (package coturn). scripts/bench-turn
// installs it; without it these tests are skipped with a note, since they
// check interoperability, which the pion-client tests above check too.
const uclient = "/usr/bin/turnutils_uclient"

// A peer the policy forbids is refused with 403 Forbidden on UDP, TCP and
// TLS as coturn's own client sees it, for its CreatePermission and its
// ChannelBind (RFC 8656); coturn answers the same, and a 401 there made
// clients retry their credentials. The peer is 127.0.0.1 and the relay is on
// 127.0.0.2: loopback is forbidden, and nothing leaves the machine.
func TestForbiddenPeerCoturnClient(t *testing.T) {
	if _, err := os.Stat(uclient); err != nil {
		t.Fatalf("coturn's turnutils_uclient is missing (scripts/test installs Debian's coturn): %v", err)
	}
	tlsCfg := selfSignedTLS(t)
	ts := newTestServer(t, func(c *Config) {
		listenOn2(c)
		c.TLS, c.TLSListen = tlsCfg, "127.0.0.2:0"
	})
	for _, tc := range []struct {
		name  string
		flags []string
		port  int
	}{
		{"udp", nil, port(ts.UDPAddr())},
		{"tcp", []string{"-t"}, port(ts.TCPAddr())},
		{"tls", []string{"-t", "-S"}, port(ts.TLSAddr())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := ts.Credentials(ts.live("coturn-"+tc.name), time.Now())
			ts.secrets = append(ts.secrets, pass)
			// The client binds a channel to the peer after its allocation;
			// -G adds explicit CreatePermission requests; -c one allocation.
			args := append(tc.flags, "-c", "-G", "-n", "1", "-m", "1", "-u", user, "-w", pass,
				"-p", strconv.Itoa(tc.port), "-L", "127.0.0.1", "-e", "127.0.0.1", "-r", "9", "127.0.0.2")
			out := runUclient(t, args...)
			t.Logf("%s", out)
			if !forbidden403.MatchString(out) {
				t.Errorf("no 403 in the client's output")
			}
			if unauthorized401.MatchString(out) {
				t.Errorf("a 401 for a forbidden peer")
			}
		})
	}
}

var (
	forbidden403    = regexp.MustCompile(`(?i)\b403\b`)
	unauthorized401 = regexp.MustCompile(`(?i)(channel bind|permission)[^\n]*\b401\b`)
)

func runUclient(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, uclient, args...)
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	return string(out)
}
