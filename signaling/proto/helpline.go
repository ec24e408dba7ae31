package proto

// The helpline (protocol v2). A visitor joins with mode "helpline" (text
// only; the adult confirmation only when the operator asks for it) and
// waits, told its place in queued; a volunteer signed in as staff goes on
// shift, is offered visitors, accepts or declines, and holds up to its
// capacity of chats at once, each a room of two. Every message below but
// join is for staff only: anyone else gets forbidden.

const (
	ModeHelpline = "helpline"

	// Staff to server.
	TypeShift        = "shift" // also the server's state of the shift, to staff
	TypeOfferAccept  = "offer-accept"
	TypeOfferDecline = "offer-decline"
	TypeChatEnd      = "chat-end"
	TypeChatTimeOut  = "chat-timeout"
	TypeChatHandover = "chat-handover"

	// Server to staff.
	TypeOffer          = "offer"
	TypeOfferGone      = "offer-gone"
	TypeChat           = "chat"
	TypeChatEnded      = "chat-ended"
	TypeHandoverFailed = "handover-failed"

	// Server to visitor: the helpline refuses them until then.
	TypeHelplineBlocked = "helpline-blocked"

	// partner-left and chat-ended reasons of the helpline.
	ReasonHandover = "handover" // the chat moved to another volunteer or back to the queue
	ReasonTimeOut  = "timeout"  // the volunteer gave the visitor a time-out
	ReasonDeclined = "declined" // handover-failed: the colleague declined
	ReasonRevoked  = "revoked"  // chat-ended: the volunteer was revoked meanwhile
)

// MaxHelplineID bounds the ids of offers and chats a client sends back.
const MaxHelplineID = 32

// Colleague is a volunteer on shift as the others see them, for a handover.
type Colleague struct {
	Volunteer string `json:"volunteer"` // a random id for this shift, never the staff id
	Name      string `json:"name"`
	Open      int    `json:"open"`
	Capacity  int    `json:"capacity"`
}

// Contact is what a volunteer is shown of a visitor: a short tag, the
// number of earlier chats, the day of the last one and earlier time-outs.
// Never an address, never the visitor's token.
type Contact struct {
	Tag      string    `json:"tag,omitempty"` // empty on a first contact
	Earlier  int       `json:"earlier"`
	Last     string    `json:"last,omitempty"` // YYYY-MM-DD
	TimeOuts []TimeOut `json:"timeOuts,omitempty"`
}

// TimeOut is an earlier time-out: its day and length.
type TimeOut struct {
	Day   string `json:"day"` // YYYY-MM-DD
	Hours int    `json:"hours"`
}

// HandoverInfo says an offer is a colleague's chat handed over.
type HandoverInfo struct {
	From string `json:"from"` // the colleague's display name
}

// Int returns a pointer to n, for the optional counts.
func Int(n int) *int { return &n }

// Shift checks a shift: on, and a capacity (0: the server's default).
func (m *Inbound) Shift() (on bool, capacity int, err error) {
	if m.On == nil || m.Capacity < 0 {
		return false, 0, ErrBadMessage
	}
	return *m.On, m.Capacity, nil
}

// OfferID checks an offer-accept or offer-decline and returns the offer.
func (m *Inbound) OfferID() (string, error) {
	if m.Offer == "" || len(m.Offer) > MaxHelplineID {
		return "", ErrNoSuchOffer
	}
	return m.Offer, nil
}

// ChatID checks a chat-end and returns the chat.
func (m *Inbound) ChatID() (string, error) {
	if m.Chat == "" || len(m.Chat) > MaxHelplineID {
		return "", ErrNoSuchChat
	}
	return m.Chat, nil
}

// ChatTimeOut checks a chat-timeout: the chat and at least an hour (the
// server checks the most).
func (m *Inbound) ChatTimeOut() (chat string, hours int, err error) {
	if chat, err = m.ChatID(); err != nil {
		return "", 0, err
	}
	if m.Hours < 1 {
		return "", 0, ErrBadMessage
	}
	return chat, m.Hours, nil
}

// ChatHandover checks a chat-handover: the chat, and the colleague to hand
// it to, or none for the queue.
func (m *Inbound) ChatHandover() (chat, volunteer string, err error) {
	if chat, err = m.ChatID(); err != nil {
		return "", "", err
	}
	if len(m.Volunteer) > MaxHelplineID {
		return "", "", ErrColleagueUnavailable
	}
	return chat, m.Volunteer, nil
}
