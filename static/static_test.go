package static

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := Handler(Options{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"HEAD", "/", 200},
		{"GET", "/app.js", 200},
		{"GET", "/style.css", 200},
		{"GET", "/privacy", 200},
		{"GET", "/nope", 404},
		{"GET", "/index.html", 404},
		{"POST", "/", 405},
		{"GET", "/r", 200},
		{"GET", "/room.html", 404},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := get(t, h, tc.method, tc.path, nil)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.status)
			}
			want := map[string]string{
				"Content-Security-Policy":    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
				"X-Content-Type-Options":     "nosniff",
				"Referrer-Policy":            "no-referrer",
				"Permissions-Policy":         "camera=(self), microphone=(self), geolocation=()",
				"Cross-Origin-Opener-Policy": "same-origin",
				"X-Frame-Options":            "DENY",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Errorf("static files set a cookie: %q", r.Header.Get("Set-Cookie"))
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	h := Handler(Options{})
	for path, want := range map[string]string{
		"/":              "text/html; charset=utf-8",
		"/privacy":       "text/html; charset=utf-8",
		"/app.js":        "text/javascript; charset=utf-8",
		"/protocol.js":   "text/javascript; charset=utf-8",
		"/rtc.js":        "text/javascript; charset=utf-8",
		"/style.css":     "text/css; charset=utf-8",
		"/favicon.svg":   "image/svg+xml",
		"/i18n.js":       "text/javascript; charset=utf-8",
		"/safety.js":     "text/javascript; charset=utf-8",
		"/ui.js":         "text/javascript; charset=utf-8",
		"/form.js":       "text/javascript; charset=utf-8",
		"/transcript.js": "text/javascript; charset=utf-8",
		"/sha256.js":     "text/javascript; charset=utf-8",
		"/ids.js":        "text/javascript; charset=utf-8",
		"/support.js":    "text/javascript; charset=utf-8",
		"/notice.js":     "text/javascript; charset=utf-8",
		"/privacy.js":    "text/javascript; charset=utf-8",
		"/pow.js":        "text/javascript; charset=utf-8",
		"/powworker.js":  "text/javascript; charset=utf-8",
		"/online.js":     "text/javascript; charset=utf-8",
		"/keys.js":       "text/javascript; charset=utf-8",
		"/r":             "text/html; charset=utf-8",
		"/room.js":       "text/javascript; charset=utf-8",
		"/room-view.js":  "text/javascript; charset=utf-8",
		"/room-form.js":  "text/javascript; charset=utf-8",
		"/room-i18n.js":  "text/javascript; charset=utf-8",
		"/mesh.js":       "text/javascript; charset=utf-8",
		"/room.css":      "text/css; charset=utf-8",
	} {
		t.Run(path, func(t *testing.T) {
			r := get(t, h, "GET", path, nil)
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			if got := r.Header.Get("Content-Type"); got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if len(body(t, r)) == 0 {
				t.Error("empty body")
			}
		})
	}
}

func TestUnknownPaths404(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{"/x", "/web/app.js", "/privacy.html.tmpl", "/static.go", "/../static.go", "/app.js/", "/privacy/", "/ws", "/api/me", "/index.html", "/room.html", "/r/", "/r/x"} {
		t.Run(p, func(t *testing.T) {
			if r := get(t, h, "GET", p, nil); r.StatusCode != 404 {
				t.Errorf("status %d, want 404", r.StatusCode)
			}
		})
	}
}

