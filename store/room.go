package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Room is what the store keeps of a group room, so that a room survives a
// restart of the server: no messages (there are none to keep), no member
// names (each member's name is in their own session record, sealed under
// their own token), and members only as keyed hashes of their session IDs.
type Room struct {
	ID      string       `json:"id"` // the room's public id, as the protocol names it
	Name    string       `json:"name,omitempty"`
	Media   string       `json:"media"`
	Max     int          `json:"max"`
	Owner   string       `json:"owner,omitempty"` // the owner's peer id
	Locked  bool         `json:"locked,omitempty"`
	Members []RoomMember `json:"members,omitempty"`
	// Banned are the members the owner kicked with a ban, as keyed hashes
	// of their session IDs: they cannot come back while the room lives.
	Banned     []string  `json:"banned,omitempty"`
	Created    time.Time `json:"created"`
	LastActive time.Time `json:"lastActive"`
}

// RoomMember is one member of a stored room.
type RoomMember struct {
	Peer    string    `json:"peer"`
	Session string    `json:"session"` // MemberHash of the session ID
	Joined  time.Time `json:"joined"`
}

// RoomKey is a room's record key: the HMAC of its secret. The secret
// itself, which is the link, is never stored.
type RoomKey []byte

// Hex names the room in memory.
func (k RoomKey) Hex() string { return hex.EncodeToString(k) }

// RoomKey derives the record key of the room a secret opens.
func (s *Store) RoomKey(secret string) RoomKey {
	m := hmac.New(sha256.New, s.keys.current().room)
	m.Write([]byte("secret\x00"))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// RoomKeyFromHex parses what Hex returned (a session record keeps it).
func RoomKeyFromHex(h string) (RoomKey, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: room key", ErrCorrupt)
	}
	return b, nil
}

// MemberHash is how a room record names a member's session: a keyed hash
// of the session ID bound to the room, so records of two rooms cannot be
// linked through a member.
func (s *Store) MemberHash(roomID, sessionID string) string {
	m := hmac.New(sha256.New, s.keys.current().room)
	m.Write([]byte("member\x00"))
	m.Write([]byte(roomID))
	m.Write([]byte{0})
	m.Write([]byte(sessionID))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// PutRoom stores a room until LastActive+SessionTTL: a room nobody touched
// for the session TTL is gone, as a session is.
func (s *Store) PutRoom(k RoomKey, r *Room) error {
	if len(k) != sha256.Size || r == nil || r.ID == "" {
		return ErrBadRoom
	}
	exp, err := unixNano(r.LastActive.Add(s.cfg.SessionTTL))
	if err != nil {
		return fmt.Errorf("%w: LastActive", err)
	}
	c := *r
	c.Created, c.LastActive = c.Created.UTC(), c.LastActive.UTC()
	plain, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRoom, err)
	}
	v := s.keys.current().seal(bucketRooms, k, exp, plain)
	return s.write(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketRooms).Get(k); old != nil {
			if _, _, err := s.openRecord(bucketRooms, k, old); err != nil {
				return fmt.Errorf("%w; the stored room was left as it was", err)
			}
		}
		return putRecord(tx, bucketRooms, k, v, exp)
	})
}

// GetRoom returns the room of k, or ErrNotFound (also once it expired).
func (s *Store) GetRoom(k RoomKey) (*Room, error) {
	var r *Room
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRooms).Get(k)
		if v == nil {
			return ErrNotFound
		}
		plain, h, err := s.openRecord(bucketRooms, k, v)
		if err != nil {
			return err
		}
		if h.expiry <= s.cfg.Clock().UnixNano() {
			return ErrNotFound
		}
		r = new(Room)
		if err := json.Unmarshal(plain, r); err != nil || r.ID == "" {
			s.st.corrupt.Add(1)
			return ErrCorrupt
		}
		return nil
	})
	return r, err
}

// DeleteRoom removes a room now; an absent room is not an error.
func (s *Store) DeleteRoom(k RoomKey) error {
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		present = tx.Bucket(bucketRooms).Get(k) != nil
		return nil
	}); err != nil || !present {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		_, err := deleteRecord(tx, bucketRooms, k)
		return err
	})
}
