//go:build e2e

package main

import (
	"regexp"
	"testing"
)

// TestBrowserRelayedVideo: two people who both hide their address get each other's (fake) camera
// through the embedded relay: each side's selected candidate pair is relay to relay, the first
// frame of the partner's video arrives and is decoded, and frames keep coming. The time to that
// first frame, against the direct path, is BenchmarkBrowserVideoFirstFrame's.
func TestBrowserRelayedVideo(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	pairUp(t, app.URL, ann, bob,
		joinOpts{media: "video", name: "Ann", hideIP: true},
		joinOpts{media: "video", name: "Bob", hideIP: true})
	for _, b := range []*browser{ann, bob} {
		b.waitConnState("the relayed path", "relay")
		waitFor[bool](b, "the first remote frame", `document.getElementById('remote-video').videoWidth > 0`, longWait)
		first := waitFor[int](b, "frames decoded", `(async () => {
			const pc = window.__pcs[window.__pcs.length - 1];
			let n = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
			return n;
		})()`, longWait)
		waitFor[bool](b, "more frames decoded", `(async () => {
			const pc = window.__pcs[window.__pcs.length - 1];
			let n = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
			return n > `+itoa(first)+`;
		})()`, longWait)
		st := b.stats()
		if st.LocalType != "relay" || st.RemoteType != "relay" {
			t.Errorf("%s: selected pair %s -> %s, want relay -> relay", b.name, st.LocalType, st.RemoteType)
		}
		for _, c := range st.RemoteCands {
			if nonRelay.MatchString(c) {
				t.Errorf("%s received a non-relay candidate: %s", b.name, c)
			}
		}
	}
	if got := app.relay.Stats(); got.PacketsRelayed == 0 || got.Allocations == 0 {
		t.Errorf("relay stats %+v: the video did not go through the relay", got)
	}
	ann.checkClean()
	bob.checkClean()
}

var nonRelay = regexp.MustCompile(`typ (host|srflx|prflx)`)
