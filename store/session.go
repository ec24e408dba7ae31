package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Session is what the store keeps about one browser session: never the
// political preference, never an address, never the token.
type Session struct {
	ID        string         `json:"id"`
	Name      string         `json:"name,omitempty"`
	Mode      string         `json:"mode,omitempty"`
	Media     string         `json:"media,omitempty"`
	Interests []string       `json:"interests,omitempty"`
	HideIP    bool           `json:"hideIP"`
	Pair      string         `json:"pair,omitempty"`
	Partner   string         `json:"partner,omitempty"` // partner's session ID
	Role      string         `json:"role,omitempty"`
	Statement string         `json:"statement,omitempty"` // statement id
	Avoid     []string       `json:"avoid,omitempty"`     // skipped or reported session IDs
	Met       map[string]int `json:"met,omitempty"`
	Created   time.Time      `json:"created"`
	LastSeen  time.Time      `json:"lastSeen"`
}

// sessionKey turns a session ID (64 lower-case hex digits) into its 32-byte
// bucket key.
func sessionKey(id string) ([]byte, error) {
	if len(id) != 64 {
		return nil, ErrBadID
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, ErrBadID
		}
	}
	return hex.DecodeString(id)
}

// PutSession stores sess (replacing the record with its ID) until
// LastSeen+SessionTTL, through a shared bbolt batch. It refuses to replace
// a stored record that fails to open (ErrCorrupt).
func (s *Store) PutSession(sess *Session) error {
	if sess == nil {
		return ErrBadSession
	}
	key, err := sessionKey(sess.ID)
	if err != nil {
		return err
	}
	exp, err := unixNano(sess.LastSeen.Add(s.cfg.SessionTTL))
	if err != nil {
		return fmt.Errorf("%w: LastSeen", err)
	}
	plain, err := jsonSession(sess)
	if err != nil {
		return err
	}
	// Sealed outside the transaction: the write lock is held for less.
	v := s.keys.current().seal(bucketSessions, key, exp, plain)
	return s.write(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketSessions).Get(key); old != nil {
			if _, _, err := s.openRecord(bucketSessions, key, old); err != nil {
				return fmt.Errorf("%w; the stored session was left as it was", err)
			}
		}
		return putRecord(tx, bucketSessions, key, v, exp)
	})
}

// jsonSession encodes a session for sealing. The ID is left out: it is the
// record's key, bound to the value as additional data, and 64 bytes less
// per record means fewer pages written per batch.
func jsonSession(sess *Session) ([]byte, error) {
	c := *sess
	c.ID = ""
	c.Created, c.LastSeen = c.Created.UTC(), c.LastSeen.UTC()
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSession, err)
	}
	return b, nil
}

// GetSession returns the session with this ID, or ErrNotFound (also once it
// has expired, swept or not).
func (s *Store) GetSession(id string) (*Session, error) {
	key, err := sessionKey(id)
	if err != nil {
		return nil, err
	}
	var sess *Session
	err = s.view(func(tx *bolt.Tx) error {
		sess, err = s.getSession(tx, key, s.cfg.Clock().UnixNano())
		return err
	})
	return sess, err
}

// LookupSession finds the session of a token: under its ID for the current
// key, then for each old key. After a rotation the returned ID may differ
// from SessionID(token): the returned one is the session's identity.
func (s *Store) LookupSession(token string) (*Session, error) {
	if token == "" {
		return nil, ErrNotFound
	}
	var sess *Session
	err := s.view(func(tx *bolt.Tx) error {
		now := s.cfg.Clock().UnixNano()
		for _, ks := range s.keys.keys {
			key, _ := hex.DecodeString(ks.sessionID(token))
			var err error
			if sess, err = s.getSession(tx, key, now); err != ErrNotFound {
				return err
			}
		}
		return ErrNotFound
	})
	return sess, err
}

func (s *Store) getSession(tx *bolt.Tx, key []byte, now int64) (*Session, error) {
	v := tx.Bucket(bucketSessions).Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	sess, h, err := s.decodeSession(key, v)
	if err != nil {
		return nil, err
	}
	if h.expiry <= now {
		return nil, ErrNotFound
	}
	return sess, nil
}

func (s *Store) decodeSession(key, v []byte) (*Session, header, error) {
	plain, h, err := s.openRecord(bucketSessions, key, v)
	if err != nil {
		return nil, header{}, err
	}
	sess, err := unmarshalSession(key, plain)
	if err != nil {
		s.st.corrupt.Add(1)
		return nil, header{}, err
	}
	return sess, h, nil
}

// unmarshalSession decodes an opened session record stored under key.
func unmarshalSession(key, plain []byte) (*Session, error) {
	var sess Session
	if err := json.Unmarshal(plain, &sess); err != nil {
		return nil, ErrCorrupt
	}
	id := hex.EncodeToString(key)
	if sess.ID != "" && sess.ID != id {
		return nil, ErrCorrupt
	}
	sess.ID = id
	return &sess, nil
}

// DeleteSession removes a session now (and its bytes stay sealed in
// bbolt's free pages). Deleting an absent session is not an error. A record
// that fails to open is deleted too: erasure is what was asked.
func (s *Store) DeleteSession(id string) error {
	key, err := sessionKey(id)
	if err != nil {
		return err
	}
	// A read first: deleting nothing needs no fsync.
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		present = tx.Bucket(bucketSessions).Get(key) != nil
		return nil
	}); err != nil || !present {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		_, err := deleteRecord(tx, bucketSessions, key)
		return err
	})
}

// Sessions returns every unexpired session, for restoring state after a
// restart. Records that fail to open are skipped and reported: the error
// then wraps ErrCorrupt and the sessions returned are still good.
func (s *Store) Sessions() ([]*Session, error) {
	var out []*Session
	bad := 0
	err := s.view(func(tx *bolt.Tx) error {
		out, bad = out[:0], 0
		now := s.cfg.Clock().UnixNano()
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			sess, h, err := s.decodeSession(k, v)
			switch {
			case err != nil:
				bad++
			case h.expiry > now:
				out = append(out, sess)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		return out, fmt.Errorf("%w: %d session records", ErrCorrupt, bad)
	}
	return out, nil
}