func TestPrivacyShowsConfiguredValues(t *testing.T) {
	h := Handler(Options{
		SessionTTL:    2 * time.Hour,
		ResumeWindow:  45 * time.Second,
		ReportWindow:  30 * 24 * time.Hour,
		BanAfter:      7,
		BanFor:        14 * 24 * time.Hour,
		HideIPDefault: true,
	})
	for _, tc := range []struct {
		name   string
		target string
		header map[string]string
		want   []string
	}{
		{"english", "/privacy", nil, []string{
			`lang="en"`, "deleted 2 hours after your last activity", "waits 45 seconds", "for 30 days",
			"when 7 different people", "banned for 14 days", "By default this choice is on",
			"parley_session", "sessionStorage", "never reach the server",
		}},
		{"dutch by query", "/privacy?lang=nl", nil, []string{
			`lang="nl"`, "gewist 2 uur na je laatste activiteit", "45 seconden", "30 dagen lang",
			"melden 7 verschillende mensen", "14 dagen geblokkeerd", "staat deze keuze\naan", "parley_session",
		}},
		{"dutch by header", "/privacy", map[string]string{"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"}, []string{`lang="nl"`}},
		{"english first in header", "/privacy", map[string]string{"Accept-Language": "en-GB,nl;q=0.5"}, []string{`lang="en"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, h, "GET", tc.target, tc.header)
			b := body(t, r)
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("privacy page lacks %q", w)
				}
			}
		})
	}
}

func TestPrivacyDefaults(t *testing.T) {
	b := body(t, get(t, Handler(Options{}), "GET", "/privacy", nil))
	for _, w := range []string{"deleted 1 hour after", "waits 30 seconds", "for 90 days", "when 3 different people", "banned for 90 days", "By default this choice is off"} {
		if !strings.Contains(b, w) {
			t.Errorf("privacy page lacks %q", w)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		lang string
		want string
	}{
		{time.Hour, "en", "1 hour"},
		{2160 * time.Hour, "en", "90 days"},
		{90 * time.Minute, "en", "90 minutes"},
		{30 * time.Second, "nl", "30 seconden"},
		{time.Second, "nl", "1 seconde"},
		{1500 * time.Millisecond, "en", "1.5s"},
	} {
		if got := humanDuration(tc.d, tc.lang); got != tc.want {
			t.Errorf("humanDuration(%v, %s) = %q, want %q", tc.d, tc.lang, got, tc.want)
		}
	}
}

// The page must load nothing from anyone else: no absolute URL, protocol-relative URL or @import in
// any embedded file. The SVG namespace is an identifier, never fetched.
func TestNoExternalURLs(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:|wss?:|ftp:)//[a-z0-9\[]|["'(=]\s*//[a-z0-9]|@import|url\(\s*['"]?(https?:|//)`)
	allowed := strings.NewReplacer(`xmlns="http://www.w3.org/2000/svg"`, "")
	check := func(name, text string) {
		if m := external.FindString(allowed.Replace(text)); m != "" {
			t.Errorf("%s refers to something outside this origin: %q", name, m)
		}
	}
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		check(p, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("privacy.html.tmpl", privacySource)
}

// No inline script or style: the CSP forbids them, so one would silently not work.
func TestNoInlineScriptsOrStyles(t *testing.T) {
	h := Handler(Options{})
	inline := []*regexp.Regexp{
		regexp.MustCompile(`(?is)<script(\s[^>]*)?>\s*[^<\s]`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	for _, p := range []string{"/", "/r", "/privacy", "/privacy?lang=nl"} {
		b := body(t, get(t, h, "GET", p, nil))
		for _, re := range inline {
			if m := re.FindString(b); m != "" {
				t.Errorf("%s has inline code: %q", p, m)
			}
		}
	}
}

// The privacy link and every script of the pages (the chat at /, the room at /r) are served.
func TestIndexReferencesExist(t *testing.T) {
	h := Handler(Options{})
	for _, page := range []string{"/", "/r"} {
		index := body(t, get(t, h, "GET", page, nil))
		refs := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(index, -1)
		if len(refs) < 3 {
			t.Fatalf("found only %d references in %s", len(refs), page)
		}
		for _, m := range refs {
			if r := get(t, h, "GET", m[1], nil); r.StatusCode != 200 {
				t.Errorf("%s referenced by %s: status %d", m[1], page, r.StatusCode)
			}
		}
	}
	// Every module import must resolve to a served file.
	imports := regexp.MustCompile(`(?:from|import) '\./([a-z0-9-]+\.js)'`)
	_ = fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, _ := web.ReadFile(p)
		for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
			if r := get(t, h, "GET", "/"+m[1], nil); r.StatusCode != 200 {
				t.Errorf("%s imports %s: status %d", p, m[1], r.StatusCode)
			}
		}
		if !strings.Contains(string(b), "'use strict';") {
			t.Errorf("%s lacks 'use strict'", p)
		}
		return nil
	})
}

func TestConditionalGet(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{"/app.js", "/", "/privacy"} {
		t.Run(p, func(t *testing.T) {
			r := get(t, h, "GET", p, nil)
			etag := r.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			r2 := get(t, h, "GET", p, map[string]string{"If-None-Match": etag})
			if r2.StatusCode != http.StatusNotModified {
				t.Errorf("status %d, want 304", r2.StatusCode)
			}
			if r2.Header.Get("Content-Security-Policy") == "" {
				t.Error("304 without security headers")
			}
			if r3 := get(t, h, "GET", p, map[string]string{"If-None-Match": `"other"`}); r3.StatusCode != 200 {
				t.Errorf("status %d for another ETag, want 200", r3.StatusCode)
			}
		})
	}
	// The two languages of the notice are different documents.
	en := get(t, h, "GET", "/privacy?lang=en", nil).Header.Get("ETag")
	nl := get(t, h, "GET", "/privacy?lang=nl", nil).Header.Get("ETag")
	if en == nl {
		t.Error("the English and Dutch notices share an ETag")
	}
}

// The privacy notice's script and stylesheet are served, and its erase buttons are there in both
// languages.
func TestPrivacyReferencesExist(t *testing.T) {
	h := Handler(Options{})
	for _, lang := range []string{"en", "nl"} {
		page := body(t, get(t, h, "GET", "/privacy?lang="+lang, nil))
		for _, m := range regexp.MustCompile(`(?:src|href)="(/[^"?]*)"`).FindAllStringSubmatch(page, -1) {
			if r := get(t, h, "GET", m[1], nil); r.StatusCode != 200 {
				t.Errorf("%s: %s: status %d", lang, m[1], r.StatusCode)
			}
		}
		for _, id := range []string{`src="/privacy.js"`, `id="me-show"`, `id="me-erase"`, `id="me-yes"`, `id="me-done"`} {
			if !strings.Contains(page, id) {
				t.Errorf("%s: the privacy notice lacks %s", lang, id)
			}
		}
	}
}
