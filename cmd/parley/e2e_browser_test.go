//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium. scripts/test installs it; a missing browser fails the suite,
// because a skipped browser test proves nothing.
const chromiumPath = "/usr/bin/chromium"

// instrument runs in every page before its own scripts. It keeps a handle on each
// RTCPeerConnection (for getStats and the candidates the partner sent), and records CSP violations
// and resource loads, so the tests can look inside without the client exposing anything itself.
const instrument = `(() => {
  const Orig = window.RTCPeerConnection;
  window.__pcs = [];
  window.__remoteCandidates = [];
  window.__remoteSDPs = [];
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  if (!Orig) return;
  function Wrapped(...args) {
    const pc = new Orig(...args);
    window.__pcs.push(pc);
    const add = pc.addIceCandidate.bind(pc);
    pc.addIceCandidate = (c, ...rest) => {
      window.__remoteCandidates.push(c && c.candidate ? c.candidate : '');
      return add(c, ...rest);
    };
    const srd = pc.setRemoteDescription.bind(pc);
    pc.setRemoteDescription = (d, ...rest) => {
      if (d && d.sdp) window.__remoteSDPs.push(d.sdp);
      return srd(d, ...rest);
    };
    return pc;
  }
  Wrapped.prototype = Orig.prototype;
  Object.setPrototypeOf(Wrapped, Orig);
  window.RTCPeerConnection = Wrapped;
})();`

// browser is one Chromium with one tab and its own profile (so its own cookie and sessionStorage).
type browser struct {
	t      *testing.T
	name   string
	ctx    context.Context // the tab
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string // exceptions and console errors from the page
}

// launchChromium starts a headless Chromium with fake camera and microphone and WebRTC over
// loopback, runs script in every new document, and returns its tab and how to close it. Closing
// is also registered with tb.Cleanup. extra flags come last and win over the defaults (for
// example the autoplay policy).
func launchChromium(tb testing.TB, name string, width, height int, script string, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	tb.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		tb.Fatalf("Chromium is required for the browser tests and is missing at %s (apt-get install -y chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// WebRTC on one machine: real host addresses instead of mDNS names, and loopback allowed,
		// so two browsers can connect over 127.0.0.1 and the tests can read the candidates.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("lang", "en-US"),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	closeAll := func() { cancel(); acancel() }
	tb.Cleanup(closeAll)
	// The first call starts the browser and ties its life to the context it
	// gets, so it must be ctx itself, not a timeout derived from it; a
	// watchdog bounds the start instead.
	watchdog := time.AfterFunc(60*time.Second, closeAll)
	defer watchdog.Stop()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	}))
	if err != nil {
		tb.Fatalf("%s: starting Chromium: %v", name, err)
	}
	return ctx, closeAll
}

// newBrowser starts a headless Chromium. Closing it is registered with t.Cleanup.
func newBrowser(t *testing.T, name string, width, height int) *browser {
	t.Helper()
	return newBrowserWith(t, name, width, height, "")
}

// newBrowserWith starts a headless Chromium that runs script after the instrumentation in every
// new document, with extra flags.
func newBrowserWith(t *testing.T, name string, width, height int, script string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	ctx, cancel := launchChromium(t, name, width, height, instrument+script, extra...)
	b := &browser{t: t, name: name, ctx: ctx, cancel: cancel}
	t.Cleanup(b.close)
	b.listen()
	return b
}

// newTab opens another tab in the same browser (so the same profile, cookie jar and all), with the
// same instrumentation.
func (b *browser) newTab(name string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: instrument})
		return err
	}))
	if err != nil {
		b.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	tab := &browser{t: b.t, name: name, ctx: ctx, cancel: cancel}
	tab.listen()
	return tab
}

// listen collects the page's exceptions and console errors for checkClean.
func (b *browser) listen() {
	ctx := b.ctx
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	consoleCalls := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.problem("exception: " + exceptionText(ev))
		}
	}()
	go func() {
		for ev, err := range consoleCalls {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					if len(a.Value) > 0 {
						parts = append(parts, string(a.Value))
					} else {
						parts = append(parts, a.Description)
					}
				}
				b.problem("console.error: " + strings.Join(parts, " "))
			}
		}
	}()
}

func exceptionText(ev runtime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return s
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// checkClean fails the test when the page threw or logged an error, or broke its CSP.
func (b *browser) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	problems := append([]string(nil), b.problems...)
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("%s: %s", b.name, p)
	}
	if csp := evalT[[]string](b, `window.__csp || []`); len(csp) > 0 {
		b.t.Errorf("%s: CSP violations: %v", b.name, csp)
	}
}

func (b *browser) close() {
	if b.cancel != nil {
		b.cancel()
		b.cancel = nil
	}
}

// do runs steps with a time limit, failing the test on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

func (b *browser) navigate(url string) {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url))
}

// evalT evaluates a JavaScript expression (promises are awaited) and decodes its result.
func evalT[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluating %s: %v", b.name, short(expr), err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is truthy and returns its value. It polls from
// here with plain evaluations, not with chromedp.Poll, which runs as a user gesture: that would
// give the page the user activation a person's click gives, and hide what a page without one
// does (autoplay, notification prompts).
func waitFor[T any](b *browser, what, expr string, timeout time.Duration) T {
	b.t.Helper()
	type result struct {
		OK bool `json:"ok"`
		V  T    `json:"v"`
	}
	wrapped := `(async () => { const v = await (` + expr + `); return v ? { ok: true, v } : { ok: false }; })()`
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		r, err := chromedp.Run(ctx, chromedp.Evaluate[result](wrapped, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && r.OK {
			return r.V
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("%s: waiting for %s (%s): %v\npage state: %s", b.name, what, short(expr), err, b.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describe summarises what the page shows, for failure messages.
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		screen: document.body && document.body.dataset.screen,
		alert: (document.getElementById('alert') || {}).textContent,
		formError: (document.getElementById('form-error') || {}).textContent,
		conn: (document.getElementById('conn-state') || {}).dataset,
		ended: (document.getElementById('ended-text') || {}).textContent,
		pcs: (window.__pcs || []).map((p) => p.connectionState + '/' + p.iceConnectionState + '/' + p.signalingState),
	})`))
	if err != nil {
		return "unavailable: " + err.Error()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return v + " problems: " + strings.Join(b.problems, "; ")
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// js quotes a Go string as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// click clicks the element with the id through the DOM (it works for elements outside the viewport
// and in every layout).
func (b *browser) click(id string) {
	b.t.Helper()
	waitFor[bool](b, "#"+id+" enabled and shown", fmt.Sprintf(
		`(() => { const e = document.getElementById(%s); return !!e && !e.disabled && e.offsetParent !== null; })()`, js(id)),
		20*time.Second)
	evalT[chromedp.Void](b, fmt.Sprintf(`document.getElementById(%s).click()`, js(id)))
}

func (b *browser) screen() string {
	return evalT[string](b, `document.body.dataset.screen || ''`)
}

func (b *browser) waitScreen(name string, timeout time.Duration) {
	b.t.Helper()
	waitFor[bool](b, "screen "+name, fmt.Sprintf(`document.body.dataset.screen === %s`, js(name)), timeout)
}

func (b *browser) screenshot(path string) {
	b.t.Helper()
	// Two animation frames: the layout of the last change is done before the page is measured.
	evalT[chromedp.Void](b, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())))`)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
