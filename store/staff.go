package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The helpline's records (signaling/helpline decides what they mean): staff
// and their passkeys, single-use invites, visitors' contact records and the
// keys of their pseudonyms (contact.go), blocks (hlblock.go) and the audit
// log of coordinators' actions (audit.go). Each is sealed like every other
// record, and its retention is its expiry.

// Helpline retention that is not configuration: the issue fixes it.
const (
	// StaffRetention is how long a revoked staff member's record stays, so
	// that the audit log and the coordinators can still name them.
	StaffRetention = 30 * 24 * time.Hour
	// InviteLifetime is how long an invite link works, once.
	InviteLifetime = 72 * time.Hour
	// AuditRetention is how long an entry of the audit log is kept.
	AuditRetention = 90 * 24 * time.Hour
)

// Staff roles.
const (
	RoleVolunteer   = "volunteer"
	RoleCoordinator = "coordinator"
)

// Staff is a volunteer or a coordinator: a display name and the public keys
// of their passkeys, nothing else of the person.
type Staff struct {
	// ID is random (16 bytes, hex); its bytes are the WebAuthn user handle.
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Credentials are the passkeys, as signaling/helpline encodes them
	// (public key, id, sign count): opaque here.
	Credentials []json.RawMessage `json:"credentials"`
	Created     time.Time         `json:"created"`
	// Revoked is when the staff member was revoked; zero while active. A
	// revoked record is deleted StaffRetention later.
	Revoked time.Time `json:"revoked,omitzero"`
}

func validRole(r string) bool { return r == RoleVolunteer || r == RoleCoordinator }

func staffKey(id string) ([]byte, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return nil, ErrBadStaff
	}
	return b, nil
}

// NewStaffID returns a random staff id.
func NewStaffID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PutStaff stores a staff record: kept while active, and StaffRetention
// after it was revoked.
func (s *Store) PutStaff(st *Staff) error {
	if st == nil || !validRole(st.Role) || st.Name == "" {
		return ErrBadStaff
	}
	k, err := staffKey(st.ID)
	if err != nil {
		return err
	}
	c := *st
	c.Created, c.Revoked = c.Created.UTC(), c.Revoked.UTC()
	var exp int64 // 0: kept until revoked
	if !st.Revoked.IsZero() {
		if exp, err = unixNano(st.Revoked.Add(StaffRetention)); err != nil {
			return fmt.Errorf("%w: Revoked", err)
		}
	}
	plain, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadStaff, err)
	}
	v := s.keys.current().seal(bucketStaff, k, exp, plain)
	return s.write(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketStaff).Get(k); old != nil {
			if _, _, err := s.openRecord(bucketStaff, k, old); err != nil {
				return fmt.Errorf("%w; the stored staff record was left as it was", err)
			}
		}
		if exp == 0 {
			return putForever(tx, bucketStaff, k, v)
		}
		return putRecord(tx, bucketStaff, k, v, exp)
	})
}

// GetStaff returns the staff member with this id, revoked or not, or
// ErrNotFound.
func (s *Store) GetStaff(id string) (*Staff, error) {
	k, err := staffKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	var st *Staff
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStaff).Get(k)
		if v == nil {
			return ErrNotFound
		}
		var derr error
		st, derr = s.decodeStaff(k, v)
		return derr
	})
	return st, err
}

