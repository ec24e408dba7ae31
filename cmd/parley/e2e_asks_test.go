//go:build e2e

package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/parley-chat/parley/signaling/client"
	"github.com/parley-chat/parley/static"
)

// Issue 15 in real Chromium: the proof of work in a Web Worker, voice chats, block, the chat
// language and the number of people online.

// waitJoins waits until the server has had n join messages and returns how many it had. A page
// shows the queue at once and sends its first join when the proof of work is done.
func waitJoins(t *testing.T, app *testApp, n int64) int64 {
	t.Helper()
	deadline := time.Now().Add(shortWait)
	for {
		got := app.sig.Stats().Messages["join"]
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server had %d joins, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workerScript records the scripts of the Web Workers a page starts.
const workerScript = `(() => {
  const Orig = window.Worker;
  window.__workers = [];
  window.Worker = function (url, opts) { window.__workers.push(String(url)); return new Orig(url, opts); };
  window.Worker.prototype = Orig.prototype;
})();`

// spoilFirstWork changes the signature of the first solution the page sends, as an expired or
// foreign one would fail, so the server answers bad_pow with a fresh challenge.
const spoilFirstWork = `(() => {
  const send = WebSocket.prototype.send;
  let spoiled = false;
  WebSocket.prototype.send = function (data) {
    if (!spoiled && typeof data === 'string' && data.includes('"pow"')) {
      const m = JSON.parse(data);
      m.pow.mac = (m.pow.mac[0] === 'A' ? 'B' : 'A') + m.pow.mac.slice(1);
      spoiled = true;
      return send.call(this, JSON.stringify(m));
    }
    return send.call(this, data);
  };
})();`

// Chromium solves welcome's challenge in a Web Worker (plain JavaScript SHA-256) and joins with
// the solution: the server, which refuses a first join without one, pairs the two. Bob's first
// solution is refused: his page solves the challenge that came with the refusal and joins anyway.
func TestBrowserProofOfWork(t *testing.T) {
	app := startE2EApp(t, func(c *Config) { c.PowBits = 12 }) // 4 x 4096 hashes: real work, quickly
	ann := newBrowserWith(t, "ann", 1280, 800, workerScript)
	bob := newBrowserWith(t, "bob", 1280, 800, workerScript+spoilFirstWork)
	pairUp(t, app.URL, ann, bob, joinOpts{}, joinOpts{})
	for _, b := range []*browser{ann, bob} {
		workers := evalT[[]string](b, `window.__workers`)
		if len(workers) == 0 || workers[0] != "/powworker.js" {
			t.Errorf("%s: workers %q, want the proof of work's", b.name, workers)
		}
		b.checkClean()
	}
	if n := len(evalT[[]string](bob, `window.__workers`)); n < 2 {
		t.Errorf("bob's page started %d workers: it did not solve the second challenge", n)
	}
	st := app.node.Signaling.Stats()
	if st.Errors["bad_pow"] != 1 || st.Errors["pow_required"] != 0 {
		t.Errorf("refusals: bad_pow %d, pow_required %d; want only bob's spoiled one", st.Errors["bad_pow"], st.Errors["pow_required"])
	}
}

// Two Chromiums talk by voice: the microphone only (no camera asked for), sound both ways over
// the peer connection, no video anywhere, and the voice controls without the camera button.
func TestBrowserVoiceChat(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	pairUp(t, app.URL, ann, bob, joinOpts{media: "audio"}, joinOpts{media: "audio"})
	for _, b := range []*browser{ann, bob} {
		local := evalT[[]int](b, `(() => { const s = document.getElementById('local-video').srcObject;
			return s ? [s.getAudioTracks().length, s.getVideoTracks().length] : [-1, -1]; })()`)
		if local[0] != 1 || local[1] != 0 {
			t.Errorf("%s: the local stream has %d audio and %d video tracks, want the microphone alone", b.name, local[0], local[1])
		}
		waitFor[bool](b, "sound from the partner", `(async () => {
			const pc = window.__pcs[window.__pcs.length - 1];
			let audio = 0, video = 0;
			(await pc.getStats()).forEach((r) => {
				if (r.type === 'inbound-rtp' && r.kind === 'audio') audio += r.packetsReceived || 0;
				if (r.type === 'inbound-rtp' && r.kind === 'video') video++;
			});
			return audio > 0 && video === 0;
		})()`, longWait)
		kinds := evalT[[]string](b, `window.__pcs[window.__pcs.length - 1].getTransceivers().map((t) => t.receiver.track.kind)`)
		if len(kinds) != 1 || kinds[0] != "audio" {
			t.Errorf("%s: transceivers %q, want one for audio", b.name, kinds)
		}
		shown := evalT[[]bool](b, `['mute', 'camera', 'block'].map((id) => document.getElementById(id).offsetParent !== null)`)
		if !shown[0] || shown[1] || !shown[2] {
			t.Errorf("%s: mute, camera, block shown %v, want true false true", b.name, shown)
		}
	}
	ann.shots("voice")
	ann.say("hello by text too")
	bob.waitHeard("hello by text too")
	for _, b := range []*browser{ann, bob} {
		b.checkClean()
	}
}

// A block ends the chat with a message of its own, and the two never meet again: queued together
// once more, they wait, and a third person meets the one who waited longer.
func TestBrowserBlock(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	cat := newBrowser(t, "cat", 1280, 800)
	pairUp(t, viaAddress(t, app, "192.0.2.1"), ann, bob, joinOpts{}, joinOpts{})
	ann.click("block")
	waitFor[bool](ann, "the block said", `document.getElementById('ended-text').dataset.i18n === 'left.blocked'`, shortWait)
	ann.shots("blocked")
	waitFor[bool](bob, "the chat ended", `document.getElementById('ended-text').dataset.i18n === 'left.leave'`, shortWait)
	if evalT[bool](ann, `document.getElementById('block').offsetParent !== null`) {
		t.Error("the block button still shows after the block")
	}
	ann.click("again")
	ann.waitScreen("queue", shortWait)
	bob.click("again")
	bob.waitScreen("queue", shortWait)
	cat.open(app.URL)
	cat.start(joinOpts{})
	cat.waitChatOpen()
	ann.waitChatOpen()
	if s := bob.screen(); s != "queue" {
		t.Errorf("bob is on %q, want still in the queue", s)
	}
	st := app.node.Store.Stats()
	if st.Reports != 0 {
		t.Errorf("a block counted as %d reports", st.Reports)
	}
	for _, b := range []*browser{ann, bob, cat} {
		b.checkClean()
	}
}

// The languages of --languages are offered by name; people of one language meet each other first.
func TestBrowserLanguage(t *testing.T) {
	app := startE2EApp(t, func(c *Config) { c.LanguageWait = time.Hour })
	ann := newBrowser(t, "ann", 1280, 800)
	bob := newBrowser(t, "bob", 1280, 800)
	cat := newBrowser(t, "cat", 1280, 800)
	for _, b := range []*browser{ann, bob, cat} {
		b.open(app.URL)
	}
	if got := evalT[[]string](ann, `[...document.getElementById('language').options].map((o) => o.value + '=' + o.textContent)`); fmt.Sprint(got) != "[=Any language en=English nl=Dutch]" {
		t.Errorf("language options %q", got)
	}
	evalT[bool](ann, `(document.querySelector('button[data-lang="nl"]').click(), true)`)
	if got := evalT[string](ann, `document.querySelector('#language option[value=nl]').textContent`); got != "Nederlands" {
		t.Errorf("Dutch in Dutch: %q", got)
	}
	ann.start(joinOpts{language: "nl"})
	ann.waitScreen("queue", shortWait)
	bob.start(joinOpts{language: "en"})
	bob.waitScreen("queue", shortWait)
	cat.start(joinOpts{language: "nl"})
	ann.waitChatOpen()
	cat.waitChatOpen()
	if got := evalT[string](cat, `document.getElementById('intro-lang').textContent`); got != "You both chose Dutch." {
		t.Errorf("cat's intro says %q", got)
	}
	if got := evalT[string](ann, `document.getElementById('intro-lang').textContent`); got != "Jullie kozen allebei Nederlands." {
		t.Errorf("ann's intro says %q", got)
	}
	if s := bob.screen(); s != "queue" {
		t.Errorf("bob (English) is on %q, want the queue", s)
	}
	for _, b := range []*browser{ann, bob, cat} {
		b.checkClean()
	}
}

// The page says how many people are online, from /api/stats: nothing under ten, then the band.
func TestBrowserOnlineCount(t *testing.T) {
	app := startE2EApp(t, nil)
	ann := newBrowser(t, "ann", 1280, 800)
	ann.open(app.URL)
	if !evalT[bool](ann, `document.getElementById('online').hidden`) {
		t.Error("a count shows with one person online")
	}
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), shortWait)
		c, err := client.Dial(ctx, client.Config{URL: app.WSURL, LocalAddr: netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	ann.navigate(app.URL + "/")
	waitFor[bool](ann, "the online count", `document.getElementById('online').textContent === 'At least 10 people online'`, shortWait)
	ann.shotsAsIs("online")
	ann.checkClean()
}

// BenchmarkBrowserProofOfWork measures, in a real Chromium on this machine, how long the client
// takes to solve a challenge at the baseline difficulty (--pow-bits 17, 4 parts, about 2^19
// hashes): from pow.offer (Web Workers started) to the solution, as a person's page does it right
// after welcome. It reports p50-ms, p90-ms and max-ms over b.N challenges, and the hashing rate,
// from which the cost of every other difficulty follows (each bit doubles it).
//
//	go test -tags e2e -run '^$' -bench BrowserProofOfWork -benchtime 20x ./cmd/parley/
func BenchmarkBrowserProofOfWork(b *testing.B) {
	srv := httptest.NewServer(static.Handler(static.Options{}))
	b.Cleanup(srv.Close)
	x := newBenchBrowser(b, "pow")
	x.eval(`location.href = ` + js(srv.URL+"/"))
	x.waitTrue("the page", `document.body.dataset.screen === 'start'`, shortWait)
	type solve struct {
		MS      float64 `json:"ms"`
		Hashes  float64 `json:"hashes"`
		Workers int     `json:"workers"`
	}
	var ms []float64
	var hashes, total float64
	workers := 0
	for range b.N {
		ctx, cancel := context.WithTimeout(x.ctx, 2*time.Minute)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[solve](`(async () => {
			const pow = await import('/pow.js');
			const b = crypto.getRandomValues(new Uint8Array(16));
			const id = btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
			const t0 = performance.now();
			pow.offer({ id, bits: 17, parts: 4, expires: 4e9, mac: 'x' });
			const s = await pow.solution(() => {});
			const ms = performance.now() - t0;
			pow.clear();
			return { ms, hashes: s.nonces.reduce((a, n) => a + n + 1, 0),
				workers: Math.min(4, Math.max(1, (navigator.hardwareConcurrency || 2) - 1)) };
		})()`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, s.MS)
		hashes += s.Hashes
		total += s.MS
		workers = s.Workers
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(ms, 50), "p50-ms")
	b.ReportMetric(percentile(ms, 90), "p90-ms")
	b.ReportMetric(percentile(ms, 100), "max-ms")
	b.ReportMetric(hashes/total/1000, "Mhash/s")
	b.Logf("%d solves with %d worker(s), ms: %s", len(ms), workers, fmtMs(ms))
}
