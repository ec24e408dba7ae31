package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/signaling/client"
)

// The privacy invariants, end to end on the whole server: a canary chat
// message (direct and through the relay), a canary name and the peers'
// addresses never appear in any byte the server read or wrote, in its logs,
// or in the database file — while the signaling demonstrably did cross.
func TestNothingPersonalLeavesTheBrowserOrReachesDisk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		relay bool
	}{{"direct", false}, {"relay", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ta := startTestApp(t, nil)
			const name = "Zqxcanaryname"
			chatCanary := "chat-canary-" + tc.name + "-9d81f2"
			dial := func(addr string) *client.Client {
				w := loopbackPeer()
				w.ForceRelay = tc.relay
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := client.Dial(ctx, client.Config{URL: ta.WSURL, LocalAddr: netip.MustParseAddr(addr), WebRTC: w})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b := dial("127.0.0.2"), dial("127.0.0.3")
			if err := a.Join(client.Join{Name: name}); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, a, "queued")
			if err := b.Join(client.Join{Name: name}); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, a, client.EventOpen)
			waitEvent(t, b, client.EventOpen)
			if err := a.Send(chatCanary); err != nil {
				t.Fatal(err)
			}
			if ev := waitEvent(t, b, client.EventText); ev.Text != chatCanary {
				t.Fatalf("got %q", ev.Text)
			}
			if tc.relay {
				p := a.SelectedPair()
				if p == nil || p.Local.Typ.String() != "relay" {
					t.Fatalf("forced relay, but the selected pair is %v", p)
				}
			}
			// Let the persister write the pair, then read the file.
			time.Sleep(200 * time.Millisecond)
			db, err := os.ReadFile(filepath.Join(ta.Cfg.DataDir, "parley.db"))
			if err != nil {
				t.Fatal(err)
			}
			wire := ta.Tap.Bytes()
			if !bytes.Contains(wire, []byte(`"type":"matched"`)) || !bytes.Contains(wire, []byte(name)) {
				t.Fatal("the tap saw no signaling: the check would prove nothing")
			}
			logs := ta.Logs.String()
			if logs == "" {
				t.Fatal("no logs captured")
			}
			for what, hay := range map[string][]byte{"socket bytes": wire, "logs": []byte(logs), "database": db} {
				if bytes.Contains(hay, []byte(chatCanary)) {
					t.Errorf("the chat canary is in the %s", what)
				}
			}
			for what, hay := range map[string][]byte{"logs": []byte(logs), "database": db} {
				if bytes.Contains(hay, []byte(name)) {
					t.Errorf("the name is in the %s", what)
				}
				for _, addr := range []string{"127.0.0.2", "127.0.0.3"} {
					if bytes.Contains(hay, []byte(addr)) {
						t.Errorf("%s is in the %s", addr, what)
					}
				}
				for _, tok := range []string{a.Token(), b.Token()} {
					if strings.Contains(string(hay), tok) {
						t.Errorf("a session token is in the %s", what)
					}
				}
			}
		})
	}
}
