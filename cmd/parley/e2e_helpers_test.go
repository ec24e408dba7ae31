//go:build e2e

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The e2e tests run the whole server in process (startTestApp) and drive real Chromium against it.
// What the harness lacks they add here: a reverse proxy per fake client address, so several
// browsers on one machine count as people on distinct addresses (the server trusts 127.0.0.1 as
// a proxy in these tests and reads X-Forwarded-For).

const (
	shortWait = 20 * time.Second
	longWait  = 45 * time.Second
)

// startE2EApp starts the server with the settings every browser test needs.
func startE2EApp(t *testing.T, mutate func(*Config)) *testApp {
	t.Helper()
	return startTestApp(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		if mutate != nil {
			mutate(c)
		}
	})
}

// viaAddress returns the URL of a reverse proxy in front of app that says the client is addr. The
// browser then talks to another origin (another port), which the server accepts because the proxy
// keeps the Host header of that origin.
func viaAddress(t *testing.T, app *testApp, addr string) string {
	t.Helper()
	target, err := url.Parse(app.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("X-Forwarded-For", addr)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// joinOpts are the start form's choices.
type joinOpts struct {
	mode      string // random (default), opposite, interests
	media     string // text (default), audio, video
	language  string // a chat language, or any
	name      string
	hideIP    bool
	interests string
	pref      string
}

// open loads the client and waits for the server's welcome (the start button is enabled then).
func (b *browser) open(base string) {
	b.t.Helper()
	b.navigate(base + "/")
	b.waitScreen("start", shortWait)
	waitFor[bool](b, "welcome", `!document.getElementById('start-button').disabled`, shortWait)
}

// start fills in the start form and submits it.
func (b *browser) start(o joinOpts) {
	b.t.Helper()
	if o.mode == "" {
		o.mode = "random"
	}
	if o.media == "" {
		o.media = "text"
	}
	evalT[bool](b, fmt.Sprintf(`(() => {
		document.querySelector('input[name=mode][value=' + %s + ']').click();
		document.querySelector('input[name=media][value=' + %s + ']').click();
		document.getElementById('name').value = %s;
		document.getElementById('interests').value = %s;
		const hide = document.getElementById('hide-ip');
		if (hide.checked !== %t) hide.click();
		document.getElementById('language').value = %s;
		const pref = document.getElementById('preference');
		if (%s) { pref.value = %s; document.getElementById('preference-consent').checked = true; }
		document.getElementById('consent').checked = true;
		document.getElementById('adult').checked = true;
		return true;
	})()`, js(o.mode), js(o.media), js(o.name), js(o.interests), o.hideIP, js(o.language), js(o.pref), js(o.pref)))
	b.click("start-button")
}

// waitChatOpen waits until the chat screen shows and the data channel is open (the message box is
// enabled only then).
func (b *browser) waitChatOpen() {
	b.t.Helper()
	b.waitScreen("chat", longWait)
	waitFor[bool](b, "data channel open", `!document.getElementById('message').disabled`, longWait)
}

// typeInto types into a field like a person, so input events fire.
func (b *browser) typeInto(id, s string) {
	b.t.Helper()
	b.do("type into #"+id, chromedp.SendKeys(chromedp.ID(id), s))
}

// say types a message like a person (so input events fire) and presses Send.
func (b *browser) say(text string) {
	b.t.Helper()
	b.typeInto("message", text)
	b.click("send")
	waitFor[bool](b, "own message shown", fmt.Sprintf(
		`[...document.querySelectorAll('#transcript .msg-me .text')].some((e) => e.textContent === %s)`, js(text)), shortWait)
}

// waitHeard waits until a message from the partner with the text is shown.
func (b *browser) waitHeard(text string) {
	b.t.Helper()
	waitFor[bool](b, "message "+text, fmt.Sprintf(
		`[...document.querySelectorAll('#transcript .msg-them .text')].some((e) => e.textContent === %s)`, js(text)), shortWait)
}

// transcript is what the page shows, as "me:text" and "them:text".
func (b *browser) transcript() []string {
	return evalT[[]string](b, `[...document.querySelectorAll('#transcript .msg')].map((m) => m.dataset.from + ':' + m.querySelector('.text').textContent)`)
}

// connState is the connection state the page shows (data-state of #conn-state).
func (b *browser) connState() string {
	return evalT[string](b, `document.getElementById('conn-state').dataset.state`)
}

func (b *browser) waitConnState(what string, states ...string) string {
	b.t.Helper()
	list := make([]string, len(states))
	for i, s := range states {
		list[i] = js(s)
	}
	return waitFor[string](b, what, fmt.Sprintf(
		`(() => { const s = document.getElementById('conn-state').dataset.state; return [%s].includes(s) ? s : ''; })()`,
		strings.Join(list, ",")), longWait)
}

func (b *browser) safetyCode() string {
	return waitFor[string](b, "safety code",
		`(() => { const s = document.getElementById('safety-code').textContent; return /^\d{4} \d{4} \d{4}$/.test(s) ? s : ''; })()`,
		shortWait)
}

// pcStats is what the tests read from the page's current RTCPeerConnection.
type pcStats struct {
	LocalType      string   `json:"localType"`
	RemoteType     string   `json:"remoteType"`
	RemoteAddress  string   `json:"remoteAddress"`
	FramesDecoded  int      `json:"framesDecoded"`
	RemoteCands    []string `json:"remoteCands"`
	RemoteSDPs     []string `json:"remoteSDPs"`
	ConnectionPath string   `json:"path"`
}

// stats reads the selected candidate pair and the inbound video of the newest peer connection.
func (b *browser) stats() pcStats {
	b.t.Helper()
	return evalT[pcStats](b, `(async () => {
		const pc = window.__pcs[window.__pcs.length - 1];
		const out = { localType: '', remoteType: '', remoteAddress: '', framesDecoded: 0,
			remoteCands: window.__remoteCandidates, remoteSDPs: window.__remoteSDPs };
		if (!pc) return out;
		const stats = await pc.getStats();
		let pair = null;
		stats.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
		if (pair) {
			const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
			out.localType = l ? l.candidateType : '';
			out.remoteType = r ? r.candidateType : '';
			out.remoteAddress = r ? (r.address || '') : '';
		}
		stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') out.framesDecoded += r.framesDecoded || 0; });
		return out;
	})()`)
}

func canary(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "canary-" + hex.EncodeToString(b[:])
}

// checkNotSeen fails if s appears in any byte the server's HTTP listener read or wrote, or in its logs.
func checkNotSeen(t *testing.T, app *testApp, s string) {
	t.Helper()
	tapped := string(app.Tap.Bytes())
	if !strings.Contains(tapped, `"type":"matched"`) {
		t.Fatal("the tap saw no signaling: the check below would prove nothing")
	}
	if strings.Contains(tapped, s) {
		t.Errorf("the server handled %q: chat content reached it", s)
	}
	if strings.Contains(app.Logs.String(), s) {
		t.Errorf("the server logged %q", s)
	}
	// Nor is it on disk (the database is sealed, so this holds twice over).
	err := filepath.WalkDir(app.Cfg.DataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), s) {
			t.Errorf("%s holds %q", p, s)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// pairUp starts two browsers on a fresh chat and waits until both can talk.
func pairUp(t *testing.T, base string, a, b *browser, oa, ob joinOpts) {
	t.Helper()
	a.open(base)
	b.open(base)
	a.start(oa)
	a.waitScreen("queue", shortWait)
	b.start(ob)
	a.waitChatOpen()
	b.waitChatOpen()
}

// screenshotDir is where the screenshots go, for a person to look at: $PARLEY_E2E_SCREENSHOTS, or
// screenshots/ at the top of the repository (in .gitignore: they are regenerated, never
// committed). It is emptied once per run.
var screenshotDir = sync.OnceValues(func() (string, error) {
	dir := os.Getenv("PARLEY_E2E_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "screenshots")
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
})

// shots saves what the client shows at desktop (1280x800) and phone (390x844) size, in English and
// in Dutch, as <name>-<lang>-<desktop|phone>.png, then returns to the language it was in and the
// desktop size. Switching the language is the page's own button: it changes no other state.
func (b *browser) shots(name string) {
	b.t.Helper()
	was := evalT[string](b, `document.documentElement.lang`)
	for _, l := range []string{"en", "nl"} {
		evalT[bool](b, fmt.Sprintf(`(document.querySelector('button[data-lang=%s]').click(), true)`, l))
		b.shotsAsIs(name + "-" + l)
	}
	evalT[bool](b, fmt.Sprintf(`(document.querySelector('button[data-lang=%s]').click(), true)`, js(was)))
}

// shotsAsIs saves the page as it is at desktop and phone size, as <name>-desktop.png and
// <name>-phone.png.
func (b *browser) shotsAsIs(name string) {
	b.t.Helper()
	dir, err := screenshotDir()
	if err != nil {
		b.t.Fatal(err)
	}
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	b.screenshot(filepath.Join(dir, name+"-desktop.png"))
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	b.screenshot(filepath.Join(dir, name+"-phone.png"))
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
}

// cookie is the value of the session cookie of the browser.
func (b *browser) cookie() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("%s: reading cookies: %v", b.name, err)
	}
	for _, c := range res.Cookies {
		if c.Name == "parley_session" {
			return c.Value
		}
	}
	return ""
}

// recordStates keeps every connection state the page shows from now on in window.__states.
func (b *browser) recordStates() {
	b.t.Helper()
	evalT[bool](b, `(() => {
		const el = document.getElementById('conn-state');
		window.__states = [el.dataset.state];
		new MutationObserver(() => window.__states.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ['data-state'] });
		return true;
	})()`)
}

func fmtInt(i int) string { return fmt.Sprint(i) }

var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$`)

// safetyCodeOf computes the safety code from two SDPs independently of the client: each side's
// fingerprints ("algorithm HEX", de-duplicated, sorted, joined by commas), the two sides sorted and
// joined by a newline, SHA-256, then three groups of 4 digits from 3 bytes each.
func safetyCodeOf(localSDP, remoteSDP string) string {
	side := func(sdp string) string {
		var fps []string
		for _, m := range fingerprintLine.FindAllStringSubmatch(strings.ReplaceAll(sdp, "\r", ""), -1) {
			fp := strings.ToLower(m[1]) + " " + strings.ToUpper(m[2])
			if !slices.Contains(fps, fp) {
				fps = append(fps, fp)
			}
		}
		slices.Sort(fps)
		return strings.Join(fps, ",")
	}
	sides := []string{side(localSDP), side(remoteSDP)}
	slices.Sort(sides)
	sum := sha256.Sum256([]byte(strings.Join(sides, "\n")))
	var groups []string
	for i := range 3 {
		n := (int(sum[3*i])<<16 | int(sum[3*i+1])<<8 | int(sum[3*i+2])) % 10000
		groups = append(groups, fmt.Sprintf("%04d", n))
	}
	return strings.Join(groups, " ")
}
