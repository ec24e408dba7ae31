package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// guideKind says how TestGuideCommands exercises a command of
// SELF-HOSTING.md.
type guideKind int

const (
	// guideRun: run as written by bash, in the sandbox (paths moved into
	// it, sudo a no-op, the admin address the running node's).
	guideRun guideKind = iota
	// guideServe: a parley invocation, started from the installed binary
	// with its flags (listeners moved to loopback ports) until it serves,
	// then stopped with SIGTERM.
	guideServe
	// guideSystemd: needs a booted systemd. The test plays it: starting and
	// stopping /usr/local/bin/parley as the installed unit says, running
	// the backup unit's command, reading the node's log.
	guideSystemd
	// guideHost: needs the real host (its public DNS name, Let's Encrypt).
	// Not run; covered names the tests that do the same against Pebble.
	guideHost
)

type guideCommand struct {
	kind    guideKind
	want    string // what its output must hold
	quiet   bool   // its output must be empty
	covered string // guideHost: the tests that exercise what it does
}

// guideCommands is every shell command of SELF-HOSTING.md (the lines of its
// ```sh blocks, continuation lines joined) and how the tests exercise it. A
// command in the guide that is not here, or one here that left the guide,
// fails TestGuideCommands.
var guideCommands = map[string]guideCommand{
	`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(git describe --tags --always)" -o parley ./cmd/parley`: {kind: guideRun},
	`sudo install -m 0755 parley /usr/local/bin/parley`:                                                                        {kind: guideRun},
	`parley version`: {kind: guideRun, want: "parley "},

	`sudo install -d -m 0700 /etc/parley`:                                           {kind: guideRun},
	`head -c 32 /dev/urandom | base64 | sudo tee /etc/parley/parley.key >/dev/null`: {kind: guideRun},
	`sudo chmod 0600 /etc/parley/parley.key`:                                        {kind: guideRun},
	`printf 'PARLEY_ADMIN_TOKEN=%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" | sudo tee /etc/parley/parley.env >/dev/null`: {kind: guideRun},
	`echo 'PARLEY_ACME_DOMAIN=chat.example.org' | sudo tee -a /etc/parley/parley.env >/dev/null`:                                        {kind: guideRun},
	`sudo chmod 0600 /etc/parley/parley.env`: {kind: guideRun},

	`sudo install -m 0644 docs/parley.service /etc/systemd/system/parley.service`: {kind: guideRun},
	`sudo systemd-analyze verify parley.service`:                                  {kind: guideRun, quiet: true},
	`sudo systemctl daemon-reload`:                                                {kind: guideSystemd},
	`sudo systemctl enable --now parley`:                                          {kind: guideSystemd},

	`curl -fsS http://127.0.0.1:9090/readyz`:                              {kind: guideRun, want: "ok"},
	`curl -fsS http://127.0.0.1:9090/metrics | grep '^parley_build_info'`: {kind: guideRun, want: "parley_build_info{version="},
	`sudo journalctl -u parley -n 20`:                                     {kind: guideSystemd},

	`curl -fsS -o /dev/null https://chat.example.org/`: {kind: guideHost, covered: "TestACMETLSALPN01AndRenewal TestACMEHTTP01"},

	`sudo install -m 0644 docs/parley-backup.service docs/parley-backup.timer /etc/systemd/system/`: {kind: guideRun},
	`sudo systemd-analyze verify parley-backup.service parley-backup.timer`:                         {kind: guideRun, quiet: true},
	`sudo systemctl enable --now parley-backup.timer`:                                               {kind: guideSystemd},
	`sudo systemctl start parley-backup.service`:                                                    {kind: guideSystemd},

	`sudo install -m 0644 docs/alerts.yml /etc/prometheus/parley-alerts.yml`: {kind: guideRun},
	`promtool check rules /etc/prometheus/parley-alerts.yml`:                 {kind: guideRun, want: "SUCCESS"},

	`sudo systemctl restart parley`: {kind: guideSystemd},

	`sudo systemctl stop parley`: {kind: guideSystemd},
	`sudo parley restore --data-dir /var/lib/parley --key-file /etc/parley/parley.key /var/lib/parley-backup/parley.db`: {kind: guideRun, want: "is now"},
	`sudo systemctl start parley`: {kind: guideSystemd},

	`parley --listen :443 --acme-domain chat.example.org`:                                                                         {kind: guideServe},
	`parley --listen :443 --acme-domain chat.example.org --acme-directory https://acme-staging-v02.api.letsencrypt.org/directory`: {kind: guideServe},
	`parley --listen :443 --tls-cert /etc/parley/tls/fullchain.pem --tls-key /etc/parley/tls/privkey.pem`:                         {kind: guideServe},

	`sudo install -D -m 0644 docs/parley-unprivileged.conf /etc/systemd/system/parley.service.d/unprivileged.conf`: {kind: guideRun},
	`sudo systemd-analyze security --offline=yes parley.service`:                                                   {kind: guideRun, want: "Overall exposure level for parley.service"},

	`parley --listen 127.0.0.1:8080 --trusted-proxies 127.0.0.1/32,::1/128`: {kind: guideServe},
	`parley --turn-public-ip 203.0.113.10`:                                  {kind: guideServe},
	`parley --listen 203.0.113.10:443 --turn-listen 203.0.113.11:3478 --turn-tls-listen 203.0.113.11:443 --turn-public-ip 203.0.113.11 --turn-host turn.example.org --tls-cert /etc/parley/tls/fullchain.pem --tls-key /etc/parley/tls/privkey.pem`: {kind: guideServe},

	`TOKEN=$(sudo sed -n 's/^PARLEY_ADMIN_TOKEN=//p' /etc/parley/parley.env)`:                                {kind: guideRun},
	`curl -fsS -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9090/admin/bans`:                           {kind: guideRun, want: `"bans"`},
	`curl -fsS -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:9090/admin/ban-lookup?addr=198.51.100.7'`: {kind: guideRun, want: `"banned": false`},

	`echo 'PARLEY_HELPLINE=true' | sudo tee -a /etc/parley/parley.env >/dev/null`:                       {kind: guideRun},
	`echo 'PARLEY_PUBLIC_URL=https://chat.example.org' | sudo tee -a /etc/parley/parley.env >/dev/null`: {kind: guideRun},
	`PARLEY_ADMIN_TOKEN=$TOKEN parley invite --admin-listen 127.0.0.1:9090 --role coordinator`:          {kind: guideRun, want: "https://chat.example.org/staff.html#invite="},
}

