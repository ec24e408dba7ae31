// Package proto is parley's wire protocol: the message types, their fields, their validation and the error codes, with nothing of the server in it.
//
// A client (signaling/client, the load generator, anyone scripting a peer)
// imports this package and nothing else of parley. The server decodes a
// frame with Decode, checks it with the method of its message type (Hello,
// Join, Signal, ...), and encodes what it sends with Encode.
package proto

// Versions of the protocol. Version 2 adds addressed signals and rooms; a
// version 1 client keeps working unchanged in a one-to-one chat.
const (
	Version   = 2
	VersionV1 = 1
)

// Limits on what a client may send. They are announced in welcome.
const (
	MaxFrameBytes     = 64 << 10
	MaxNameLength     = 32 // code points
	MaxInterests      = 5
	MaxInterestLength = 32 // code points
	MaxRoomName       = 48 // code points
	MaxPeerID         = 32 // bytes
)

// The session cookie: __Host- on HTTPS, so no sibling domain can plant or
// shadow it; the plain name on HTTP (localhost and LAN trials), where the
// prefix is not allowed.
const (
	CookieName       = "parley_session"
	SecureCookieName = "__Host-parley_session"
)

// Client to server message types.
const (
	TypeHello  = "hello"
	TypeJoin   = "join"
	TypeSignal = "signal"
	TypeNext   = "next"
	TypeLeave  = "leave"
	TypeReport = "report"
	TypeBye    = "bye"
	TypeBlock  = "block" // end the chat and never meet this person again; never a report

	// Rooms (protocol v2): small private rooms by link.
	TypeRoomCreate = "room-create"
	TypeRoomJoin   = "room-join"
	TypeRoomKick   = "room-kick"
	TypeRoomLock   = "room-lock" // also sent by the server to every member
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
	TypeBlocked             = "blocked"

	TypeRoomCreated = "room-created"
	TypeRoomJoined  = "room-joined"
	TypePeerJoined  = "peer-joined"
	TypePeerLeft    = "peer-left"
	TypeKicked      = "kicked"
)

// Reasons carried by partner-left.
const (
	ReasonNext   = "next"
	ReasonLeave  = "leave"
	ReasonGone   = "gone"
	ReasonBanned = "banned"
	ReasonClosed = "closed" // the partner's page closed (bye) and did not come back
	ReasonFailed = "failed" // the partner's browser could not connect to yours
	ReasonKicked = "kicked" // peer-left: the owner removed that member
)

// Room limits: the most members a room may hold, by media. A mesh of N
// browsers sends N-1 streams each: past 6 videos a phone gives up.
const (
	DefaultRoomMaxText  = 8
	DefaultRoomMaxVideo = 6
	RoomSecretBytes     = 16
)

// Modes and media of a join.
const (
	ModeRandom    = "random"
	ModeOpposite  = "opposite"
	ModeInterests = "interests"

	MediaText  = "text"
	MediaVideo = "video"
	MediaAudio = "audio" // voice only
)

// Roles in a one-to-one chat.
const (
	RoleOfferer  = "offerer"
	RoleAnswerer = "answerer"
)

// ReportReasons are the reasons a report may give.
var ReportReasons = []string{"abuse", "spam", "illegal", "other"}
