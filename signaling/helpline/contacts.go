package helpline

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/parley-chat/parley/store"
)

// Contacts counts a visitor's chats under a pseudonym: a keyed hash of the
// token in the visitor's cookie under the key of the current period. Each
// period has its own random key, made when first needed and deleted two
// periods after its own began; a record found under the previous period's
// key moves to the current one when it is used. So a visitor who comes back
// within a period keeps their count across one rotation, and one who does
// not is unlinkable once the old key is gone, even to whoever holds the
// database, the master key and the visitor's cookie.
type Contacts struct {
	st     *store.Store
	period time.Duration
}

// NewContacts uses st with keys that rotate every period.
func NewContacts(st *store.Store, period time.Duration) *Contacts {
	return &Contacts{st: st, period: period}
}

// ContactSummary is what a volunteer is shown of a visitor: the tag, the
// number of earlier chats, the day of the last one, the earlier time-outs.
// Never an address, never the token.
type ContactSummary struct {
	Tag      string
	Earlier  int
	Last     time.Time // zero: no earlier chat
	TimeOuts []store.ContactTimeOut
}

func (c *Contacts) periodOf(now time.Time) uint64 {
	return uint64(now.Unix()) / uint64(c.period/time.Second)
}

func (c *Contacts) start(p uint64) time.Time {
	return time.Unix(int64(p)*int64(c.period/time.Second), 0).UTC()
}

// keyOf returns the contact key of token in period p; ok is false when the
// period's key does not exist (and create is false) or is gone.
func (c *Contacts) keyOf(now time.Time, token string, p uint64, create bool) (store.ContactKey, bool, error) {
	pk, err := c.st.ContactPeriodKey(now, p, c.start(p+2), create)
	if errors.Is(err, store.ErrNotFound) {
		return store.ContactKey{}, false, nil
	}
	if err != nil {
		return store.ContactKey{}, false, err
	}
	return store.NewContactKey(pk, token), true, nil
}

// find returns the visitor's record and the keys it may be under: the
// current period's (when its key exists) and the previous one's.
func (c *Contacts) find(now time.Time, token string, create bool) (rec *store.Contact, cur, prev store.ContactKey, err error) {
	p := c.periodOf(now)
	cur, ok, err := c.keyOf(now, token, p, create)
	if err != nil {
		return nil, cur, prev, err
	}
	if ok {
		if rec, err = c.st.GetContact(now, cur); err == nil || !errors.Is(err, store.ErrNotFound) {
			return rec, cur, prev, err
		}
	}
	if p > 0 {
		if prev, ok, err = c.keyOf(now, token, p-1, false); err != nil || !ok {
			return nil, cur, prev, err
		}
		rec, err = c.st.GetContact(now, prev)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	}
	return rec, cur, prev, err
}

// Lookup returns what a volunteer sees of the visitor with token before
// this chat; the zero summary's tag is empty for a first contact. It writes
// nothing.
func (c *Contacts) Lookup(now time.Time, token string) (ContactSummary, error) {
	if token == "" {
		return ContactSummary{}, nil
	}
	rec, _, _, err := c.find(now, token, false)
	if err != nil || rec == nil {
		return ContactSummary{}, err
	}
	return ContactSummary{Tag: rec.Tag, Earlier: rec.Count, Last: rec.Last, TimeOuts: rec.TimeOuts}, nil
}

// Record counts one chat of the visitor with token today, under the
// current period's key, and returns the record.
func (c *Contacts) Record(now time.Time, token string) (*store.Contact, error) {
	return c.update(now, token, func(rec *store.Contact) {
		rec.Count++
		rec.Last = day(now)
		if rec.First.IsZero() {
			rec.First = rec.Last
		}
	})
}

// TimeOut notes a time-out of hours in the visitor's record.
func (c *Contacts) TimeOut(now time.Time, token string, hours int) (*store.Contact, error) {
	return c.update(now, token, func(rec *store.Contact) {
		rec.TimeOuts = append(rec.TimeOuts, store.ContactTimeOut{Day: day(now), Hours: hours})
		if rec.Last.IsZero() {
			rec.Last, rec.First = day(now), day(now)
		}
	})
}

func (c *Contacts) update(now time.Time, token string, change func(*store.Contact)) (*store.Contact, error) {
	if token == "" {
		return nil, store.ErrBadContact
	}
	rec, cur, prev, err := c.find(now, token, true)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = &store.Contact{Tag: newTag()}
	}
	change(rec)
	// Kept a period after the last contact, so the record never outlives
	// the key after next: no record is ever left unlinkable on disk longer
	// than its retention.
	return rec, c.st.PutContact(cur, rec, rec.Last.Add(c.period), prev)
}

// Erase deletes the visitor's record under every key it may be under.
func (c *Contacts) Erase(now time.Time, token string) error {
	if token == "" {
		return nil
	}
	_, cur, prev, err := c.find(now, token, false)
	if err != nil {
		return err
	}
	return c.st.DeleteContact(cur, prev)
}

// Record of the visitor for /api/me, with when it goes.
func (c *Contacts) Get(now time.Time, token string) (*store.Contact, time.Time, error) {
	if token == "" {
		return nil, time.Time{}, nil
	}
	rec, _, _, err := c.find(now, token, false)
	if err != nil || rec == nil {
		return nil, time.Time{}, err
	}
	return rec, rec.Last.Add(c.period), nil
}

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// tagAlphabet has no letters or digits that look alike.
const tagAlphabet = "ACDEFHJKLMNPQRTUVWXY34679"

func newTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 4)
	for i, x := range b {
		out[i] = tagAlphabet[int(x)%len(tagAlphabet)]
	}
	return string(out)
}
