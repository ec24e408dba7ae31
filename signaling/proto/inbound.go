package proto

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Inbound is every field a client message may carry. Unknown fields are
// refused at every depth, so nothing travels through the server under a name
// the protocol does not define: there is no field for chat text and there
// never will be. One struct for every type keeps decoding to one pass; the
// method of each message type (Hello, Join, Signal, Report, Leave) checks
// the fields that type uses.
type Inbound struct {
	Type string `json:"type"`
	V    int    `json:"v,omitempty"`

	// join
	Mode              string       `json:"mode,omitempty"`
	Media             string       `json:"media,omitempty"`
	Name              string       `json:"name,omitempty"`
	Preference        string       `json:"preference,omitempty"`
	Interests         []string     `json:"interests,omitempty"`
	Consent           bool         `json:"consent,omitempty"`
	Adult             bool         `json:"adult,omitempty"`
	PreferenceConsent bool         `json:"preferenceConsent,omitempty"`
	HideIP            *bool        `json:"hideIP,omitempty"`
	Language          string       `json:"language,omitempty"` // one of welcome's languages
	Pow               *PowSolution `json:"pow,omitempty"`      // the first join of a session

	// signal (v2: Peer names the recipient)
	Peer string      `json:"peer,omitempty"`
	Data *SignalData `json:"data,omitempty"`

	// report, leave
	Reason string `json:"reason,omitempty"`

	// rooms: room-create (name, memberName, media, max, hideIP, consent, adult),
	// room-join (secret, name, hideIP, consent, adult), room-kick (peer,
	// ban), room-lock (locked)
	MemberName string `json:"memberName,omitempty"` // room-create: the creator's display name (name is the room's)
	Max        int    `json:"max,omitempty"`
	Secret     string `json:"secret,omitempty"`
	Ban        bool   `json:"ban,omitempty"`
	Locked     *bool  `json:"locked,omitempty"`

	// helpline staff (helpline.go): shift (on, capacity), offer-accept and
	// offer-decline (offer), chat-end (chat), chat-timeout (chat, hours),
	// chat-handover (chat, volunteer)
	On        *bool  `json:"on,omitempty"`
	Capacity  int    `json:"capacity,omitempty"`
	Offer     string `json:"offer,omitempty"`
	Chat      string `json:"chat,omitempty"`
	Hours     int    `json:"hours,omitempty"`
	Volunteer string `json:"volunteer,omitempty"`
}

// strict are the decoding options of every client frame: unknown names
// at any depth, a name given twice and invalid UTF-8 are refused, and
// names match exactly (encoding/json would take "TYPE" for "type").
var strict = json.JoinOptions(json.RejectUnknownMembers(true))

// Decode parses one client frame strictly: one JSON object, known fields
// only, nothing after it. It checks the shape, not the meaning.
//
// It uses github.com/go-json-experiment/json (encoding/json/v2 to be),
// which decodes a candidate's frame in a third of encoding/json's time
// and garbage, and is stricter by default (docs/BENCHMARKS.md).
func Decode(frame []byte) (*Inbound, error) {
	var m Inbound
	if err := json.Unmarshal(frame, &m, strict); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, jsonProblem(err))
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrBadMessage)
	}
	return &m, nil
}

// jsonProblem describes a JSON error without quoting the input.
func jsonProblem(err error) string {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn):
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return "a field given twice"
		case strings.Contains(syn.Err.Error(), "invalid UTF-8"): // jsonwire.ErrInvalidUTF8 is internal
			return "invalid UTF-8"
		case strings.Contains(syn.Err.Error(), "after top-level value"):
			return "more than one value in a frame"
		}
		return fmt.Sprintf("syntax error at byte %d", syn.ByteOffset)
	case errors.As(err, &sem):
		if errors.Is(sem.Err, json.ErrUnknownName) {
			return "unknown field"
		}
		if sem.JSONPointer != "" {
			return fmt.Sprintf("wrong type for field %q", string(sem.JSONPointer))
		}
	}
	return "not a JSON object"
}

// Hello checks a hello and returns the version the client speaks.
func (m *Inbound) Hello() (int, error) {
	if m.V != Version && m.V != VersionV1 {
		return 0, ErrBadVersion
	}
	return m.V, nil
}

// Join is a validated join request.
type Join struct {
	Mode       string
	Media      string
	Name       string
	Preference string
	Interests  []string
	HideIP     bool
	Language   string       // checked against the configured list by the server
	Pow        *PowSolution // checked for shape only; the server verifies it
	Adult      bool         // the helpline asks it only when the operator says so
}

