package signaling

import "errors"

// Wire error codes. They are the contract with every client: docs/PROTOCOL.md
// lists each with its meaning.
const (
	CodeBadMessage      = "bad_message"
	CodeUnknownType     = "unknown_type"
	CodeBadVersion      = "bad_version"
	CodeNotHello        = "not_hello"
	CodeConsentRequired = "consent_required"
	CodeBadMode         = "bad_mode"
	CodeBadMedia        = "bad_media"
	CodeBadName         = "bad_name"
	CodeBadInterests    = "bad_interests"
	CodeBadPreference   = "bad_preference"
	CodeNotPaired       = "not_paired"
	CodeNotQueued       = "not_queued"
	CodeBadSignal       = "bad_signal"
	CodeBadSDP          = "bad_sdp"
	CodeBadCandidate    = "bad_candidate"
	CodeBadReason       = "bad_reason"
	CodeNothingToReport = "nothing_to_report"
	CodeRateLimited     = "rate_limited"
	CodeTooLarge        = "too_large"
	CodeBanned          = "banned"
	CodeInternal        = "internal"
	CodeAlreadyHello    = "already_hello"
)

// Close codes beyond the standard ones.
const (
	CloseTakenOver = 4001 // the same session connected again (another tab, a reload)
	CloseBanned    = 4003 // the address is banned; a banned message came first
)

// Sentinel errors. Each maps to one wire code in codeOf.
var (
	ErrBadMessage      = errors.New("signaling: malformed message")
	ErrUnknownType     = errors.New("signaling: unknown message type")
	ErrBadVersion      = errors.New("signaling: unsupported protocol version")
	ErrNotHello        = errors.New("signaling: the first message must be hello")
	ErrAlreadyHello    = errors.New("signaling: hello was already said")
	ErrConsentRequired = errors.New("signaling: consent and the adult confirmation are required")
	ErrBadMode         = errors.New("signaling: unknown mode")
	ErrBadMedia        = errors.New("signaling: unknown media")
	ErrBadName         = errors.New("signaling: name too long or with characters not allowed")
	ErrBadInterests    = errors.New("signaling: too many interests, or one too long or with characters not allowed")
	ErrBadPreference   = errors.New("signaling: unknown preference")
	ErrNotPaired       = errors.New("signaling: there is no partner to send this to")
	ErrNotQueued       = errors.New("signaling: not in a chat or a queue")
	ErrBadSignal       = errors.New("signaling: a signal carries exactly one of sdp or candidate")
	ErrBadSDP          = errors.New("signaling: the session description is not a valid offer or answer")
	ErrBadCandidate    = errors.New("signaling: the ICE candidate is not valid")
	ErrBadReason       = errors.New("signaling: unknown report reason")
	ErrNothingToReport = errors.New("signaling: nobody to report: no partner now or in the last minutes")
	ErrRateLimited     = errors.New("signaling: too many messages, slow down")
	ErrInternal        = errors.New("signaling: internal error")
)

// codeOf maps an error to its wire code: the one place where errors meet the
// protocol.
func codeOf(err error) string {
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return CodeInternal
}

var errorCodes = []struct {
	err  error
	code string
}{
	{ErrBadMessage, CodeBadMessage},
	{ErrUnknownType, CodeUnknownType},
	{ErrBadVersion, CodeBadVersion},
	{ErrNotHello, CodeNotHello},
	{ErrAlreadyHello, CodeAlreadyHello},
	{ErrConsentRequired, CodeConsentRequired},
	{ErrBadMode, CodeBadMode},
	{ErrBadMedia, CodeBadMedia},
	{ErrBadName, CodeBadName},
	{ErrBadInterests, CodeBadInterests},
	{ErrBadPreference, CodeBadPreference},
	{ErrNotPaired, CodeNotPaired},
	{ErrNotQueued, CodeNotQueued},
	{ErrBadSignal, CodeBadSignal},
	{ErrBadSDP, CodeBadSDP},
	{ErrBadCandidate, CodeBadCandidate},
	{ErrBadReason, CodeBadReason},
	{ErrNothingToReport, CodeNothingToReport},
	{ErrRateLimited, CodeRateLimited},
}

// messageOf is the human message sent with an error code. It never includes
// anything the client sent, so no content or address is ever echoed.
func messageOf(err error) string {
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.err.Error()[len("signaling: "):]
		}
	}
	return "internal error"
}
