//go:build e2e

package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestBrowserServerRestart: the real binary is restarted (SIGTERM closes the sockets with 1012);
// both browsers reconnect with backoff, resume the same pair from the store, negotiate again and
// go on talking, with the transcript intact.
func TestBrowserServerRestart(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	first := startParley(t, serverArgs(dataDir, port)...)
	waitHTTP(t, base+"/api/stats")

	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	pairUp(t, base, ann, bob, joinOpts{name: "Ann"}, joinOpts{name: "Bob"})
	ann.say("before the restart")
	bob.waitHeard("before the restart")
	pair := evalT[string](ann, `JSON.parse(sessionStorage.getItem('parley.chat')).pair`)
	// The pair is written to the store off the request path: wait for both halves.
	deadline := time.Now().Add(10 * time.Second)
	for !storedInChat(t, base, ann.cookie()) || !storedInChat(t, base, bob.cookie()) {
		if time.Now().After(deadline) {
			t.Fatal("the pair never reached the store")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-first.done
	waitFor[bool](ann, "reconnecting notice", `document.getElementById('alert').textContent !== ''`, shortWait)
	startParley(t, serverArgs(dataDir, port)...)

	for _, b := range []*browser{ann, bob} {
		// A new negotiation: the states pass through "connecting" again before the channel opens.
		waitFor[bool](b, "new peer connection", `window.__pcs.length >= 2`, longWait)
		b.waitChatOpen()
		if got := evalT[string](b, `JSON.parse(sessionStorage.getItem('parley.chat')).pair`); got != pair {
			t.Errorf("%s: pair %q after the restart, want %q", b.name, got, pair)
		}
	}
	ann.say("after the restart")
	bob.waitHeard("after the restart")
	if got := bob.transcript(); len(got) != 2 || got[0] != "them:before the restart" {
		t.Errorf("bob's transcript after the restart: %q", got)
	}
	if evalT[string](ann, `document.getElementById('alert').textContent`) != "" {
		t.Error("the reconnecting notice stayed after the server came back")
	}
	ann.checkClean()
	bob.checkClean()
}
