package store

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// Contact records: how often a helpline visitor was in touch, under a
// pseudonym. The pseudonym is a keyed hash of the token in the visitor's
// cookie under the key of a period; signaling/helpline decides the periods
// and which keys a lookup tries. The record is sealed, like a session,
// under a key derived from the same token and period key: without the
// visitor's cookie it neither can be found nor opened, and once the period
// key is deleted not even with the cookie.

// Contact is what the helpline keeps about one visitor: never the token,
// never an address, never what was said.
type Contact struct {
	// Tag is a short random label shown to volunteers, so a returning
	// visitor can be recognised without anything of the person.
	Tag string `json:"tag"`
	// Count is the number of chats with a volunteer so far.
	Count int `json:"count"`
	// First and Last are the days (UTC midnight) of the first and the last
	// of them.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// TimeOuts are the time-outs given, by day.
	TimeOuts []ContactTimeOut `json:"timeOuts,omitempty"`
}

// ContactTimeOut is one time-out: its day and its length in hours.
type ContactTimeOut struct {
	Day   time.Time `json:"day"`
	Hours int       `json:"hours"`
}

// ContactKey finds and seals the contact record of one visitor under one
// period key. It is worthless without the visitor's token and is held in
// memory only.
type ContactKey struct {
	key  []byte
	aead cipher.AEAD
}

// Valid reports whether k was made by NewContactKey.
func (k ContactKey) Valid() bool { return k.aead != nil }

// NewContactKey derives the record key (the pseudonym) and the sealing key
// of the visitor with token under a period key.
func NewContactKey(periodKey []byte, token string) ContactKey {
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, periodKey)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(token))
		return m.Sum(nil)
	}
	aead, err := chacha20poly1305.NewX(mac("contact-seal"))
	if err != nil {
		panic("store: chacha20poly1305: " + err.Error()) // the key is always 32 bytes
	}
	return ContactKey{key: mac("contact-key"), aead: aead}
}

func periodRecordKey(p uint64) []byte { return binary.BigEndian.AppendUint64(nil, p) }

// ContactPeriodKey returns the random key of pseudonym period p. With create
// it is made if missing, to be deleted at until; without, a missing key is
// ErrNotFound. A key past its until is never returned, swept or not.
func (s *Store) ContactPeriodKey(now time.Time, p uint64, until time.Time, create bool) ([]byte, error) {
	k := periodRecordKey(p)
	var key []byte
	read := func(tx *bolt.Tx) (bool, error) {
		v := tx.Bucket(bucketContactKeys).Get(k)
		if v == nil {
			return false, nil
		}
		plain, h, err := s.openRecord(bucketContactKeys, k, v)
		if err != nil {
			return false, err
		}
		if len(plain) != 33 || plain[0] != recordVersion {
			s.st.corrupt.Add(1)
			return false, ErrCorrupt
		}
		if h.expiry <= now.UnixNano() {
			return false, ErrNotFound // deleted in all but fact: the sweeper is on its way
		}
		key = plain[1:]
		return true, nil
	}
	var found bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		found, err = read(tx)
		return err
	})
	if err != nil || found {
		return key, err
	}
	if !create {
		return nil, ErrNotFound
	}
	exp, err := unixNano(until)
	if err != nil || exp <= now.UnixNano() {
		return nil, ErrBadTime
	}
	err = s.write(func(tx *bolt.Tx) error {
		key = nil
		if ok, err := read(tx); err != nil || ok {
			return err // made by another visitor meanwhile
		}
		fresh := make([]byte, 33)
		fresh[0] = recordVersion
		_, _ = rand.Read(fresh[1:])
		key = fresh[1:]
		return putRecord(tx, bucketContactKeys, k, s.keys.current().seal(bucketContactKeys, k, exp, fresh), exp)
	})
	return key, err
}

// GetContact returns the contact record of k, or ErrNotFound (also once it
// expired, swept or not).
func (s *Store) GetContact(now time.Time, k ContactKey) (*Contact, error) {
	if !k.Valid() {
		return nil, ErrNotFound
	}
	var c *Contact
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketContacts).Get(k.key)
		if v == nil {
			return ErrNotFound
		}
		var err error
		c, err = s.openContact(k, v, now.UnixNano())
		return err
	})
	return c, err
}

func (s *Store) openContact(k ContactKey, v []byte, now int64) (*Contact, error) {
	h, err := parseHeader(v)
	if err != nil {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	plain, err := k.aead.Open(nil, v[headerSize:headerSize+nonceSize], v[headerSize+nonceSize:], additionalData(v[:headerSize], bucketContacts, k.key))
	if err != nil {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	if h.expiry <= now {
		return nil, ErrNotFound
	}
	var c Contact
	if err := json.Unmarshal(plain, &c); err != nil || c.Tag == "" {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	return &c, nil
}

// PutContact stores c under k until until, and in the same transaction
// deletes the records under drop (the same visitor's record under an
// older period key: a record moves to the current key when it is used).
func (s *Store) PutContact(k ContactKey, c *Contact, until time.Time, drop ...ContactKey) error {
	if !k.Valid() || c == nil || c.Tag == "" {
		return ErrBadContact
	}
	exp, err := unixNano(until)
	if err != nil {
		return fmt.Errorf("%w: until", err)
	}
	cp := *c
	cp.First, cp.Last = cp.First.UTC(), cp.Last.UTC()
	plain, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadContact, err)
	}
	v := s.keys.current().sealWith(k.aead, bucketContacts, k.key, exp, plain)
	return s.write(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketContacts).Get(k.key); old != nil {
			if _, err := s.openContact(k, old, 0); err != nil {
				return fmt.Errorf("%w; the stored contact record was left as it was", err)
			}
		}
		for _, d := range drop {
			if d.Valid() {
				if _, err := deleteRecord(tx, bucketContacts, d.key); err != nil {
					return err
				}
			}
		}
		return putRecord(tx, bucketContacts, k.key, v, exp)
	})
}

// DeleteContact removes the records of every key given; absent ones are
// not an error. The bytes left in free pages are sealed under keys derived
// from a token only the visitor's browser holds.
func (s *Store) DeleteContact(keys ...ContactKey) error {
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		for _, k := range keys {
			present = present || (k.Valid() && tx.Bucket(bucketContacts).Get(k.key) != nil)
		}
		return nil
	}); err != nil || !present {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if k.Valid() {
				if _, err := deleteRecord(tx, bucketContacts, k.key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