func (s *Store) decodeStaff(k, v []byte) (*Staff, error) {
	plain, h, err := s.openRecord(bucketStaff, k, v)
	if err != nil {
		return nil, err
	}
	if h.expiry != 0 && h.expiry <= s.cfg.Clock().UnixNano() {
		return nil, ErrNotFound
	}
	var st Staff
	if err := json.Unmarshal(plain, &st); err != nil || st.ID != hex.EncodeToString(k) {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	return &st, nil
}

// ListStaff returns every staff record not yet expired, by name.
func (s *Store) ListStaff() ([]Staff, error) {
	var out []Staff
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStaff).ForEach(func(k, v []byte) error {
			st, err := s.decodeStaff(k, v)
			switch {
			case err == nil:
				out = append(out, *st)
			case !errors.Is(err, ErrNotFound):
				return err
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Staff) int {
		if a.Name != b.Name {
			return cmpString(a.Name, b.Name)
		}
		return cmpString(a.ID, b.ID)
	})
	return out, err
}

func cmpString(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// Invite is a single-use invitation to register a passkey as staff. The
// link's token is never stored: the record's key is its keyed hash.
type Invite struct {
	// ID names the invite for listing and revoking: the hex of its
	// record key, which reveals nothing of the token.
	ID      string    `json:"-"`
	Role    string    `json:"role"`
	By      string    `json:"by"` // "admin", or the id of the coordinator who made it
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// inviteKeys are the record keys of a token under every master key,
// current first.
func (s *Store) inviteKeys(token string) [][]byte {
	var out [][]byte
	for _, ks := range s.keys.keys {
		m := hmac.New(sha256.New, ks.subkey("helpline-invite"))
		m.Write([]byte(token))
		out = append(out, m.Sum(nil))
	}
	return out
}

// CreateInvite stores an invite for token, valid InviteLifetime from now.
func (s *Store) CreateInvite(now time.Time, token string, role, by string) (Invite, error) {
	if len(token) < 16 || !validRole(role) || by == "" {
		return Invite{}, ErrBadInvite
	}
	inv := Invite{Role: role, By: by, Created: now.UTC(), Expires: now.Add(InviteLifetime).UTC()}
	exp, err := unixNano(inv.Expires)
	if err != nil {
		return Invite{}, err
	}
	plain, _ := json.Marshal(&inv)
	k := s.inviteKeys(token)[0]
	inv.ID = hex.EncodeToString(k)
	v := s.keys.current().seal(bucketInvites, k, exp, plain)
	return inv, s.write(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketInvites).Get(k) != nil {
			return ErrBadInvite // a token used twice: never by chance
		}
		return putRecord(tx, bucketInvites, k, v, exp)
	})
}

func (s *Store) decodeInvite(k, v []byte, now int64) (Invite, bool, error) {
	plain, h, err := s.openRecord(bucketInvites, k, v)
	if err != nil {
		return Invite{}, false, err
	}
	var inv Invite
	if err := json.Unmarshal(plain, &inv); err != nil || !validRole(inv.Role) {
		s.st.corrupt.Add(1)
		return Invite{}, false, ErrCorrupt
	}
	inv.ID = hex.EncodeToString(k)
	return inv, h.expiry > now, nil
}

// PeekInvite returns the invite of token if it can still be used, without
// using it: ErrNotFound when it never existed, was used, revoked or expired.
func (s *Store) PeekInvite(now time.Time, token string) (Invite, error) {
	var inv Invite
	err := s.view(func(tx *bolt.Tx) error {
		for _, k := range s.inviteKeys(token) {
			if v := tx.Bucket(bucketInvites).Get(k); v != nil {
				var live bool
				var err error
				if inv, live, err = s.decodeInvite(k, v, now.UnixNano()); err != nil {
					return err
				}
				if !live {
					return ErrNotFound
				}
				return nil
			}
		}
		return ErrNotFound
	})
	return inv, err
}

// UseInvite uses the invite of token: it is deleted in the same transaction
// that finds it, so two registrations racing with one link cannot both
// succeed. ErrNotFound when it cannot be used.
func (s *Store) UseInvite(now time.Time, token string) (Invite, error) {
	keys := s.inviteKeys(token)
	var inv Invite
	err := s.write(func(tx *bolt.Tx) error {
		inv = Invite{}
		for _, k := range keys {
			v := tx.Bucket(bucketInvites).Get(k)
			if v == nil {
				continue
			}
			found, live, err := s.decodeInvite(k, v, now.UnixNano())
			if err != nil {
				return err
			}
			if !live {
				return ErrNotFound
			}
			inv = found
			_, err = deleteRecord(tx, bucketInvites, k)
			return err
		}
		return ErrNotFound
	})
	return inv, err
}

// Invites lists the invites that can still be used, newest first.
func (s *Store) Invites(now time.Time) ([]Invite, error) {
	var out []Invite
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInvites).ForEach(func(k, v []byte) error {
			inv, live, err := s.decodeInvite(k, v, now.UnixNano())
			if err != nil {
				return err
			}
			if live {
				out = append(out, inv)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Invite) int { return b.Created.Compare(a.Created) })
	return out, err
}

// RevokeInvite deletes the invite with this id (as Invites lists it), so
// its link stops working. ErrNotFound if there is none.
func (s *Store) RevokeInvite(id string) error {
	k, err := hex.DecodeString(id)
	if err != nil || len(k) != sha256.Size {
		return ErrNotFound
	}
	return s.write(func(tx *bolt.Tx) error {
		gone, err := deleteRecord(tx, bucketInvites, k)
		if err == nil && !gone {
			err = ErrNotFound
		}
		return err
	})
}

// putForever stores a sealed value whose header says it never expires (0):
// it has no entry in the expiry index, and a former entry of the record
// goes.
func putForever(tx *bolt.Tx, bucket, key, v []byte) error {
	b := tx.Bucket(bucket)
	if old := b.Get(key); old != nil {
		if h, err := parseHeader(old); err == nil && h.expiry != 0 {
			if err := tx.Bucket(bucketExpiry).Delete(indexKey(h.expiry, bucket, key)); err != nil {
				return err
			}
		}
	}
	return b.Put(key, v)
}
