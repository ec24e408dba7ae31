package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/turn"
)

// ProtocolVersion is the only version of the wire protocol this server speaks.
const ProtocolVersion = 1

// Limits on what a client may send. They are announced in welcome.
const (
	MaxFrameBytes     = 64 << 10
	MaxNameLength     = 32
	MaxInterests      = 5
	MaxInterestLength = 32
	maxSDPLines       = 512
)

// Client to server message types.
const (
	TypeHello  = "hello"
	TypeJoin   = "join"
	TypeSignal = "signal"
	TypeNext   = "next"
	TypeLeave  = "leave"
	TypeReport = "report"
	// TypeBye says the page is going away (closed or reloaded, the browser
	// cannot tell which): if the socket closes soon after, the chat waits
	// ByeWindow for a return instead of ResumeWindow.
	TypeBye = "bye"
)

// Server to client message types.
const (
	TypeWelcome             = "welcome"
	TypeQueued              = "queued"
	TypeMatched             = "matched"
	TypePartnerReconnecting = "partner-reconnecting"
	TypePartnerLeft         = "partner-left"
	TypeBanned              = "banned"
	TypeError               = "error"
	TypeLeft                = "left"
	TypeReported            = "reported"
)

// Reasons carried by partner-left.
const (
	ReasonNext   = "next"
	ReasonLeave  = "leave"
	ReasonGone   = "gone"
	ReasonBanned = "banned"
	// ReasonClosed: the partner said bye and did not come back within the
	// bye window (the tab was closed).
	ReasonClosed = "closed"
	// ReasonFailed: the partner's browser could not connect to yours (ICE or
	// DTLS failed, or no connection within its bound) and sent leave with
	// reason failed. Also the only leave reason the server acts on.
	ReasonFailed = "failed"
)

// Inbound is every field a client message may carry. Unknown fields are
// refused, so nothing travels through the server that the protocol does not
// name: there is no field for chat text and there never will be.
type Inbound struct {
	Type string `json:"type"`
	V    int    `json:"v,omitempty"`

	// join
	Mode              string   `json:"mode,omitempty"`
	Media             string   `json:"media,omitempty"`
	Name              string   `json:"name,omitempty"`
	Preference        string   `json:"preference,omitempty"`
	Interests         []string `json:"interests,omitempty"`
	Consent           bool     `json:"consent,omitempty"`
	Adult             bool     `json:"adult,omitempty"`
	PreferenceConsent bool     `json:"preferenceConsent,omitempty"`
	HideIP            *bool    `json:"hideIP,omitempty"`

	// signal
	Data *SignalData `json:"data,omitempty"`

	// report; leave ("failed" only, anything else is a plain leave)
	Reason string `json:"reason,omitempty"`
}

// SignalData is the payload of a signal: exactly one of SDP or Candidate.
type SignalData struct {
	SDP       *SessionDescription `json:"sdp,omitempty"`
	Candidate *Candidate          `json:"candidate,omitempty"`
}

// SessionDescription mirrors RTCSessionDescriptionInit.
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// Candidate mirrors RTCIceCandidateInit. An empty Candidate string is the
// end-of-candidates marker.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Decode parses one client frame strictly: one JSON object, known fields
// only, nothing after it. It checks the shape, not the meaning; Validate
// checks the meaning.
func Decode(frame []byte) (*Inbound, error) {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.DisallowUnknownFields()
	var m Inbound
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, jsonProblem(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one value in a frame", ErrBadMessage)
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrBadMessage)
	}
	return &m, nil
}

// jsonProblem describes a JSON error without quoting the input.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("wrong type for field %q", e.Field)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return "unknown field"
	}
	return "not a JSON object"
}

// Join is a validated join request.
type Join struct {
	Mode       matcher.Mode
	Media      matcher.Media
	Name       string
	Preference string
	Interests  []string
	HideIP     bool
}

