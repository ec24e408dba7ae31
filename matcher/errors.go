package matcher

import "errors"

// Sentinel errors. Callers map them to wire error codes with errors.Is.
// Messages never carry the rejected value: a preference is personal data and errors get logged.
var (
	ErrBadID         = errors.New("matcher: bad session id")
	ErrBadMode       = errors.New("matcher: unknown mode")
	ErrBadMedia      = errors.New("matcher: unknown media")
	ErrNoPreference  = errors.New("matcher: opposite mode needs a preference")
	ErrBadPreference = errors.New("matcher: unknown preference")
	ErrBadInterests  = errors.New("matcher: too many or too long interests")
	ErrBadLanguage   = errors.New("matcher: unknown language")
	ErrBadTopics     = errors.New("matcher: bad topics")
	ErrBadConfig     = errors.New("matcher: bad config")
)
