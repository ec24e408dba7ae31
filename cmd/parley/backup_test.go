package main

import (
	"bytes"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/store"
)

// runCmd runs a parley subcommand with only the given environment.
func runCmd(env map[string]string, args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := run(args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// banInApp bans target in the running server's store with BanAfter reports.
func banInApp(t *testing.T, ta *testApp, target netip.Addr) {
	t.Helper()
	for i := range ta.Cfg.BanAfter {
		r := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i)})
		if _, _, err := ta.store.Report(time.Now(), target, store.Reporter{Addr: r}, "abuse"); err != nil {
			t.Fatal(err)
		}
	}
	if _, banned, err := ta.store.Banned(time.Now(), target); err != nil || !banned {
		t.Fatalf("not banned: %v", err)
	}
}

func TestAdminBackup(t *testing.T) {
	ta := startOpsApp(t, testAdminToken, nil)
	target := netip.MustParseAddr("198.51.100.7")
	banInApp(t, ta, target)
	url := ta.adminURL(t) + "/admin/backup"
	if status, _ := do(t, "GET", url, ""); status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", status)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(body.Len()) {
		t.Fatalf("GET /admin/backup: %s, %d of %d bytes", resp.Status, body.Len(), resp.ContentLength)
	}
	if id := resp.Header.Get("Parley-Key-Id"); id != ta.store.KeyID() || resp.Header.Get("Parley-Key-Source") != ta.Cfg.KeyFile {
		t.Fatalf("key headers: %q %q", id, resp.Header.Get("Parley-Key-Source"))
	}
	// Nothing is left in the data dir, and the copy restores with the key.
	entries, _ := os.ReadDir(ta.Cfg.DataDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup") {
			t.Fatalf("a spool file is left: %s", e.Name())
		}
	}
	dir := t.TempDir()
	if _, err := store.Restore(store.Config{Dir: dir, KeyFile: ta.Cfg.KeyFile}, &body); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(store.Config{Dir: dir, KeyFile: ta.Cfg.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, banned, err := s.Banned(time.Now(), target); err != nil || !banned {
		t.Fatalf("the restored ban: %v %v", banned, err)
	}
}

// TestBackupAndRestoreCommands: `parley backup` writes a 0600 file and
// says where the key is; `parley restore` refuses while a server holds the
// database, and brings the bans back on a fresh data dir.
func TestBackupAndRestoreCommands(t *testing.T) {
	ta := startOpsApp(t, testAdminToken, nil)
	target := netip.MustParseAddr("2001:db8:7:7::1")
	banInApp(t, ta, target)
	file := filepath.Join(t.TempDir(), "parley-backup.db")
	env := map[string]string{"PARLEY_ADMIN_LISTEN": ta.admin.ln.Addr().String(), "PARLEY_ADMIN_TOKEN": testAdminToken}

	t.Run("backup", func(t *testing.T) {
		code, out, errOut := runCmd(env, "backup", file)
		if code != 0 {
			t.Fatalf("parley backup: %d %s", code, errOut)
		}
		fi, err := os.Stat(file)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
			t.Fatalf("the backup file: %v %v", fi, err)
		}
		for _, want := range []string{file, ta.Cfg.KeyFile, ta.store.KeyID(), "apart"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*")); len(m) > 0 {
			t.Fatalf("temporary files left: %v", m)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  map[string]string
			args []string
			code int
			want string
		}{
			{"no file", env, []string{"backup"}, 2, "exactly one FILE"},
			{"no token", map[string]string{"PARLEY_ADMIN_LISTEN": env["PARLEY_ADMIN_LISTEN"]}, []string{"backup", file + ".x"}, 2, "PARLEY_ADMIN_TOKEN"},
			{"wrong token", map[string]string{"PARLEY_ADMIN_LISTEN": env["PARLEY_ADMIN_LISTEN"], "PARLEY_ADMIN_TOKEN": "nope"}, []string{"backup", file + ".x"}, 1, "401"},
			{"admin off", map[string]string{"PARLEY_ADMIN_TOKEN": "x"}, []string{"backup", "--admin-listen", "off", file + ".x"}, 1, "off"},
			{"restore beside a running server", nil, []string{"restore", "--data-dir", ta.Cfg.DataDir, file}, 1, "stop it first"},
			{"restore with another key", map[string]string{"PARLEY_KEY": strings.Repeat("b2", 32)}, []string{"restore", "--data-dir", t.TempDir(), file}, 1, "does not open"},
			{"restore without a key", nil, []string{"restore", "--data-dir", t.TempDir(), file}, 1, "no key was found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, _, errOut := runCmd(tc.env, tc.args...)
				if code != tc.code || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d, want %d; stderr %q, want %q", code, tc.code, errOut, tc.want)
				}
			})
		}
		if _, err := os.Stat(file + ".x"); !os.IsNotExist(err) {
			t.Fatal("a failed backup left its file")
		}
	})
	t.Run("restore on a fresh data dir", func(t *testing.T) {
		fresh := t.TempDir()
		key, err := os.ReadFile(ta.Cfg.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fresh, "parley.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd(map[string]string{"PARLEY_DATA_DIR": fresh}, "restore", file)
		if code != 0 || !strings.Contains(out, filepath.Join(fresh, "parley.db")) {
			t.Fatalf("parley restore: %d %s %s", code, out, errOut)
		}
		// A whole server on the restored data dir refuses the banned address.
		restored := startTestApp(t, func(c *Config) { c.DataDir = fresh })
		for _, a := range []string{"2001:db8:7:7::1", "2001:db8:7:7:ffff::2"} {
			if _, banned, err := restored.store.Banned(time.Now(), netip.MustParseAddr(a)); err != nil || !banned {
				t.Errorf("%s on the restored server: banned=%v err=%v", a, banned, err)
			}
		}
	})
}
