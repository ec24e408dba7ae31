package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// TestMain lets the test binary play a child process (crash loop, lock)
// when re-executed with PARLEY_STORE_CHILD set.
func TestMain(m *testing.M) {
	switch os.Getenv("PARLEY_STORE_CHILD") {
	case "":
		os.Exit(m.Run())
	case "crash":
		crashChild()
	case "lock":
		lockChild()
	case "upgrade":
		upgradeChild()
	default:
		fmt.Fprintln(os.Stderr, "unknown PARLEY_STORE_CHILD")
		os.Exit(2)
	}
}

// Test keys: 32 bytes each, given as hex, base64 and base64url.
var (
	keyA = strings.Repeat("a1", 32)
	keyB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=" // base64 of 32 x 'B'
	keyC = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M"  // raw base64url of 32 x 'C'
)

// t0 is the tests' base time.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is an injected clock safe for concurrent reads.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// testConfig returns a config for dir with keyA and the clock.
func testConfig(dir string, clk *clock) Config {
	return Config{Dir: dir, Key: keyA, Clock: clk.Now, LockTimeout: 500 * time.Millisecond}
}

func openT(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store in a new temporary directory with keyA.
func newStore(t testing.TB) (*Store, *clock) {
	clk := newClock(t0)
	return openT(t, testConfig(t.TempDir(), clk)), clk
}

// testID makes a random-looking session ID from a label.
func testID(label string) string {
	h := sha256.Sum256([]byte(label))
	return hex.EncodeToString(h[:])
}

func testSession(label string, lastSeen time.Time) *Session {
	return &Session{ID: testID(label), Name: "name-" + label, Mode: "random", Media: "text", Created: lastSeen, LastSeen: lastSeen}
}

func dbPath(dir string) string { return filepath.Join(dir, DBName) }

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw runs fn on the closed database file directly with bbolt, for tests
// that inspect or tamper with stored bytes.
func raw(t testing.TB, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(dbPath(dir), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rawValue returns a copy of the stored value at bucket/key.
func rawValue(t testing.TB, dir string, bucket, key []byte) []byte {
	t.Helper()
	var v []byte
	raw(t, dir, func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	})
	return v
}

// checkDB runs bbolt's consistency check.
func checkDB(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() { // drained: the checker blocks otherwise
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("tx.Check: %v", err)
	}
}

// token is the cookie a test session with this label would have.
func token(label string) string { return "tok-" + label }

// skey is the SessionKey of a test session's label.
func skey(s *Store, label string) SessionKey { return s.SessionKey(token(label)) }

// recKey is the bucket key of a test session's record under the current key.
func recKey(s *Store, label string) []byte { return skey(s, label).variants[0].key }

// put stores a test session under its label's key.
func put(t testing.TB, s *Store, label string, sess *Session) {
	t.Helper()
	if err := s.PutSession(skey(s, label), sess); err != nil {
		t.Fatal(err)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func indexString(exp time.Time, bucket, key []byte) string {
	return fmt.Sprintf("%x", indexKey(exp.UnixNano(), bucket, key))
}

// indexEntries lists the expiry index as hex strings, in order.
func indexEntries(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExpiry).ForEach(func(k, _ []byte) error {
			out = append(out, fmt.Sprintf("%x", k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// count returns the number of records in a bucket.
func count(t testing.TB, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// banKeyOf is the current key's ban key of a's /32 or /64.
func banKeyOf(s *Store, a netip.Addr) []byte {
	k := s.keyCache.get(s.keys.current(), prefix.Of(a))
	return k[:]
}

// reportKey is where the report of target by a reporter prefix is stored.
func reportKey(s *Store, target, reporter netip.Addr) []byte {
	tag := s.keys.current().reporterTag(Reporter{Addr: reporter})
	return append(banKeyOf(s, target), tag[:]...)
}
