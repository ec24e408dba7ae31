package turn

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pion/logging"
)

// pionLoggerFactory adapts slog to pion's logging.LoggerFactory.
//
// pion formats client and peer addresses, five-tuples and usernames into its
// log lines. Nothing with an address may reach a log (privacy invariant 2),
// so every line goes through redact, which blanks anything that looks like
// an IP address with its port, or a long hex run (the %x of an address, a
// session id inside a username).
type pionLoggerFactory struct{ l *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{l: f.l.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (p *pionLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !p.l.Enabled(ctx, level) {
		return // the common case: pion's per-packet debug lines cost nothing
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	p.l.Log(ctx, level, lowerFirst(redact(msg)))
}

// pion's trace, debug and info lines are per-packet or per-request events
// (info includes "no permission" for every stray datagram), so they go to
// slog's debug level where they cannot flood an operator's log.
func (p *pionLogger) Trace(msg string)                  { p.logf(slog.LevelDebug, "%s", msg) }
func (p *pionLogger) Tracef(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p *pionLogger) Debug(msg string)                  { p.logf(slog.LevelDebug, "%s", msg) }
func (p *pionLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p *pionLogger) Info(msg string)                   { p.logf(slog.LevelDebug, "%s", msg) }
func (p *pionLogger) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p *pionLogger) Warn(msg string)                   { p.logf(slog.LevelWarn, "%s", msg) }
func (p *pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelWarn, format, args...) }
func (p *pionLogger) Error(msg string)                  { p.logf(slog.LevelError, "%s", msg) }
func (p *pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelError, format, args...) }

var redactRE = regexp.MustCompile(
	// TURN REST usernames ("expiry:session", pion prints them on refusals),
	// IPv6 (any token of hex digits, dots and at least two colons, with
	// optional brackets and zone), IPv4 dotted quads, each with the port
	// that follows it (a client's source port tells clients apart as well
	// as its address does), and hex runs of 16+.
	`\d{6,}:\S+` +
		`|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(%[0-9A-Za-z]+)?\]?(:\d+)?` +
		`|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?` +
		`|[0-9A-Fa-f]{16,}`)

// userRE finds the username pion appends to a refusal, whatever its form.
var userRE = regexp.MustCompile(`(no such user exists )\S+`)

// redact blanks addresses and identifiers in a pion log line.
func redact(s string) string {
	s = userRE.ReplaceAllString(s, "${1}<redacted>")
	return redactRE.ReplaceAllString(s, "<redacted>")
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsUpper(r) {
		return s
	}
	// Keep acronyms such as "TURN" or "UDP" as they are.
	if rest := s[n:]; rest != "" {
		if r2, _ := utf8.DecodeRuneInString(rest); unicode.IsUpper(r2) {
			return s
		}
	}
	return strings.ToLower(s[:n]) + s[n:]
}
