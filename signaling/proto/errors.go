package proto

import (
	"errors"
	"strings"
)

// Wire error codes: the contract with every client. docs/PROTOCOL.md lists
// each with its meaning.
const (
	CodeBadMessage      = "bad_message"
	CodeUnknownType     = "unknown_type"
	CodeBadVersion      = "bad_version"
	CodeNotHello        = "not_hello"
	CodeAlreadyHello    = "already_hello"
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
	CodeNoSuchPeer      = "no_such_peer"
	CodeNoSuchRoom      = "no_such_room"
	CodeRoomFull        = "room_full"
	CodeForbidden       = "forbidden"
	CodeBadRoom         = "bad_room"
	CodeUnavailable     = "unavailable"
	CodeSignalBudget    = "signal_budget"
	CodeBadReason       = "bad_reason"
	CodeNothingToReport = "nothing_to_report"
	CodeRateLimited     = "rate_limited"
	CodeTooLarge        = "too_large"
	CodeBanned          = "banned"
	CodeInternal        = "internal"
	CodeBadLanguage     = "bad_language"
	CodePowRequired     = "pow_required"
	CodeBadPow          = "bad_pow"
	CodeNothingToBlock  = "nothing_to_block"
	// The helpline's (helpline.go).
	CodeNoSuchOffer          = "no_such_offer"
	CodeNoSuchChat           = "no_such_chat"
	CodeColleagueUnavailable = "colleague_unavailable"
)

// Close codes beyond the standard ones.
const (
	CloseNormal        = 1000 // the session was erased (DELETE /api/me)
	ClosePolicy        = 1008 // repeated abuse
	CloseTooLarge      = 1009 // a frame over MaxFrameBytes
	CloseServerRestart = 1012 // graceful shutdown: reconnect and resume
	CloseTakenOver     = 4001 // the same session connected again (another tab, a reload)
	CloseBanned        = 4003 // the address is banned; a banned message came first
)

// Sentinel errors. Each maps to one wire code through CodeOf; its text after
// "proto: " is the message sent with the code.
var (
	ErrBadMessage           = errors.New("proto: malformed message")
	ErrUnknownType          = errors.New("proto: unknown message type")
	ErrBadVersion           = errors.New("proto: unsupported protocol version")
	ErrNotHello             = errors.New("proto: the first message must be hello")
	ErrAlreadyHello         = errors.New("proto: hello was already said")
	ErrConsentRequired      = errors.New("proto: consent and the adult confirmation are required")
	ErrBadMode              = errors.New("proto: unknown mode")
	ErrBadMedia             = errors.New("proto: unknown media")
	ErrBadName              = errors.New("proto: name too long or with characters not allowed")
	ErrBadInterests         = errors.New("proto: too many interests, or one too long or with characters not allowed")
	ErrBadPreference        = errors.New("proto: unknown preference")
	ErrNotPaired            = errors.New("proto: there is no partner to send this to")
	ErrNotQueued            = errors.New("proto: not in a chat or a queue")
	ErrBadSignal            = errors.New("proto: a signal carries exactly one of sdp or candidate")
	ErrBadSDP               = errors.New("proto: the session description is not a valid offer or answer")
	ErrBadCandidate         = errors.New("proto: the ICE candidate is not valid")
	ErrNoSuchPeer           = errors.New("proto: no such peer in your chat")
	ErrNoSuchRoom           = errors.New("proto: no such room: the link is wrong or the room has ended")
	ErrRoomFull             = errors.New("proto: the room is full")
	ErrForbidden            = errors.New("proto: only the room's owner may do that, or the room is locked to newcomers")
	ErrUnavailable          = errors.New("proto: the service cannot start new chats right now (part of it cannot be reached); chats in progress go on, try again soon")
	ErrBadRoom              = errors.New("proto: a room needs a media of text or video, a name of up to 48 letters, digits, spaces or - _ . ' and a size within the server's limit")
	ErrSignalBudget         = errors.New("proto: too much signaling in this session, wait a little")
	ErrBadReason            = errors.New("proto: unknown reason")
	ErrNothingToReport      = errors.New("proto: nobody to report: no partner now or in the last minutes")
	ErrRateLimited          = errors.New("proto: too many messages, slow down")
	ErrInternal             = errors.New("proto: internal error")
	ErrBadLanguage          = errors.New("proto: unknown chat language")
	ErrPowRequired          = errors.New("proto: the first join of a session needs the proof of work")
	ErrBadPow               = errors.New("proto: the proof of work is wrong, expired or already used")
	ErrNothingToBlock       = errors.New("proto: nobody to block: no partner now or in the last minutes")
	ErrNoSuchOffer          = errors.New("proto: that offer was withdrawn, taken or timed out")
	ErrNoSuchChat           = errors.New("proto: no such chat of yours")
	ErrColleagueUnavailable = errors.New("proto: that volunteer cannot take a chat now")
)

// errorCodes is the one table from errors to wire codes.
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
	{ErrNoSuchPeer, CodeNoSuchPeer},
	{ErrNoSuchRoom, CodeNoSuchRoom},
	{ErrRoomFull, CodeRoomFull},
	{ErrForbidden, CodeForbidden},
	{ErrBadRoom, CodeBadRoom},
	{ErrUnavailable, CodeUnavailable},
	{ErrSignalBudget, CodeSignalBudget},
	{ErrBadReason, CodeBadReason},
	{ErrNothingToReport, CodeNothingToReport},
	{ErrRateLimited, CodeRateLimited},
	{ErrInternal, CodeInternal},
	{ErrBadLanguage, CodeBadLanguage},
	{ErrPowRequired, CodePowRequired},
	{ErrBadPow, CodeBadPow},
	{ErrNothingToBlock, CodeNothingToBlock},
	{ErrNoSuchOffer, CodeNoSuchOffer},
	{ErrNoSuchChat, CodeNoSuchChat},
	{ErrColleagueUnavailable, CodeColleagueUnavailable},
}

// Codes lists every wire error code, for metrics over a closed set.
func Codes() []string {
	out := []string{CodeTooLarge, CodeBanned}
	for _, m := range errorCodes {
		out = append(out, m.code)
	}
	return out
}

// CodeOf maps an error to its wire code; anything unknown is internal.
func CodeOf(err error) string {
	if e := match(err); e != nil {
		return e.code
	}
	return CodeInternal
}

// MessageOf is the human message sent with a code. It is the sentinel's own
// text, never anything the client sent, so no content or address is echoed.
func MessageOf(err error) string {
	if e := match(err); e != nil {
		return strings.TrimPrefix(e.err.Error(), "proto: ")
	}
	return "internal error"
}

func match(err error) *struct {
	err  error
	code string
} {
	for i := range errorCodes {
		if errors.Is(err, errorCodes[i].err) {
			return &errorCodes[i]
		}
	}
	return nil
}
