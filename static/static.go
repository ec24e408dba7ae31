// Package static serves parley's browser client and its privacy notice.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// web holds the client exactly as the browser receives it: there is no build step, so what is in the
// repository is what an auditor can read.
//
//go:embed web
var web embed.FS

//go:embed privacy.html.tmpl
var privacySource string

// Options are the server settings the client and the privacy notice tell people about. Zero values
// mean the server's defaults, so the notice never states a retention the server does not apply.
type Options struct {
	// SessionTTL is how long a session is kept after its last activity (default 1h).
	SessionTTL time.Duration
	// ResumeWindow is how long a pair waits for someone who dropped out (default 30s).
	ResumeWindow time.Duration
	// ReportWindow is how long a report is kept (default 2160h).
	ReportWindow time.Duration
	// BanAfter is how many people, from distinct addresses, must report someone to ban them (default 3).
	BanAfter int
	// BanFor is how long a ban lasts (default 2160h).
	BanFor time.Duration
	// HideIPDefault is the default of the hide-my-IP toggle.
	HideIPDefault bool
	// Helpline says the helpline runs, with its retention and blocks: the
	// notice then has a section on it.
	Helpline *HelplineOptions
}

// HelplineOptions are the helpline's settings the notice states.
type HelplineOptions struct {
	ContactPeriod   time.Duration // key rotation and contact record retention
	TimeOutsToBlock int
	Block           time.Duration
}

func (o Options) withDefaults() Options {
	if o.SessionTTL <= 0 {
		o.SessionTTL = time.Hour
	}
	if o.ResumeWindow <= 0 {
		o.ResumeWindow = 30 * time.Second
	}
	if o.ReportWindow <= 0 {
		o.ReportWindow = 2160 * time.Hour
	}
	if o.BanAfter <= 0 {
		o.BanAfter = 3
	}
	if o.BanFor <= 0 {
		o.BanFor = 2160 * time.Hour
	}
	return o
}

// ContentSecurityPolicy is sent with every response. connect-src 'self' also allows the same-origin
// ws: and wss: URL of /ws (CSP Level 3, which current Chromium follows).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders are set on every response, errors included.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", ContentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Permissions-Policy", "camera=(self), microphone=(self), geolocation=()"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"X-Frame-Options", "DENY"},
}

// contentTypes is explicit so the answer never depends on the host's MIME database.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

type file struct {
	body        []byte
	contentType string
	etag        string // strong validator from the content, so revalidation costs a 304 only
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

type handler struct {
	files   map[string]file // URL path -> file
	privacy map[string]file // language -> rendered notice
}

// Handler serves the client's files, / as index.html, /r (a group room; its secret is in the
// fragment, which never reaches the server) as room.html, and GET /privacy. Anything else is 404.
func Handler(o Options) http.Handler {
	o = o.withDefaults()
	h := &handler{files: map[string]file{}, privacy: map[string]file{}}
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("static: no content type for %s", p)
		}
		b, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		h.files[strings.TrimPrefix(p, "web")] = newFile(b, ct)
		return nil
	})
	if err != nil {
		// The files are compiled in: a failure here is a programming error caught by the tests.
		panic(err)
	}
	h.files["/"] = h.files["/index.html"]
	delete(h.files, "/index.html")
	h.files["/r"] = h.files["/room.html"]
	delete(h.files, "/room.html")
	for _, lang := range []string{"en", "nl"} {
		b, err := renderPrivacy(o, lang)
		if err != nil {
			panic(err)
		}
		h.privacy[lang] = newFile(b, contentTypes[".html"])
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, kv := range securityHeaders {
		w.Header().Set(kv[0], kv[1])
	}
	var f file
	var ok bool
	if r.URL.Path == "/privacy" {
		lang := privacyLang(r)
		f, ok = h.privacy[lang], true
		w.Header().Set("Content-Language", lang)
		w.Header().Add("Vary", "Accept-Language")
	} else {
		f, ok = h.files[r.URL.Path]
	}
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	// no-cache, not no-store: the browser revalidates, so a new release is picked up at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// privacyLang picks Dutch for ?lang=nl or a browser that prefers Dutch, English otherwise.
func privacyLang(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case "nl":
		return "nl"
	case "en":
		return "en"
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "nl" || strings.HasPrefix(tag, "nl-"):
			return "nl"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

var privacyTemplate = template.Must(template.New("privacy").Parse(privacySource))

type privacyData struct {
	Lang          string
	SessionTTL    string
	ResumeWindow  string
	ReportWindow  string
	BanAfter      int
	BanFor        string
	HideIPDefault bool

	Helpline        bool
	VisitorCookie   string
	ContactPeriod   string
	TimeOutsToBlock int
	HelplineBlock   string
}

func renderPrivacy(o Options, lang string) ([]byte, error) {
	var buf bytes.Buffer
	d := privacyData{
		Lang:          lang,
		SessionTTL:    humanDuration(o.SessionTTL, lang),
		ResumeWindow:  humanDuration(o.ResumeWindow, lang),
		ReportWindow:  humanDuration(o.ReportWindow, lang),
		BanAfter:      o.BanAfter,
		BanFor:        humanDuration(o.BanFor, lang),
		HideIPDefault: o.HideIPDefault,
	}
	if h := o.Helpline; h != nil {
		d.Helpline, d.TimeOutsToBlock = true, h.TimeOutsToBlock
		d.VisitorCookie = humanDuration(90*24*time.Hour, lang)
		d.ContactPeriod, d.HelplineBlock = humanDuration(h.ContactPeriod, lang), humanDuration(h.Block, lang)
	}
	err := privacyTemplate.Execute(&buf, d)
	if err != nil {
		return nil, fmt.Errorf("static: render privacy notice: %w", err)
	}
	return buf.Bytes(), nil
}

// humanDuration writes d in the largest whole unit, e.g. "90 days", "1 hour", "30 seconds", so the notice
// reads as a promise a person understands. A duration that is not whole in any unit keeps Go's form.
func humanDuration(d time.Duration, lang string) string {
	units := []struct {
		d            time.Duration
		one, many    string
		nlOne, nlMny string
	}{
		{24 * time.Hour, "day", "days", "dag", "dagen"},
		{time.Hour, "hour", "hours", "uur", "uur"},
		{time.Minute, "minute", "minutes", "minuut", "minuten"},
		{time.Second, "second", "seconds", "seconde", "seconden"},
	}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			n := int64(d / u.d)
			one, many := u.one, u.many
			if lang == "nl" {
				one, many = u.nlOne, u.nlMny
			}
			if n == 1 {
				return "1 " + one
			}
			return fmt.Sprintf("%d %s", n, many)
		}
	}
	return d.String()
}