// Join checks a join against the protocol limits. The preference is checked
// against the configured list by the server; hideIPDefault applies when the
// client does not say.
func (m *Inbound) Join(hideIPDefault bool) (Join, error) {
	j := Join{Mode: m.Mode, Media: m.Media, HideIP: hideIPDefault, Adult: m.Adult}
	if !m.Consent || !m.Adult && m.Mode != ModeHelpline {
		return j, ErrConsentRequired
	}
	switch j.Mode {
	case ModeHelpline:
		if j.Media != MediaText {
			return j, ErrBadMedia
		}
	case ModeRandom, ModeInterests:
	case ModeOpposite:
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
	case MediaText, MediaVideo, MediaAudio:
	default:
		return j, ErrBadMedia
	}
	if m.Language != "" && !ValidLanguage(m.Language) {
		return j, ErrBadLanguage
	}
	j.Language = m.Language
	if m.Pow != nil {
		if err := m.Pow.check(); err != nil {
			return j, err
		}
		j.Pow = m.Pow
	}
	name, err := CleanName(m.Name, MaxNameLength)
	if err != nil {
		return j, err
	}
	j.Name = name
	if j.Mode == ModeInterests {
		if j.Interests, err = CleanInterests(m.Interests); err != nil {
			return j, err
		}
	}
	if m.HideIP != nil {
		j.HideIP = *m.HideIP
	}
	return j, nil
}

// CleanName trims a display name and checks it: at most max code points,
// each a letter, a digit, a space or one of - _ . '.
func CleanName(s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !validText(s, max, isNameRune) {
		return "", ErrBadName
	}
	return s, nil
}

// CleanInterests trims, lower-cases and de-duplicates interests, in order.
func CleanInterests(in []string) ([]string, error) {
	if len(in) > MaxInterests {
		return nil, ErrBadInterests
	}
	var out []string
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" || !validText(s, MaxInterestLength, isInterestRune) {
			return nil, ErrBadInterests
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
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

// Report checks a report and returns its reason.
func (m *Inbound) Report() (string, error) {
	if !slices.Contains(ReportReasons, m.Reason) {
		return "", ErrBadReason
	}
	return m.Reason, nil
}

// Leave checks a leave and returns the reason the partner is told: leave,
// or failed when the client could not connect to its partner.
func (m *Inbound) Leave() (string, error) {
	switch m.Reason {
	case "", ReasonLeave:
		return ReasonLeave, nil
	case ReasonFailed:
		return ReasonFailed, nil
	}
	return "", ErrBadReason
}

// Signal is a validated signal: the recipient (empty from a v1 client, for
// the only other member of a one-to-one chat) and the cleaned data.
type Signal struct {
	Peer string
	Data *SignalData
}

// Signal checks a signal's shape and its peer; Clean checks and rebuilds the
// data.
func (m *Inbound) Signal() (Signal, error) {
	if m.Data == nil {
		return Signal{}, ErrBadSignal
	}
	if len(m.Peer) > MaxPeerID {
		return Signal{}, ErrNoSuchPeer
	}
	return Signal{Peer: m.Peer, Data: m.Data}, nil
}

// RoomCreate is a validated room-create.
type RoomCreate struct {
	Name   string // the room's name, shown to who joins
	Member string // the creator's display name
	Media  string
	Max    int // 0: the server's maximum for the media
	HideIP bool
}

// RoomCreate checks a room-create: consent, the media, the room's name
// (name) and the creator's display name (memberName).
func (m *Inbound) RoomCreate(hideIPDefault bool) (RoomCreate, error) {
	rc := RoomCreate{Media: m.Media, Max: m.Max, HideIP: hideIPDefault}
	if !m.Consent || !m.Adult {
		return rc, ErrConsentRequired
	}
	if rc.Media != MediaText && rc.Media != MediaVideo {
		return rc, ErrBadRoom
	}
	var err error
	if rc.Name, err = CleanName(m.Name, MaxRoomName); err != nil {
		return rc, ErrBadRoom
	}
	if rc.Member, err = CleanName(m.MemberName, MaxNameLength); err != nil {
		return rc, err
	}
	if rc.Max < 0 || rc.Max == 1 {
		return rc, ErrBadRoom
	}
	if m.HideIP != nil {
		rc.HideIP = *m.HideIP
	}
	return rc, nil
}

// RoomJoin is a validated room-join.
type RoomJoin struct {
	Secret string
	Name   string
	HideIP bool
}

// RoomJoin checks a room-join. A secret of the wrong shape is no_such_room,
// the same answer as a wrong one.
func (m *Inbound) RoomJoin(hideIPDefault bool) (RoomJoin, error) {
	rj := RoomJoin{Secret: m.Secret, HideIP: hideIPDefault}
	if !m.Consent || !m.Adult {
		return rj, ErrConsentRequired
	}
	if !ValidRoomSecret(m.Secret) {
		return rj, ErrNoSuchRoom
	}
	name, err := CleanName(m.Name, MaxNameLength)
	if err != nil {
		return rj, err
	}
	rj.Name = name
	if m.HideIP != nil {
		rj.HideIP = *m.HideIP
	}
	return rj, nil
}

// ValidRoomSecret reports whether s has the shape of a room secret: the
// base64url (no padding) of RoomSecretBytes random bytes.
func ValidRoomSecret(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// RoomKick checks a room-kick and returns the peer to remove.
func (m *Inbound) RoomKick() (peer string, ban bool, err error) {
	if m.Peer == "" || len(m.Peer) > MaxPeerID {
		return "", false, ErrNoSuchPeer
	}
	return m.Peer, m.Ban, nil
}

// RoomLock checks a room-lock.
func (m *Inbound) RoomLock() (bool, error) {
	if m.Locked == nil {
		return false, ErrBadMessage
	}
	return *m.Locked, nil
}
