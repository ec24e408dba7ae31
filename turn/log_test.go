package turn

import (
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, keep string }{
		{"Received AllocateRequest from 203.0.113.9:40844", "received AllocateRequest from <redacted>"},
		{"permission denied for client [2001:db8::1]:5000 to peer fe80::1%eth0", "permission denied for client <redacted> to peer <redacted>"},
		{"no allocation found 203.0.113.9:40844:127.0.0.1:3478", "no allocation found <redacted>"},
		{"from [fe80::1%eth0]:55886 and [::ffff:192.0.2.1]:443", "from <redacted> and <redacted>"},
		{"peer ::ffff:10.0.0.1 and ::1 and 64:ff9b::a00:1", "peer <redacted> and <redacted> and <redacted>"},
		{"no such user exists 1795403318:ending", "no such user exists <redacted>"},
		{"no such user exists garbage", "no such user exists <redacted>"},
		{"five tuple UDP_10.1.2.3:5_10.1.2.4:6", "five tuple UDP_<redacted>_<redacted>"},
		{"Failed to remove ChannelBind for 16384 3132372e302e302e313a35303030", "failed to remove ChannelBind for 16384 <redacted>"},
		{"session 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "session <redacted>"},
		{"TURN packet of 36 bytes", "TURN packet of 36 bytes"},
	}
	for _, tt := range tests {
		if got := lowerFirst(redact(tt.in)); got != tt.keep {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.keep)
		}
	}
	if strings.Contains(redact("a 1.2.3.4 b"), "1.2.3.4") {
		t.Error("IPv4 kept")
	}
}

// pion's per-packet levels land at debug; warnings and errors keep theirs.
func TestPionLoggerLevels(t *testing.T) {
	var b syncBuffer
	f := pionLoggerFactory{l: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l := f.NewLogger("turn")
	l.Tracef("trace %d", 1)
	l.Debug("debug")
	l.Infof("No Permission or Channel exists for %v", "203.0.113.9:1")
	if b.String() != "" {
		t.Fatalf("trace, debug or info reached info level: %s", b.String())
	}
	l.Warnf("warn %s", "10.1.2.3:4")
	l.Errorf("Failed to send for %s", "[2001:db8::1]:5")
	out := b.String()
	for _, want := range []string{"level=WARN", "level=ERROR", `msg="failed to send for <redacted>"`, "pion=turn"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %s", want, out)
		}
	}
	if strings.Contains(out, "10.1.2.3") || strings.Contains(out, "2001:db8") {
		t.Errorf("an address reached the log: %s", out)
	}
}

// Issue 10, point 14: debug logs kept client source ports
// ("<redacted>:55886"), which tell clients apart as well as their addresses
// do. A real client allocates, asks for permissions and relays with pion's
// per-packet debug lines on; its source port is in none of them.
func TestDebugLogsKeepSourcePorts(t *testing.T) {
	ts := newTestServer(t, listenOn2)
	a := ts.sessionClient(t, ts.live("alice"))
	b := ts.sessionClient(t, ts.live("bob"))
	relayA, relayB := a.mustAllocate(t), b.mustAllocate(t)
	mustRelay(t, relayA, relayB, []byte("ports"))
	_ = a.createPermission(t, netip.MustParseAddrPort("127.0.0.1:9")) // refused: a debug line
	if !strings.Contains(ts.logs.String(), "<redacted>") {
		t.Fatal("no redacted debug line: the check below would prove nothing")
	}
	for _, c := range []*turnClient{a, b} {
		p := ":" + strconv.Itoa(int(addrPort(c.conn.LocalAddr()).Port()))
		if logs := ts.logs.String(); strings.Contains(logs, p) {
			t.Errorf("a log line holds the client source port %s:\n%s", p, logs)
		}
	}
}
