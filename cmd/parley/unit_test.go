package main

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The unit and its drop-in for a node that binds no port below 1024.
const (
	unitFile       = "../../docs/parley.service"
	unprivDropIn   = "../../docs/parley-unprivileged.conf"
	backupUnit     = "../../docs/parley-backup.service"
	backupTimer    = "../../docs/parley-backup.timer"
	selfHostingDoc = "../../docs/SELF-HOSTING.md"
)

// needTool finds a program the ops tests run. scripts/test installs the
// Debian package that has it; here a missing one fails the test rather
// than skipping it, so a CI without it cannot pass by saying nothing.
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is missing: install Debian's %s package (scripts/test does)", name, debianPackage)
	}
	return p
}

// systemRoot is a directory systemd-analyze can take as the root of a
// system (--root): the system's own units (verify checks the dependencies
// on sysinit.target and the like) and empty /etc/systemd/system and
// /usr/local/bin.
func systemRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	sysUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(sysUnits, "sysinit.target")); err != nil {
		sysUnits = "/lib/systemd/system"
	}
	if err := os.CopyFS(filepath.Join(root, "usr/lib/systemd/system"), os.DirFS(sysUnits)); err != nil {
		t.Fatalf("copying the system's units from %s: %v", sysUnits, err)
	}
	for _, d := range []string{"etc/systemd/system", "usr/local/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// unitRoot installs the units, test-only, into a systemRoot: parley's,
// the backup job's and, when asked for, the drop-in, and an executable at
// /usr/local/bin/parley (verify checks that ExecStart's program exists).
func unitRoot(t *testing.T, withDropIn bool) string {
	t.Helper()
	root := systemRoot(t)
	install := func(from, to string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to = filepath.Join(root, to)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	install(unitFile, "etc/systemd/system/parley.service", 0o644)
	install(backupUnit, "etc/systemd/system/parley-backup.service", 0o644)
	install(backupTimer, "etc/systemd/system/parley-backup.timer", 0o644)
	if withDropIn {
		install(unprivDropIn, "etc/systemd/system/parley.service.d/unprivileged.conf", 0o644)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/parley"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the units, the
// node's alone and with its drop-in, and the backup job's. verify exits 0 on an unknown key or a bad value (it
// only warns), so any output at all fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	for _, tc := range []struct {
		name   string
		dropIn bool
	}{{"unit", false}, {"unit and unprivileged drop-in", true}} {
		t.Run(tc.name, func(t *testing.T) {
			root := unitRoot(t, tc.dropIn)
			out, err := exec.Command(analyze, "verify", "--root="+root,
				"parley.service", "parley-backup.service", "parley-backup.timer").CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// TestSystemdSecurityScore runs systemd-analyze security offline on the
// unit and the drop-in and checks the scores SELF-HOSTING.md states, and
// which hardening settings the unit and the drop-in carry.
func TestSystemdSecurityScore(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	doc, err := os.ReadFile(selfHostingDoc)
	if err != nil {
		t.Fatal(err)
	}
	stated := regexp.MustCompile("`systemd-analyze security` scores the unit ([0-9.]+) and, with the drop-in, ([0-9.]+)")
	m := stated.FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatalf("SELF-HOSTING.md does not state the scores as %q", stated)
	}
	for i, dropIn := range []bool{false, true} {
		root := unitRoot(t, dropIn)
		out, err := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "parley.service").CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		score := regexp.MustCompile(`Overall exposure level for parley.service: ([0-9.]+)`).FindSubmatch(out)
		if score == nil {
			t.Fatalf("no score in:\n%s", out)
		}
		if string(score[1]) != m[i+1] {
			t.Errorf("drop-in %v: systemd-analyze says %s, SELF-HOSTING.md says %s", dropIn, score[1], m[i+1])
		}
		if v, _ := strconv.ParseFloat(string(score[1]), 64); v > 2 {
			t.Errorf("exposure %s: the unit lost some of its hardening\n%s", score[1], out)
		}
	}

	unit := unitSettings(t, unitFile)
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "parley",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_NETLINK",
		"SystemCallFilter": "@system-service", "LoadCredential": "parley.key:/etc/parley/parley.key",
		"ExecStart": "/usr/local/bin/parley --key-file=${CREDENTIALS_DIRECTORY}/parley.key",
	} {
		if got := unit[key]; len(got) == 0 || got[0] != want {
			t.Errorf("the unit has %s=%v, want %s first", key, got, want)
		}
	}
	dropIn := unitSettings(t, unprivDropIn)
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := dropIn[key]; len(got) != 1 || got[0] != "" {
			t.Errorf("the drop-in has %s=%v, want it emptied", key, got)
		}
	}
}

// TestSystemdUnitConfiguresParley checks that the unit's command line and
// environment, with the drop-in's or without, are a configuration parley
// accepts: every PARLEY_ variable names a real flag (parley ignores unknown
// ones, so a typo would be silent) and the key comes from the credential.
func TestSystemdUnitConfiguresParley(t *testing.T) {
	creds := t.TempDir()
	for _, files := range [][]string{{unitFile}, {unitFile, unprivDropIn}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			env := map[string]string{
				// from /etc/parley/parley.env, as the guide writes it
				"PARLEY_ADMIN_TOKEN": "t", "PARLEY_ACME_DOMAIN": "chat.example.org",
			}
			if len(files) > 1 {
				delete(env, "PARLEY_ACME_DOMAIN") // behind a proxy that terminates TLS
			}
			var execStart string
			for _, f := range files {
				s := unitSettings(t, f)
				for _, kv := range s["Environment"] {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
				if e := s["ExecStart"]; len(e) > 0 {
					execStart = e[0]
				}
			}
			known := map[string]bool{"PARLEY_KEY": true, "PARLEY_ADMIN_TOKEN": true}
			defineFlagsVisit(func(name string) { known[envName(name)] = true })
			for k := range env {
				if !known[k] {
					t.Errorf("%s is not a variable parley reads", k)
				}
			}
			args := strings.Fields(strings.ReplaceAll(execStart, "${CREDENTIALS_DIRECTORY}", creds))[1:]
			cfg, err := parseConfig(args, func(k string) string { return env[k] }, &strings.Builder{})
			if err != nil {
				t.Fatalf("parley refuses the unit's configuration: %v", err)
			}
			if cfg.KeyFile != filepath.Join(creds, "parley.key") || cfg.DataDir != "/var/lib/parley" {
				t.Fatalf("key file %s, data dir %s", cfg.KeyFile, cfg.DataDir)
			}
		})
	}
}

// defineFlagsVisit calls fn with the name of every flag of parley.
func defineFlagsVisit(fn func(name string)) {
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	defineFlags(fs, &Config{}, &rawFlags{})
	fs.VisitAll(func(f *flag.Flag) { fn(f.Name) })
}

// unitSettings reads a unit file's assignments, key to values in order;
// an empty assignment is an empty value.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not an assignment: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}
