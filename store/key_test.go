package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestParseKey(t *testing.T) {
	k32 := bytes.Repeat([]byte{0xa1}, 32)
	tests := []struct {
		name string
		text string
		want []byte
		err  error
	}{
		{"hex", keyA, k32, nil},
		{"hex upper-case with newline", strings.ToUpper(keyA) + "\n", k32, nil},
		{"base64 std padded", base64.StdEncoding.EncodeToString(k32), k32, nil},
		{"base64 std raw", base64.RawStdEncoding.EncodeToString(k32), k32, nil},
		{"base64 url padded", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 33)), bytes.Repeat([]byte{0xfb}, 33), nil},
		{"base64 url raw", keyC, bytes.Repeat([]byte("C"), 32), nil},
		{"64 bytes", strings.Repeat("ab", 64), bytes.Repeat([]byte{0xab}, 64), nil},
		{"short hex", strings.Repeat("a1", 31), nil, ErrShortKey},
		{"short base64", base64.StdEncoding.EncodeToString(make([]byte, 31)), nil, ErrShortKey},
		{"empty", "", nil, ErrShortKey},
		{"blank", " \n", nil, ErrShortKey},
		{"garbage", "this is not a key, not at all!!!!!!!!!!!!!!!!", nil, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKey(tt.text)
			if !errors.Is(err, tt.err) || !bytes.Equal(got, tt.want) {
				t.Fatalf("parseKey = %x, %v; want %x, %v", got, err, tt.want, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tt.text)) && strings.TrimSpace(tt.text) != "" {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

// On a first run without PARLEY_KEY, a key file is made (0600, one base64
// line of 32 bytes) and later runs use it.
func TestKeyFileGeneratedOnFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	clk := newClock(t0)
	s := openT(t, Config{Dir: dir, Clock: clk.Now})
	path := filepath.Join(dir, KeyName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(dbPath(dir)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", di.Mode().Perm())
	}
	text := fileBytes(t, path)
	if len(text) != 45 || text[44] != '\n' {
		t.Fatalf("key file is %d bytes, want 44 base64 characters and a newline", len(text))
	}
	key, err := base64.StdEncoding.DecodeString(string(text[:44]))
	if err != nil || len(key) != 32 {
		t.Fatalf("key file content: %v (%d bytes)", err, len(key))
	}
	put(t, s, "a", testSession("a", t0))
	s.Close()

	// The same key, from the file or as PARLEY_KEY, opens the database;
	// the file is never rewritten.
	for _, cfg := range []Config{{Dir: dir, Clock: clk.Now}, {Dir: dir, Key: string(text), KeyFile: filepath.Join(dir, "absent"), Clock: clk.Now}} {
		s := openT(t, cfg)
		if _, err := s.GetSession(skey(s, "a")); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if !bytes.Equal(fileBytes(t, path), text) {
		t.Fatal("key file changed")
	}
}

// Two first runs racing for the key file end with one key.
func TestCreateKeyFileNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyName)
	k1, err := createKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := createKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second createKeyFile replaced the key")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// Every refusal to open leaves the database file byte for byte as it was,
// and the right key still opens it afterwards.
func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	keyPath := filepath.Join(dir, KeyName)
	s := openT(t, Config{Dir: dir, Clock: clk.Now}) // key file generated
	put(t, s, "a", testSession("a", t0))
	if _, _, err := s.Report(t0, addr("192.0.2.1"), Reporter{Addr: addr("192.0.2.2")}, "spam"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	keyText := string(fileBytes(t, keyPath))
	before := fileBytes(t, dbPath(dir))

	shortFile := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(shortFile, []byte(strings.Repeat("ab", 16)+"\n"), 0o600)
	badFile := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(badFile, []byte("not a key at all, no!\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "nowhere", KeyName)

	tests := []struct {
		name string
		cfg  Config
		want error
		msg  string
	}{
		{"wrong key", Config{Key: keyB}, ErrWrongKey, "does not open this database"},
		{"wrong key and a wrong old key", Config{Key: keyB, OldKeys: []string{keyC}}, ErrWrongKey, ""},
		{"short key", Config{Key: strings.Repeat("ab", 31)}, ErrShortKey, "shorter than 32 bytes"},
		{"bad key", Config{Key: "not a key, not at all, no no no"}, ErrBadKey, ""},
		{"short key file", Config{KeyFile: shortFile}, ErrShortKey, shortFile},
		{"bad key file", Config{KeyFile: badFile}, ErrBadKey, badFile},
		{"missing key file", Config{KeyFile: missing}, ErrMissingKey,
			"store: the database exists but no key was found at " + missing + "; restore the key file or set PARLEY_KEY"},
		{"bad old key", Config{Key: keyText, OldKeys: []string{"!!!"}}, ErrBadKey, "OldKeys[0]"},
		{"an old key this database never used", Config{Key: keyText, OldKeys: []string{keyB}}, nil, ""}, // an unused old key is ignored
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Dir, cfg.Clock = dir, clk.Now
			s, err := Open(cfg)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want %v", tt.want)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Open: %q, want %v containing %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(keyText)) || strings.Contains(err.Error(), keyB) {
				t.Fatalf("error quotes a key: %v", err)
			}
			if !bytes.Equal(fileBytes(t, dbPath(dir)), before) {
				t.Fatal("the database file changed")
			}
			if _, err := os.Stat(missing); err == nil {
				t.Fatal("a key file was generated beside an existing database")
			}
		})
	}
	s = openT(t, Config{Dir: dir, Clock: clk.Now})
	if _, err := s.GetSession(skey(s, "a")); err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
}

// A missing default key file beside an existing database is refused, and
// no key is generated in its place.
func TestMissingDefaultKeyFile(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Config{Dir: dir})
	s.Close()
	keyPath := filepath.Join(dir, KeyName)
	if err := os.Rename(keyPath, keyPath+".bak"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrMissingKey) || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("Open: %v, want ErrMissingKey naming %s", err, keyPath)
	}
	if _, err := os.Stat(keyPath); err == nil {
		t.Fatal("a new key was generated beside the database")
	}
}

