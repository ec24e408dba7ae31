package store

import (
	"bytes"
	"encoding/hex"
	"github.com/parley-chat/parley/store/prefix"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// canaries are personal data that must never reach the disk, a log line
// or an error in the clear.
type canaries struct {
	name, interest, token string
	v4, v6, reporter      netip.Addr
}

func (c canaries) patterns() map[string][]byte {
	v4, v6 := c.v4.As4(), c.v6.As16()
	r := c.reporter.As16()
	return map[string][]byte{
		"name":               []byte(c.name),
		"interest":           []byte(c.interest),
		"token":              []byte(c.token),
		"IPv4 text":          []byte(c.v4.String()),
		"IPv4 bytes":         v4[:],
		"IPv4-mapped bytes":  netip.AddrFrom16(v4In6(v4)).AsSlice(),
		"IPv6 text":          []byte(c.v6.String()),
		"IPv6 bytes":         v6[:],
		"IPv6 /64 bytes":     v6[:8],
		"IPv6 /64 text":      []byte(strings.TrimSuffix(prefix.Of(c.v6).Addr().String(), "::")),
		"reporter text":      []byte(c.reporter.String()),
		"reporter bytes":     r[:],
		"reporter /64 bytes": r[:8],
	}
}

func v4In6(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// findCanaries reports every canary found in b.
func findCanaries(c canaries, b []byte) []string {
	var found []string
	for what, p := range c.patterns() {
		if bytes.Contains(b, p) {
			found = append(found, what)
		}
	}
	return found
}

// TestNoPlaintextAtRest writes a canary name, interest, token and addresses
// through every path, and looks for them in the raw database file (before
// and after deletion, expiry and sweeping: bbolt keeps freed pages), in the
// logs and in every error returned. The 4 raw bytes of the IPv4 canary
// could appear in random ciphertext by chance, about once in 2^32/size
// runs: negligible for a file this small.
func TestNoPlaintextAtRest(t *testing.T) {
	c := canaries{
		name: "Canary-Name-Q7zX", interest: "canaryinterestk9w", token: "CanaryTokenZZ9q7xW3mK1",
		v4: addr("203.0.113.77"), v6: addr("2001:db8:cafe:beef:1:2:3:4"), reporter: addr("2001:db8:feed:f00d::5"),
	}
	var logs syncBuffer
	dir := t.TempDir()
	clk := newClock(t0)
	cfg := testConfig(dir, clk)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	s := openT(t, cfg)
	k := s.SessionKey(c.token)
	id := testID("canary")
	sess := &Session{ID: id, Name: c.name, Interests: []string{c.interest, "go"}, Created: t0, LastSeen: t0}
	if err := s.PutSession(k, sess); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(k); err != nil || got.Name != c.name {
		t.Fatalf("GetSession: %v", err)
	}
	for _, target := range []netip.Addr{c.v4, c.v6, netip.AddrFrom16(v4In6(c.v4.As4()))} {
		for _, r := range []netip.Addr{c.reporter, addr("192.0.2.1"), addr("192.0.2.2")} {
			if _, _, err := s.Report(t0, target, Reporter{Addr: r}, "abuse"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, banned, err := s.Banned(t0, c.v6); err != nil || !banned {
		t.Fatalf("canary not banned: %v %v", banned, err)
	}
	// Error paths, each given personal data.
	keep(s.PutSession(k, &Session{Name: c.name, LastSeen: t0}))
	keep(s.PutSession(k, &Session{ID: id, Name: c.name}))
	_, err := s.GetSession(SessionKey{})
	keep(err)
	_, err = s.GetSession(s.SessionKey(c.token + "x"))
	keep(err)
	_, _, err = s.Report(t0, c.v4, Reporter{Addr: c.reporter}, c.name)
	keep(err)
	_, _, err = s.Report(time.Time{}, c.v4, Reporter{Addr: c.reporter}, "spam")
	keep(err)
	_, _, err = s.Report(t0, c.v4, Reporter{Addr: netip.Addr{}}, "spam")
	keep(err)
	keep(s.LiftBan(c.v4.String()))
	if len(errs) != 8 {
		t.Fatalf("%d of 8 error paths failed", len(errs))
	}
	rawID, _ := hex.DecodeString(k.Hex())
	s.Close()

	file := fileBytes(t, dbPath(dir))
	if !bytes.Contains(file, rawID) {
		t.Fatal("the session key is not in the file: this test reads the wrong bytes")
	}
	if found := findCanaries(c, file); len(found) > 0 {
		t.Fatalf("plaintext in the database file: %v", found)
	}

	// After deletion, expiry and sweeping too.
	s = openT(t, cfg)
	if err := s.DeleteSession(s.SessionKey(c.token)); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(DefaultBanFor + DefaultReportWindow)
	clk.Set(later)
	if n, err := s.Sweep(later); err != nil || n != 10 {
		t.Fatalf("Sweep removed %d: %v, want 2 bans, 6 reports and the IPv6 ban's 2 strikes (the mapped target is the IPv4 one)", n, err)
	}
	s.Close()
	if found := findCanaries(c, fileBytes(t, dbPath(dir))); len(found) > 0 {
		t.Fatalf("plaintext in the database file after deletion: %v", found)
	}

	for _, err := range errs {
		if found := findCanaries(c, []byte(err.Error())); len(found) > 0 {
			t.Errorf("error %q holds %v", err, found)
		}
	}
	if len(logs.Bytes()) == 0 {
		t.Fatal("no log lines captured: this test reads the wrong logger")
	}
	if found := findCanaries(c, logs.Bytes()); len(found) > 0 {
		t.Fatalf("personal data in the logs: %v\n%s", found, logs.Bytes())
	}
}
