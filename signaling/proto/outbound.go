package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
)

// Outbound is every field the server may send. One struct keeps encoding
// cheap and the wire shape in one place; each message type uses a subset
// (docs/PROTOCOL.md section 7).
type Outbound struct {
	Type string `json:"type"`

	// welcome
	V             int          `json:"v,omitempty"`
	Resumed       *bool        `json:"resumed,omitempty"`
	State         string       `json:"state,omitempty"` // welcome: idle, queued or paired
	ICEServers    []ICEServer  `json:"iceServers,omitempty"`
	Preferences   []Preference `json:"preferences,omitempty"`
	Features      []string     `json:"features,omitempty"`
	Limits        *Limits      `json:"limits,omitempty"`
	HideIPDefault *bool        `json:"hideIPDefault,omitempty"`
	Languages     []string     `json:"languages,omitempty"` // the chat languages a join may declare

	// queued, matched
	Mode      string       `json:"mode,omitempty"`
	Media     string       `json:"media,omitempty"`
	Pair      string       `json:"pair,omitempty"`
	Role      string       `json:"role,omitempty"`
	You       string       `json:"you,omitempty"`  // v2: your peer ID in this chat
	Peer      string       `json:"peer,omitempty"` // v2: the partner's peer ID
	Partner   *PartnerInfo `json:"partner,omitempty"`
	Statement *Statement   `json:"statement,omitempty"`
	Shared    []string     `json:"shared,omitempty"`
	HideIP    *bool        `json:"hideIP,omitempty"`
	Language  string       `json:"language,omitempty"` // matched: the language both declared

	// signal
	From string      `json:"from,omitempty"` // v2: the sender's peer ID
	Data *SignalData `json:"data,omitempty"`

	// partner-left, left, peer-left
	Reason string `json:"reason,omitempty"`

	// rooms: room-created (room, secret), room-joined (room, you, peers,
	// owner, max, roomName, media, locked), peer-joined (peer, name,
	// resumed), peer-left (peer, reason, owner), kicked (ban), room-lock
	// (locked)
	Room     string     `json:"room,omitempty"`
	Secret   string     `json:"secret,omitempty"`
	Peers    []PeerInfo `json:"peers,omitempty"`
	Owner    string     `json:"owner,omitempty"`
	Max      int        `json:"max,omitempty"`
	RoomName string     `json:"roomName,omitempty"`
	Name     string     `json:"name,omitempty"`
	Locked   *bool      `json:"locked,omitempty"`
	Ban      *bool      `json:"ban,omitempty"`

	// banned; blocked and partner-left (timeout) of the helpline
	Until string `json:"until,omitempty"`

	// helpline (helpline.go): queued (position, ahead, staffed,
	// openingHours); shift (on, capacity, maxCapacity, open, waiting,
	// colleagues); offer (offer, contact, expiresIn, handover); offer-gone
	// (offer, reason); chat (chat, you, peer, role, contact, notes, with);
	// chat-ended (chat, reason); handover-failed (chat, reason)
	Position     int           `json:"position,omitempty"`
	Ahead        *int          `json:"ahead,omitempty"`
	Staffed      *bool         `json:"staffed,omitempty"`
	OpeningHours string        `json:"openingHours,omitempty"`
	On           *bool         `json:"on,omitempty"`
	Capacity     int           `json:"capacity,omitempty"`
	MaxCapacity  int           `json:"maxCapacity,omitempty"`
	Open         *int          `json:"open,omitempty"`
	Waiting      *int          `json:"waiting,omitempty"`
	Colleagues   []Colleague   `json:"colleagues,omitempty"`
	Offer        string        `json:"offer,omitempty"`
	Contact      *Contact      `json:"contact,omitempty"`
	ExpiresIn    int           `json:"expiresIn,omitempty"`
	Handover     *HandoverInfo `json:"handover,omitempty"`
	Chat         string        `json:"chat,omitempty"`
	Notes        *bool         `json:"notes,omitempty"`
	With         string        `json:"with,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`

	// welcome, and the errors pow_required and bad_pow: a proof of work to send with the
	// first join of the session
	Pow *PowChallenge `json:"pow,omitempty"`
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Preference is one political preference a person may declare in opposite
// mode, with its labels by language.
type Preference struct {
	ID     string            `json:"id"`
	Label  string            `json:"label"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Statement is the proposition an opposite-mode pair discusses.
type Statement struct {
	ID    string            `json:"id"`
	Text  string            `json:"text"`
	Texts map[string]string `json:"texts,omitempty"`
}

// PeerInfo is one member of a room as the others see it: a peer id and a
// display name, nothing more.
type PeerInfo struct {
	Peer string `json:"peer"`
	Name string `json:"name"`
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
	// RoomMaxText and RoomMaxVideo are the most members a group room may
	// hold, so a client offers only sizes the server accepts.
	RoomMaxText  int `json:"roomMaxText,omitempty"`
	RoomMaxVideo int `json:"roomMaxVideo,omitempty"`
}

// Bool returns a pointer to b, for the optional boolean fields.
func Bool(b bool) *bool { return &b }

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Encode returns m as one compact JSON frame. HTML escaping is off: a '<'
// in a description leaves as one byte, not six, so a frame never grows on
// its way through the server.
func Encode(m *Outbound) []byte {
	b := bufs.Get().(*bytes.Buffer)
	b.Reset()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Every field is a plain type: this cannot fail.
		panic("proto: encoding an outbound message: " + err.Error())
	}
	out := bytes.Clone(bytes.TrimSuffix(b.Bytes(), []byte{'\n'}))
	if b.Cap() <= 64<<10 {
		bufs.Put(b)
	}
	return out
}

// ErrorFrame is the error message for err.
func ErrorFrame(err error) []byte {
	m := &Outbound{Type: TypeError, Code: CodeOf(err), Message: MessageOf(err)}
	var pe *PowError
	if errors.As(err, &pe) {
		m.Pow = pe.Challenge
	}
	return Encode(m)
}