// validateJoin checks a join message against the protocol limits. The
// preference is checked against the configured list by the matcher.
func validateJoin(m *Inbound, hideIPDefault bool) (Join, error) {
	j := Join{Mode: matcher.Mode(m.Mode), Media: matcher.Media(m.Media), HideIP: hideIPDefault}
	if !m.Consent || !m.Adult {
		return j, ErrConsentRequired
	}
	switch j.Mode {
	case matcher.ModeRandom, matcher.ModeInterests:
	case matcher.ModeOpposite:
		if !m.PreferenceConsent {
			return j, fmt.Errorf("%w: opposite mode needs a separate consent for the preference", ErrConsentRequired)
		}
		if m.Preference == "" {
			return j, ErrBadPreference
		}
		j.Preference = m.Preference
	default:
		return j, ErrBadMode
	}
	switch j.Media {
	case matcher.MediaText, matcher.MediaVideo:
	default:
		return j, ErrBadMedia
	}
	name := strings.TrimSpace(m.Name)
	if !validText(name, MaxNameLength, isNameRune) {
		return j, ErrBadName
	}
	j.Name = name
	if j.Mode == matcher.ModeInterests {
		if len(m.Interests) > MaxInterests {
			return j, ErrBadInterests
		}
		seen := make(map[string]bool, len(m.Interests))
		for _, in := range m.Interests {
			in = strings.ToLower(strings.TrimSpace(in))
			if in == "" || !validText(in, MaxInterestLength, isInterestRune) {
				return j, ErrBadInterests
			}
			if !seen[in] {
				seen[in] = true
				j.Interests = append(j.Interests, in)
			}
		}
	}
	if m.HideIP != nil {
		j.HideIP = *m.HideIP
	}
	return j, nil
}

func validText(s string, maxRunes int, ok func(rune) bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxRunes {
		return false
	}
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}

func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-' || r == '_' || r == '.' || r == '\''
}

func isInterestRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-'
}

var reportReasons = map[string]bool{"abuse": true, "spam": true, "illegal": true, "other": true}

// Outbound is every field the server may send. One struct keeps encoding
// cheap and the wire shape in one place.
type Outbound struct {
	Type string `json:"type"`

	// welcome
	V             int                  `json:"v,omitempty"`
	Resumed       *bool                `json:"resumed,omitempty"`
	State         string               `json:"state,omitempty"` // welcome: idle, queued or paired
	ICEServers    []turn.ICEServer     `json:"iceServers,omitempty"`
	Preferences   []matcher.Preference `json:"preferences,omitempty"`
	Features      []string             `json:"features,omitempty"`
	Limits        *Limits              `json:"limits,omitempty"`
	HideIPDefault *bool                `json:"hideIPDefault,omitempty"`

	// queued, matched
	Mode      string             `json:"mode,omitempty"`
	Media     string             `json:"media,omitempty"`
	Pair      string             `json:"pair,omitempty"`
	Role      string             `json:"role,omitempty"`
	Partner   *PartnerInfo       `json:"partner,omitempty"`
	Statement *matcher.Statement `json:"statement,omitempty"`
	Shared    []string           `json:"shared,omitempty"`
	HideIP    *bool              `json:"hideIP,omitempty"`

	// signal
	Data *SignalData `json:"data,omitempty"`

	// partner-left
	Reason string `json:"reason,omitempty"`

	// banned
	Until string `json:"until,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// PartnerInfo is all a person learns about their partner from the server.
type PartnerInfo struct {
	Name string `json:"name"`
}

// Limits are announced in welcome so clients can check input before sending.
type Limits struct {
	MaxFrameBytes       int `json:"maxFrameBytes"`
	MaxNameLength       int `json:"maxNameLength"`
	MaxInterests        int `json:"maxInterests"`
	MaxInterestLength   int `json:"maxInterestLength"`
	ResumeWindowSeconds int `json:"resumeWindowSeconds"`
	ByeWindowSeconds    int `json:"byeWindowSeconds"`
	MessagesPerSecond   int `json:"messagesPerSecond"`
}

var features = []string{"random", "opposite", "interests", "text", "video", "hideIP", "resume", "report", "bye"}

func boolPtr(b bool) *bool { return &b }

func encode(m *Outbound) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Every field is a plain type: this cannot fail.
		panic("signaling: encoding an outbound message: " + err.Error())
	}
	return b
}

func errorMessage(err error) []byte {
	return encode(&Outbound{Type: TypeError, Code: codeOf(err), Message: messageOf(err)})
}
