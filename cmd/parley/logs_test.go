package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/proto"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/signaling/signalingtest"
)

// TestLogsHoldNothingPersonal runs chats between people on 127.0.0.2 and
// 127.0.0.3 through every kind of event that logs (pairing, next, report
// and ban, resume, the HTTP API, shutdown) and checks that no log line
// holds an address of theirs, a token, a session id, a name, a preference
// or an interest.
func TestLogsHoldNothingPersonal(t *testing.T) {
	const (
		nameA, nameB = "Zqxcanaryann", "Zqxcanarybob"
		prefA, prefB = "zqxprefleft", "zqxprefright"
		interest     = "zqxinterest"
	)
	topics := filepath.Join(t.TempDir(), "topics.json")
	if err := os.WriteFile(topics, []byte(`{"preferences":[{"id":"`+prefA+`","label":"A"},{"id":"`+prefB+`","label":"B"}],
		"statements":[{"id":"zqxstatement","text":"A statement."}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := startOpsApp(t, testAdminToken, func(c *Config) {
		c.BanAfter = 1
		c.Topics = topics
	})

	a, b := dialPeer(t, ta, "127.0.0.2"), dialPeer(t, ta, "127.0.0.3")
	secrets := []string{nameA, nameB, prefA, prefB, interest, "127.0.0.2", "127.0.0.3"}
	for _, c := range []*client.Client{a, b} {
		secrets = append(secrets, c.Token(), ta.store.SessionKey(c.Token()).Hex())
	}
	pair := func(ja, jb client.Join) {
		t.Helper()
		if err := a.Join(ja); err != nil {
			t.Fatal(err)
		}
		if err := b.Join(jb); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, a, proto.TypeMatched)
		waitEvent(t, b, proto.TypeMatched)
	}

	// Opposite mode, then interests; ended with leave.
	pair(client.Join{Mode: "opposite", Name: nameA, Preference: prefA},
		client.Join{Mode: "opposite", Name: nameB, Preference: prefB})
	_ = a.Leave()
	waitEvent(t, a, proto.TypeLeft)
	waitEvent(t, b, proto.TypePartnerLeft)
	pair(client.Join{Mode: "interests", Name: nameA, Interests: []string{interest}},
		client.Join{Mode: "interests", Name: nameB, Interests: []string{interest}})

	// A drops and resumes with its cookie.
	a.Drop()
	waitEvent(t, b, proto.TypePartnerReconnecting)
	a = dialClient(t, client.Config{URL: ta.WSURL, Token: a.Token(), LocalAddr: netip.MustParseAddr("127.0.0.2")})
	if ev := waitEvent(t, a, proto.TypeMatched); ev.Msg.Resumed == nil || !*ev.Msg.Resumed {
		t.Fatalf("not resumed: %+v", ev.Msg)
	}

	// A bad message, the HTTP API with A's cookie, then a report that bans B.
	_ = a.SendJSON(map[string]any{"type": "join", "mode": "random", "media": "text", "name": nameA + "<>", "consent": true, "adult": true})
	waitEvent(t, a, proto.TypeError)
	for _, path := range []string{"/api/me", "/api/stats", "/privacy", "/no-such-page?q=" + nameA} {
		req, _ := http.NewRequest("GET", ta.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: signaling.CookieName, Value: a.Token()})
		req.Header.Set("User-Agent", nameA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := a.Report("abuse"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, proto.TypeReported)
	waitEvent(t, b, proto.TypeBanned)
	if status, _ := do(t, "GET", ta.adminURL(t)+"/admin/bans", testAdminToken); status != http.StatusOK {
		t.Fatalf("admin bans: %d", status)
	}
	ta.stop(t)

	logs := ta.Logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold %q:\n%s", s, grepLines(logs, s))
		}
	}
	// The events an operator needs are there.
	for _, want := range []string{
		`msg="parley serving"`, `msg="turn relay listening"`, `msg="address banned after reports"`,
		`msg="turn relay closed"`, `msg="http request" component=http method=GET path=/api/me status=200`,
		`path=/ws status=101`, `path=/no-such-page status=404`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line with %s", want)
		}
	}
}

func TestRedactAddrs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http: TLS handshake error from 192.0.2.7:51234: EOF", "http: TLS handshake error from <addr>: EOF"},
		{"http: panic serving [2001:db8::1]:443: boom", "http: panic serving <addr>: boom"},
		{"from ::ffff:198.51.100.1 and fe80::1%eth0", "from <addr> and <addr>"},
		{"http2: server: error reading preface from client 10.0.0.1:9", "http2: server: error reading preface from client <addr>"},
		{"from [fe80::1%eth0]:55886 and [::ffff:192.0.2.1]:443", "from <addr> and <addr>"},
		{"from 192.0.2.7:55886->198.51.100.1:8080", "from <addr>-><addr>"},
		{"nothing here: 404", "nothing here: 404"},
	} {
		if got := redactAddrs(tc.in); got != tc.want {
			t.Errorf("redactAddrs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRunLifecycle runs the real main path with JSON logs from flags and
// the environment, and stops it with SIGTERM: every line is JSON, the
// lifecycle lines are there, and the process exits 0.
func TestRunLifecycle(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"PARLEY_LOG_FORMAT":  "json",
		"PARLEY_ADMIN_TOKEN": testAdminToken,
		"PARLEY_LISTEN":      "127.0.0.1:1", // the flag wins
	}
	cfg := testConfig(t)
	args := []string{
		"--listen", "127.0.0.1:0", "--data-dir", dir, "--admin-listen", "127.0.0.1:0",
		"--turn-listen", "127.0.0.1:0", "--turn-public-ip", "127.0.0.1",
		"--turn-relay-ports", fmtPorts(cfg.TURNRelayPorts), "--log-level", "info",
	}
	logs := &signalingtest.Logs{}
	done := make(chan int, 1)
	go func() { done <- run(args, func(k string) string { return env[k] }, logs, logs) }()

	var admin string
	deadline := time.Now().Add(20 * time.Second)
	for admin == "" {
		select {
		case code := <-done:
			t.Fatalf("run exited with %d:\n%s", code, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("never served:\n%s", logs.String())
		}
		for _, l := range jsonLines(t, logs.String()) {
			if l["msg"] == "parley serving" {
				admin, _ = l["admin"].(string)
				if l["admin_api"] != true || l["tls"] != "off" || l["relay"] != true {
					t.Errorf("start line: %v", l)
				}
			}
		}
	}
	if status, _ := do(t, "GET", "http://"+admin+"/readyz", ""); status != http.StatusOK {
		t.Fatalf("readyz: %d", status)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
	var msgs []string
	for _, l := range jsonLines(t, logs.String()) {
		msg, _ := l["msg"].(string)
		msgs = append(msgs, msg)
		if msg != strings.ToLower(msg[:1])+msg[1:] {
			t.Errorf("log message not lower-case: %q", msg)
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"store opened", "turn relay listening", "parley serving", "shutting down", "turn relay closed", "stopped"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q line in:\n%s", want, all)
		}
	}
}

// jsonLines parses every line as JSON.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func fmtPorts(p [2]int) string { return fmt.Sprintf("%d-%d", p[0], p[1]) }

// TestHelpListsEveryFlag checks parley -h: every flag with its environment
// variable and default.
func TestHelpListsEveryFlag(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("parley -h exited %d: %s", code, errOut.String())
	}
	help := out.String()
	line := regexp.MustCompile(`(?m)^  --([a-z0-9-]+) \((PARLEY_[A-Z0-9_]+), default ([^)]*)\)\n      \S`)
	listed := map[string]string{}
	for _, m := range line.FindAllStringSubmatch(help, -1) {
		if m[2] != envName(m[1]) {
			t.Errorf("--%s is listed with %s", m[1], m[2])
		}
		listed[m[1]] = m[3]
	}
	if n := strings.Count(help, "\n  --"); n != len(listed) {
		t.Errorf("%d flag lines, %d in the documented form:\n%s", n, len(listed), help)
	}
	want := map[string]string{
		"listen": ":8080", "data-dir": "./data", "key-file": "none", "old-key-files": "none",
		"allowed-origins": "none", "trusted-proxies": "none", "topics": "none",
		"session-ttl": "1h", "resume-window": "30s", "ban-after": "3", "ban-for": "90d",
		"report-window": "90d", "interest-wait": "5s", "hide-ip-default": "false",
		"languages": "en,nl", "language-wait": "10s", "pow-bits": "17", "pow-global-joins-per-minute": "0",
		"max-conns-per-addr": "16", "new-sessions-per-minute": "10", "new-session-burst": "20",
		"max-queued-bytes": "1048576", "max-queued-total": "268435456", "turn-listen": ":3478", "turn-tls-listen": ":5349",
		"turn-public-ip": "none", "turn-host": "none", "turn-relay-ports": "49152-65535",
		"turn-allow-peers": "none", "turn-realm": "parley", "turn-max-per-session": "32",
		"turn-max-per-addr": "64", "turn-max-total": "4096", "admin-listen": "127.0.0.1:9090",
		"tls-cert": "none", "tls-key": "none", "acme-domain": "none", "acme-listen": ":80",
		"acme-directory": "https://acme-v02.api.letsencrypt.org/directory", "acme-ca": "none",
		"log-format": "text", "log-level": "info", "shutdown-timeout": "5s",
	}
	for name, def := range want {
		if got, ok := listed[name]; !ok {
			t.Errorf("--%s is not listed", name)
		} else if got != def {
			t.Errorf("--%s default %q, want %q", name, got, def)
		}
	}
	for _, secret := range []string{"PARLEY_KEY", "PARLEY_ADMIN_TOKEN"} {
		if !strings.Contains(help, secret) {
			t.Errorf("-h does not mention %s", secret)
		}
	}

	// The environment sets a flag; the command line wins.
	env := func(k string) string {
		return map[string]string{"PARLEY_LISTEN": "127.0.0.1:7000", "PARLEY_BAN_AFTER": "7"}[k]
	}
	cfg, err := parseConfig(nil, env, &strings.Builder{})
	if err != nil || cfg.Listen != "127.0.0.1:7000" || cfg.BanAfter != 7 {
		t.Fatalf("from the environment: %+v %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"--listen", "127.0.0.1:7001"}, env, &strings.Builder{})
	if err != nil || cfg.Listen != "127.0.0.1:7001" {
		t.Fatalf("the flag does not win: %q %v", cfg.Listen, err)
	}
}

func TestVersionCommand(t *testing.T) {
	old := version
	version = "v1.2.3-test"
	t.Cleanup(func() { version = old })
	var out, errOut strings.Builder
	if code := run([]string{"version"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != "parley v1.2.3-test\n" {
		t.Fatalf("parley version printed %q", out.String())
	}
}