// guideBlocks returns the commands of each ```sh block of the guide.
func guideBlocks(t *testing.T, doc string) [][]string {
	t.Helper()
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		var cmds []string
		var cont string
		for _, line := range strings.Split(m[1], "\n") {
			line = strings.TrimSpace(line)
			if strings.HasSuffix(line, `\`) {
				cont += strings.TrimSuffix(line, `\`)
				continue
			}
			line, cont = cont+line, ""
			if line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, strings.Join(strings.Fields(line), " "))
			}
		}
		blocks = append(blocks, cmds)
	}
	return blocks
}

// TestGuideCommands walks SELF-HOSTING.md from top to bottom, as a new
// operator would on a fresh VM, running every command the way guideCommands
// says: the build and install, the key and settings, the unit (verified),
// the node started as the unit says, its checks, the backup job, the alert
// rules and the guide's prometheus.yml, an upgrade, every parley invocation of the reference sections, the
// admin API. The node runs from the binary the guide built.
func TestGuideCommands(t *testing.T) {
	for _, tool := range [][2]string{{"bash", "bash"}, {"curl", "curl"}, {"git", "git"}, {"go", "golang"}, {"systemd-analyze", "systemd"}, {"promtool", "prometheus"}} {
		needTool(t, tool[0], tool[1])
	}
	doc, err := os.ReadFile(selfHostingDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := guideBlocks(t, string(doc))

	seen := map[string]bool{}
	for _, b := range blocks {
		for _, c := range b {
			seen[c] = true
			if _, ok := guideCommands[c]; !ok {
				t.Errorf("SELF-HOSTING.md has a command no test exercises; add it to guideCommands and exercise it:\n%s", c)
			}
		}
	}
	for c, g := range guideCommands {
		if !seen[c] {
			t.Errorf("guideCommands has a command SELF-HOSTING.md no longer has:\n%s", c)
		}
		if g.kind == guideHost {
			checkCoveredBy(t, c, g.covered)
		}
	}
	if t.Failed() {
		return
	}

	s := newGuideSandbox(t)
	for _, b := range blocks {
		var run []string
		flush := func() {
			if len(run) > 0 {
				s.runBash(run)
				run = nil
			}
		}
		for _, c := range b {
			switch g := guideCommands[c]; g.kind {
			case guideRun:
				run = append(run, c)
			case guideServe:
				flush()
				s.serve(c)
			case guideSystemd:
				flush()
				s.play(c)
			case guideHost:
				flush()
				t.Logf("not run (needs the real host; %s do it against Pebble): %s", g.covered, c)
			}
		}
		flush()
	}
	s.checkPrometheusConfig(string(doc))
}

// checkPrometheusConfig checks the guide's prometheus.yml with promtool
// check config, next to the rules the guide installed: the rule file is
// found and valid, the scrape job is well formed.
func (s *guideSandbox) checkPrometheusConfig(doc string) {
	t := s.t
	t.Helper()
	var config string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if strings.Contains(m[1], "job_name: parley") {
			config = m[1]
		}
	}
	if config == "" {
		t.Fatal("SELF-HOSTING.md has no prometheus.yml with the parley job")
	}
	path := filepath.Join(s.dir, "etc/prometheus/prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "check", "config", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("SUCCESS: 1 rule files found")) {
		t.Fatalf("promtool check config on the guide's prometheus.yml: %v\n%s", err, out)
	}
}

// checkCoveredBy checks that the tests a guideHost command names exist.
func checkCoveredBy(t *testing.T, cmd, covered string) {
	t.Helper()
	names := strings.Fields(covered)
	if len(names) == 0 {
		t.Errorf("%s is not run and names no test that covers it", cmd)
	}
	files, _ := filepath.Glob("*_test.go")
	var src []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src = append(src, b...)
	}
	for _, n := range names {
		if !bytes.Contains(src, []byte("func "+n+"(t *testing.T)")) {
			t.Errorf("%s names %s, which is not a test here", cmd, n)
		}
	}
}

// guideSandbox is the fresh VM of the guide: dir holds /etc and the
// systemd root (/usr/local/bin, /etc/systemd/system, /var/lib and the
// system's units, so systemd-analyze can take it as --root).
type guideSandbox struct {
	t     *testing.T
	dir   string
	root  string
	repo  string
	admin string // the running node's admin address

	node     *exec.Cmd
	nodeLog  *lockedBuffer
	nodeDone chan error
}

func newGuideSandbox(t *testing.T) *guideSandbox {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The guide installs the units and the binary itself.
	s := &guideSandbox{t: t, dir: t.TempDir(), repo: repo, root: systemRoot(t)}
	for _, d := range []string{"bin", "etc/prometheus", "etc/parley/tls", "creds"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// sudo runs the command as it is: the sandbox is the test's own.
	if err := os.WriteFile(filepath.Join(s.dir, "bin/sudo"), []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The certificate files of the TLS sections, as certbot would leave them.
	cert, key, _ := testCert(t, t.TempDir(), "localhost")
	for from, to := range map[string]string{cert: "fullchain.pem", key: "privkey.pem"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "etc/parley/tls", to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.stopNode)
	return s
}

// rewrite moves a command of the guide into the sandbox.
func (s *guideSandbox) rewrite(cmd string) string {
	cmd = strings.ReplaceAll(cmd, "-o parley ./cmd/parley", "-o "+s.dir+"/parley ./cmd/parley")
	cmd = strings.ReplaceAll(cmd, "install -m 0755 parley /usr/local/bin/", "install -m 0755 "+s.dir+"/parley /usr/local/bin/")
	for _, verb := range []string{"verify", "security"} {
		cmd = strings.ReplaceAll(cmd, "systemd-analyze "+verb+" ", "systemd-analyze "+verb+" --root="+s.root+" ")
	}
	if s.admin != "" {
		cmd = strings.ReplaceAll(cmd, "127.0.0.1:9090", s.admin)
	}
	return s.paths(cmd)
}

// paths moves the absolute paths of the guide into the sandbox.
func (s *guideSandbox) paths(v string) string {
	for _, p := range [][2]string{
		{"/etc/systemd/system", s.root + "/etc/systemd/system"},
		{"/usr/local/bin", s.root + "/usr/local/bin"},
		{"/var/lib/", s.root + "/var/lib/"},
		{"/etc/parley", s.dir + "/etc/parley"},
		{"/etc/prometheus", s.dir + "/etc/prometheus"},
	} {
		v = strings.ReplaceAll(v, " "+p[0], " "+p[1])
		if strings.HasPrefix(v, p[0]) {
			v = p[1] + strings.TrimPrefix(v, p[0])
		}
	}
	return v
}

// env is the test's environment with sudo's stand-in and the installed
// binary first in PATH.
func (s *guideSandbox) env() []string {
	out := []string{"PATH=" + s.dir + "/bin:" + s.root + "/usr/local/bin:" + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "PARLEY_") {
			out = append(out, kv)
		}
	}
	return out
}

// runBash runs commands in one bash, so that a variable set by one is seen
// by the next, and checks each one's output.
func (s *guideSandbox) runBash(cmds []string) {
	t := s.t
	t.Helper()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, c := range cmds {
		fmt.Fprintf(&script, "%s\necho '@@done %d'\n", s.rewrite(c), i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bash := exec.CommandContext(ctx, "bash", "-c", script.String())
	bash.Dir, bash.Env = s.repo, s.env()
	var out bytes.Buffer
	bash.Stdout, bash.Stderr = &out, &out
	err := bash.Run()
	outputs := regexp.MustCompile(`(?m)^@@done \d+\n`).Split(out.String(), -1)
	for i, c := range cmds {
		if i >= len(outputs)-1 {
			t.Fatalf("the guide's command failed (%v):\n%s\nrun as:\n%s\noutput:\n%s", err, c, s.rewrite(c), outputs[len(outputs)-1])
		}
		g := guideCommands[c]
		if g.quiet && strings.TrimSpace(outputs[i]) != "" {
			t.Errorf("%s\nprinted, where it should print nothing:\n%s", c, outputs[i])
		}
		if !strings.Contains(outputs[i], g.want) {
			t.Errorf("%s\nprinted no %q:\n%s", c, g.want, outputs[i])
		}
	}
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out.String())
	}
}

// play does what a systemctl or journalctl command of the guide does.
func (s *guideSandbox) play(cmd string) {
	t := s.t
	t.Helper()
	switch cmd {
	case "sudo systemctl daemon-reload":
		// The play reads the unit files at each start.
	case "sudo systemctl enable --now parley":
		s.startNode()
	case "sudo systemctl restart parley":
		s.stopNode()
		s.startNode()
	case "sudo systemctl stop parley":
		s.stopNode()
	case "sudo systemctl start parley":
		s.startNode()
	case "sudo journalctl -u parley -n 20":
		if !strings.Contains(s.nodeLog.String(), `"msg":"parley serving"`) {
			t.Fatalf("the node's log has no start line:\n%s", s.nodeLog.String())
		}
	case "sudo systemctl enable --now parley-backup.timer":
		timer := unitSettings(t, filepath.Join(s.root, "etc/systemd/system/parley-backup.timer"))
		if got := timer["OnCalendar"]; len(got) != 1 || got[0] != "daily" {
			t.Fatalf("the backup timer runs %v", got)
		}
	case "sudo systemctl start parley-backup.service":
		s.runBackupUnit()
	default:
		t.Fatalf("no play for %q", cmd)
	}
}

// unitEnv is the environment and command line the installed unit gives
// parley: Environment= of the unit and its drop-ins, then EnvironmentFile=
// (which wins), and ExecStart= with ${CREDENTIALS_DIRECTORY}.
func (s *guideSandbox) unitEnv(unit string) (env map[string]string, argv []string) {
	t := s.t
	t.Helper()
	files := []string{filepath.Join(s.root, "etc/systemd/system", unit)}
	dropIns, _ := filepath.Glob(filepath.Join(s.root, "etc/systemd/system", unit+".d", "*.conf"))
	files = append(files, dropIns...)
	env = map[string]string{}
	var envFiles []string
	for _, f := range files {
		u := unitSettings(t, f)
		for _, kv := range u["Environment"] {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		envFiles = append(envFiles, u["EnvironmentFile"]...)
		if e := u["ExecStart"]; len(e) > 0 {
			argv = strings.Fields(strings.ReplaceAll(e[len(e)-1], "${CREDENTIALS_DIRECTORY}", s.dir+"/creds"))
		}
		for _, lc := range u["LoadCredential"] {
			name, from, _ := strings.Cut(lc, ":")
			b, err := os.ReadFile(s.paths(from))
			if err != nil {
				t.Fatalf("LoadCredential %s: %v", lc, err)
			}
			cred := filepath.Join(s.dir, "creds", name)
			_ = os.Remove(cred)
			if err := os.WriteFile(cred, b, 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range envFiles {
		b, err := os.ReadFile(s.paths(f))
		if err != nil {
			t.Fatalf("EnvironmentFile %s: %v", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
				env[k] = v
			}
		}
	}
	if len(argv) == 0 {
		t.Fatalf("%s has no ExecStart", unit)
	}
	argv[0] = s.paths(argv[0])
	return env, argv
}

// loopback moves every listener to a loopback port of the kernel's choice
// and keeps the relay's ports apart from other tests'.
func loopback(env map[string]string) {
	for _, k := range []string{"PARLEY_LISTEN", "PARLEY_ACME_LISTEN", "PARLEY_TURN_LISTEN", "PARLEY_TURN_TLS_LISTEN", "PARLEY_ADMIN_LISTEN"} {
		if env[k] != "off" {
			env[k] = "127.0.0.1:0"
		}
	}
	lo := 20000 + rand.IntN(40000)
	env["PARLEY_TURN_RELAY_PORTS"] = fmt.Sprintf("%d-%d", lo, lo+200)
	env["PARLEY_LOG_FORMAT"] = "json"
}

// startNode starts parley as systemd would from the installed unit.
func (s *guideSandbox) startNode() {
	t := s.t
	t.Helper()
	env, argv := s.unitEnv("parley.service")
	env["PARLEY_DATA_DIR"] = s.paths(env["PARLEY_DATA_DIR"])
	loopback(env)
	s.node, s.nodeLog, s.nodeDone = s.start(argv, env, s.dir)
	s.admin = s.waitServing(s.nodeLog, s.nodeDone)
}

func (s *guideSandbox) stopNode() {
	if s.node == nil {
		return
	}
	s.stop(s.node, s.nodeLog, s.nodeDone)
	s.node, s.admin = nil, ""
}

// runBackupUnit runs the backup unit's command with its environment, as
// `systemctl start parley-backup.service` does.
func (s *guideSandbox) runBackupUnit() {
	t := s.t
	t.Helper()
	if s.node == nil {
		t.Fatal("the backup unit needs parley.service running (Requisite=)")
	}
	env, argv := s.unitEnv("parley-backup.service")
	env["PARLEY_ADMIN_LISTEN"] = s.admin
	for i := range argv {
		argv[i] = s.paths(argv[i])
	}
	// systemd makes StateDirectory= before the service starts.
	if err := os.MkdirAll(filepath.Dir(argv[len(argv)-1]), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = flatEnv(env)
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte(`unexpected argument "backup"`)) {
		// parley backup comes with the store's backup work (issue 17); until
		// it is in this tree, the job is checked as far as systemd-analyze
		// and this command line go.
		t.Logf("parley backup is not in this tree yet; the backup job's command is not run: %s", strings.Join(argv, " "))
		return
	}
	if err != nil {
		t.Fatalf("the backup unit's command failed: %v\n%s", err, out)
	}
	if fi, err := os.Stat(argv[len(argv)-1]); err != nil || fi.Size() == 0 {
		t.Fatalf("no backup written: %v", err)
	}
}

// serve starts a parley invocation of the guide with its own flags and an
// empty working directory, waits until it serves and stops it.
func (s *guideSandbox) serve(cmd string) {
	t := s.t
	t.Helper()
	args := strings.Fields(cmd)[1:]
	for i := 1; i < len(args); i++ {
		switch {
		case strings.HasSuffix(args[i-1], "listen") && args[i] != "off":
			args[i] = "127.0.0.1:0"
		case strings.HasPrefix(args[i], "/"):
			args[i] = s.paths(args[i])
		}
	}
	env := map[string]string{}
	loopback(env)
	p, log, done := s.start(append([]string{s.root + "/usr/local/bin/parley"}, args...), env, t.TempDir())
	s.waitServing(log, done)
	s.stop(p, log, done)
}

func flatEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func (s *guideSandbox) start(argv []string, env map[string]string, dir string) (*exec.Cmd, *lockedBuffer, chan error) {
	t := s.t
	t.Helper()
	p := exec.Command(argv[0], argv[1:]...)
	p.Env, p.Dir = flatEnv(env), dir
	log := &lockedBuffer{}
	p.Stdout, p.Stderr = log, log
	if err := p.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	return p, log, done
}

// waitServing waits for the JSON start line and returns the admin address.
func (s *guideSandbox) waitServing(log *lockedBuffer, done chan error) string {
	t := s.t
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("parley exited (%v) before serving:\n%s", err, log.String())
		case <-deadline:
			t.Fatalf("parley did not serve within 30 s:\n%s", log.String())
		case <-tick.C:
		}
		for _, line := range strings.Split(log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "parley serving" {
				admin, _ := m["admin"].(string)
				return admin
			}
		}
	}
}

func (s *guideSandbox) stop(p *exec.Cmd, log *lockedBuffer, done chan error) {
	t := s.t
	t.Helper()
	_ = p.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("parley did not stop cleanly: %v\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		_ = p.Process.Kill()
		t.Errorf("parley did not stop within 20 s of SIGTERM:\n%s", log.String())
	}
}