// rawKeyID returns the key id that sealed bucket/key.
func rawKeyID(t *testing.T, s *Store, bucket, key []byte) keyID {
	t.Helper()
	var h header
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		h, err = parseHeader(tx.Bucket(bucket).Get(key))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.id
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	cfgA := Config{Dir: dir, Key: keyA, Clock: clk.Now}
	cfgB := Config{Dir: dir, Key: keyB, OldKeys: []string{keyA}, Clock: clk.Now}
	target, lone := addr("198.51.100.7"), addr("2001:db8:1:2::9")

	s := openT(t, cfgA)
	keyUnderA := skey(s, "t").Hex()
	put(t, s, "t", &Session{ID: testID("t"), Name: "before", Created: t0, LastSeen: t0})
	for i, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if _, banned, err := s.Report(t0, target, Reporter{Addr: addr(r)}, "abuse"); err != nil || banned != (i == 2) {
			t.Fatalf("report %d: %v %v", i, banned, err)
		}
	}
	if _, _, err := s.Report(t0, lone, Reporter{Addr: addr("192.0.2.1")}, "spam"); err != nil {
		t.Fatal(err)
	}
	idOfA := s.keys.current().id
	s.Close()

	s = openT(t, cfgB)
	idOfB := s.keys.current().id
	if idOfA == idOfB {
		t.Fatal("two keys, one key id")
	}
	got, err := s.GetSession(skey(s, "t"))
	if err != nil || got.ID != testID("t") || got.Name != "before" {
		t.Fatalf("GetSession after rotation: %+v, %v", got, err)
	}
	if skey(s, "t").Hex() == keyUnderA {
		t.Fatal("the session key still uses the old key")
	}
	if _, banned, err := s.Banned(t0.Add(time.Hour), target); err != nil || !banned {
		t.Fatalf("ban under the old key not found: %v %v", banned, err)
	}
	// The same reporter again, across the rotation: still a duplicate.
	wBefore := s.Stats().Writes
	if _, _, err := s.Report(t0.Add(time.Hour), lone, Reporter{Addr: addr("192.0.2.1")}, "spam"); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Writes != wBefore || count(t, s, bucketReports) != 4 {
		t.Fatal("a repeated report across a rotation was stored")
	}
	// New writes are sealed with B, touched old records too.
	got.LastSeen = t0.Add(time.Minute)
	put(t, s, "t", got)
	put(t, s, "fresh", &Session{ID: testID("fresh"), Created: t0, LastSeen: t0})
	for _, label := range []string{"t", "fresh"} {
		if k := rawKeyID(t, s, bucketSessions, recKey(s, label)); k != idOfB {
			t.Fatalf("session sealed with key id %s, want %s", k, idOfB)
		}
	}
	if got, err := s.GetSession(skey(s, "t")); err != nil || got.ID != testID("t") {
		t.Fatalf("GetSession after a touch: %v", err)
	}
	if n, _ := s.SessionCount(); n != 2 {
		t.Fatalf("%d session records: the one under the old key must go when it is rewritten", n)
	}
	s.Close()

	// B alone cannot open it while records sealed with A remain.
	before := fileBytes(t, dbPath(dir))
	if _, err := Open(Config{Dir: dir, Key: keyB, Clock: clk.Now}); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), idOfA.String()) {
		t.Fatalf("Open with only the new key: %v, want ErrWrongKey naming key id %s", err, idOfA)
	}
	if !bytes.Equal(fileBytes(t, dbPath(dir)), before) {
		t.Fatal("the refused open changed the database")
	}

	// Once every record sealed with A has expired and been swept, A is
	// retired and B alone opens the database.
	s = openT(t, cfgB)
	end := t0.Add(DefaultBanFor + time.Hour)
	if _, err := s.Sweep(end); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, Config{Dir: dir, Key: keyB, Clock: clk.Now})
	if n := count(t, s, bucketSessions) + count(t, s, bucketReports) + count(t, s, bucketBans); n != 0 {
		t.Fatalf("%d records left", n)
	}
}

func TestSubkey(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Config{Dir: dir, Key: keyA})
	turn := s.Subkey("turn-rest")
	if len(turn) != 32 || bytes.Equal(turn, s.Subkey("other")) {
		t.Fatal("subkeys of two labels are equal or not 32 bytes")
	}
	ks := s.keys.current()
	for _, k := range [][]byte{ks.session, ks.address, ks.master, derive(ks.master, infoSeal)} {
		if bytes.Equal(k, turn) || bytes.Equal(k, s.Subkey("")) {
			t.Fatal("a subkey equals one of the store's own keys")
		}
	}
	s.Close()
	s = openT(t, Config{Dir: dir, Key: keyA})
	if !bytes.Equal(s.Subkey("turn-rest"), turn) {
		t.Fatal("Subkey changed across a reopen")
	}
	s.Close()
	other := openT(t, Config{Dir: t.TempDir(), Key: keyB})
	if bytes.Equal(other.Subkey("turn-rest"), turn) {
		t.Fatal("two keys, one subkey")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{Key: keyA}},
		{"negative ttl", Config{Key: keyA, SessionTTL: -1}},
		{"negative ban after", Config{Key: keyA, BanAfter: -1}},
		{"negative lock timeout", Config{Key: keyA, LockTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no dir" {
				tt.cfg.Dir = t.TempDir()
			}
			if _, err := Open(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Open: %v, want ErrConfig", err)
			}
		})
	}
}
