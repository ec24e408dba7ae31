package store

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// Session is what the store keeps about one browser session: never the
// political preference, never an address, never the token. Its record is
// sealed under a key derived from the session token, which only the
// person's browser holds (the cookie): the server can neither find nor open
// a session record without that cookie, so a copy of the data directory,
// master key included, opens no session, and a record deleted on request
// stays sealed in bbolt's free pages under a key nobody has any more.
type Session struct {
	// ID is the session's random identity inside the server (matching,
	// delivery). It is never sent to anyone, its owner included.
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	Media     string   `json:"media,omitempty"`
	Interests []string `json:"interests,omitempty"`
	HideIP    bool     `json:"hideIP,omitempty"`
	// The current chat: the room's id, this session's peer id in it, and
	// for a one-to-one chat the partner's peer id, the role and statement.
	Chat        string `json:"chat,omitempty"`
	RoomKey     string `json:"roomKey,omitempty"` // a group room: its record's key (RoomKey.Hex)
	Peer        string `json:"peer,omitempty"`
	ChatName    string `json:"chatName,omitempty"`   // the name this session shows in the chat
	ChatHideIP  bool   `json:"chatHideIP,omitempty"` // whether it hides its address in the chat
	PartnerPeer string `json:"partnerPeer,omitempty"`
	Role        string `json:"role,omitempty"`
	Statement   string `json:"statement,omitempty"`
	// Avoid and Met name other sessions by their random IDs, which are
	// never shown to anyone: skipped or reported, and meetings per partner.
	Avoid    []string       `json:"avoid,omitempty"`
	Met      map[string]int `json:"met,omitempty"`
	Created  time.Time      `json:"created"`
	LastSeen time.Time      `json:"lastSeen"`
}

// SessionKey finds and seals the record of one session. Make it with
// Store.SessionKey from the token; it is worthless without the token and is
// held in memory only.
type SessionKey struct {
	variants []sessionVariant // under the current master key first, then old ones
}

type sessionVariant struct {
	ks   *keyset
	key  []byte      // the record's bucket key: HMAC(session subkey, token)
	aead cipher.AEAD // seals the record: a key derived from the token
}

// Valid reports whether k was made by Store.SessionKey.
func (k SessionKey) Valid() bool { return len(k.variants) > 0 }

// Hex names the record under the current master key (64 hex digits), for an
// index in memory. It reveals nothing about the token.
func (k SessionKey) Hex() string {
	if !k.Valid() {
		return ""
	}
	return hex.EncodeToString(k.variants[0].key)
}

// SessionKey derives the key of the session a token names, under the
// current master key and every old one (a rotation keeps sessions).
func (s *Store) SessionKey(token string) SessionKey {
	var k SessionKey
	for _, ks := range s.keys.keys {
		k.variants = append(k.variants, ks.sessionVariant(token))
	}
	return k
}

func (ks *keyset) sessionVariant(token string) sessionVariant {
	key := hmac.New(sha256.New, ks.session)
	key.Write([]byte(token))
	seal := hmac.New(sha256.New, ks.sessionSeal)
	seal.Write([]byte(token))
	aead, err := chacha20poly1305.NewX(seal.Sum(nil))
	if err != nil {
		panic("store: chacha20poly1305: " + err.Error()) // the key is always 32 bytes
	}
	return sessionVariant{ks: ks, key: key.Sum(nil), aead: aead}
}

// PutSession stores sess under k (replacing what was there, and the record
// under an old master key after a rotation) until LastSeen+SessionTTL,
// through a shared bbolt batch.
func (s *Store) PutSession(k SessionKey, sess *Session) error {
	if !k.Valid() || sess == nil || sess.ID == "" {
		return ErrBadSession
	}
	exp, err := unixNano(sess.LastSeen.Add(s.cfg.SessionTTL))
	if err != nil {
		return fmt.Errorf("%w: LastSeen", err)
	}
	c := *sess
	c.Created, c.LastSeen = c.Created.UTC(), c.LastSeen.UTC()
	plain, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSession, err)
	}
	cur := k.variants[0]
	// Sealed outside the transaction: the write lock is held for less.
	v := cur.ks.sealWith(cur.aead, bucketSessions, cur.key, exp, plain)
	return s.write(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketSessions).Get(cur.key); old != nil {
			if _, err := s.openSession(cur, old, 0); err != nil {
				return fmt.Errorf("%w; the stored session was left as it was", err)
			}
		}
		for _, old := range k.variants[1:] {
			if _, err := deleteRecord(tx, bucketSessions, old.key); err != nil {
				return err
			}
		}
		return putRecord(tx, bucketSessions, cur.key, v, exp)
	})
}

// GetSession returns the session of k, or ErrNotFound (also once it has
// expired, swept or not). A record that fails to open is ErrCorrupt.
func (s *Store) GetSession(k SessionKey) (*Session, error) {
	if !k.Valid() {
		return nil, ErrNotFound
	}
	var sess *Session
	err := s.view(func(tx *bolt.Tx) error {
		now := s.cfg.Clock().UnixNano()
		for _, vr := range k.variants {
			v := tx.Bucket(bucketSessions).Get(vr.key)
			if v == nil {
				continue
			}
			var err error
			sess, err = s.openSession(vr, v, now)
			return err
		}
		return ErrNotFound
	})
	return sess, err
}

func (s *Store) openSession(vr sessionVariant, v []byte, now int64) (*Session, error) {
	h, err := parseHeader(v)
	if err != nil || h.id != vr.ks.id {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	plain, err := vr.aead.Open(nil, v[headerSize:headerSize+nonceSize], v[headerSize+nonceSize:], additionalData(v[:headerSize], bucketSessions, vr.key))
	if err != nil {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	if h.expiry <= now {
		return nil, ErrNotFound
	}
	var sess Session
	if err := json.Unmarshal(plain, &sess); err != nil || sess.ID == "" {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	return &sess, nil
}

// DeleteSession removes the session of k now, under every master key.
// Deleting an absent session is not an error. Its bytes stay in bbolt's
// free pages, sealed under a key derived from a token the server does not
// keep: once the browser drops its cookie, nothing can open them.
func (s *Store) DeleteSession(k SessionKey) error {
	if !k.Valid() {
		return nil
	}
	// A read first: deleting nothing needs no fsync.
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		for _, vr := range k.variants {
			present = present || tx.Bucket(bucketSessions).Get(vr.key) != nil
		}
		return nil
	}); err != nil || !present {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		for _, vr := range k.variants {
			if _, err := deleteRecord(tx, bucketSessions, vr.key); err != nil {
				return err
			}
		}
		return nil
	})
}

// SessionCount counts the session records not yet swept, for metrics. It
// opens none of them (it cannot).
func (s *Store) SessionCount() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketSessions).Stats().KeyN
		return nil
	})
	return n, err
}
