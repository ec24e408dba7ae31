package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry is one action of a coordinator (or of the operator through
// the admin API): who, what, on which record, when. It names staff and
// records by their ids; never a visitor.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`            // the staff id, or "admin"
	Name   string    `json:"name,omitempty"`   // the actor's display name then
	Action string    `json:"action"`           // e.g. invite, revoke-invite, revoke-staff, lift-block
	Target string    `json:"target,omitempty"` // the id acted on
}

// Audit appends an entry, kept AuditRetention.
func (s *Store) Audit(e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return ErrBadAudit
	}
	e.At = e.At.UTC()
	at, err := unixNano(e.At)
	if err != nil {
		return err
	}
	exp, err := unixNano(e.At.Add(AuditRetention))
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(nil, uint64(at))
	var r [4]byte
	_, _ = rand.Read(r[:])
	k = append(k, r[:]...)
	plain, _ := json.Marshal(&e)
	v := s.keys.current().seal(bucketAudit, k, exp, plain)
	return s.write(func(tx *bolt.Tx) error { return putRecord(tx, bucketAudit, k, v, exp) })
}

// AuditLog returns the entries not yet expired at now, newest first.
func (s *Store) AuditLog(now time.Time) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			plain, h, err := s.openRecord(bucketAudit, k, v)
			if err != nil {
				return fmt.Errorf("%w (an audit entry)", err)
			}
			if h.expiry <= now.UnixNano() {
				return nil
			}
			var e AuditEntry
			if err := json.Unmarshal(plain, &e); err != nil {
				s.st.corrupt.Add(1)
				return ErrCorrupt
			}
			out = append(out, e)
			return nil
		})
	})
	slices.Reverse(out) // keys sort by time
	return out, err
}
