package proto

// MaxLanguageLength bounds a chat language code.
const MaxLanguageLength = 16

// ValidLanguage reports whether s looks like a chat language code: a
// lower-case language subtag of two or three letters, optionally a region or
// script after a hyphen ("en", "nl", "pt-br"). Which ones a server offers is
// its configuration, announced in welcome.
func ValidLanguage(s string) bool {
	if len(s) < 2 || len(s) > MaxLanguageLength {
		return false
	}
	i := 0
	for i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
		i++
	}
	if i < 2 || i > 3 {
		return false
	}
	if i == len(s) {
		return true
	}
	rest := s[i+1:]
	if s[i] != '-' || len(rest) < 2 || len(rest) > 8 {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
