package proto

import "strings"

// The shapes of the small values a signal carries. Each check accepts what
// Chromium, Firefox, Safari and pion actually send and nothing wider, because
// every character a field may freely hold is room for a covert payload.

// Lengths of the ICE credentials. RFC 8839 allows 4..256 and 22..256
// characters; the implementations in use send: Chromium and Safari 4 and 24,
// Firefox 8 and 32 (hex), pion 16 and 32 (letters), libnice and libjuice 4
// and 22. The upper bounds are the longest of those.
const (
	minUfrag = 4
	maxUfrag = 16
	minPwd   = 22
	maxPwd   = 32
)

// maxMidValue bounds a media ID. Chromium, Firefox, Safari and pion number
// their m= sections "0", "1", ..., and a number only grows when a
// transceiver is added, so three digits last a chat of any length. Firefox
// wrote "sdparta_0", "sdparta_1", ... for years; that spelling passes too.
const maxMidValue = 999

// isICEChar reports whether c is an ice-char (RFC 8839: ALPHA / DIGIT / "+" / "/").
func isICEChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

func isICEString(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isICEChar(s[i]) {
			return false
		}
	}
	return true
}

func validUfrag(s string) bool { return isICEString(s, minUfrag, maxUfrag) }
func validPwd(s string) bool   { return isICEString(s, minPwd, maxPwd) }

// validMid accepts a media ID: a decimal number up to maxMidValue without
// leading zeros, alone or after "sdparta_".
func validMid(s string) bool {
	_, ok := parseUint(strings.TrimPrefix(s, "sdparta_"), maxMidValue)
	return ok
}

// parseUint parses a decimal number without sign, leading zeros or
// anything else, no larger than maxValue.
func parseUint(s string, maxValue uint64) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if d > maxValue || n > (maxValue-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// isTokenChar reports whether c is a token-char of RFC 4566, the alphabet of
// msid identifiers.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

func isToken(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isVisible reports whether s is 1..maxLen visible ASCII characters.
func isVisible(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// isUUIDv4 reports whether s is a version 4 UUID in its canonical text form
// (either case), the name browsers and pion give an mDNS host candidate.
func isUUIDv4(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '4' {
				return false
			}
		case 19:
			if !(c == '8' || c == '9' || c == 'a' || c == 'b' || c == 'A' || c == 'B') {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lowerASCII returns s in lower case, without allocating when it already is.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// cut splits s at the first sep, like strings.Cut for one byte.
func cut(s string, sep byte) (before, after string, found bool) {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// nextField returns the first space-separated field of s and the rest after
// that space. Runs of spaces are not collapsed: SDP separates with one.
func nextField(s string) (field, rest string) {
	f, r, _ := cut(s, ' ')
	return f, r
}
