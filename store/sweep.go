package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The expiry index: key = big-endian expiry (unix nanoseconds), one byte of
// bucket name length, the bucket name, the record's key; empty value. Keys
// sort by expiry, so the due ones are a prefix of the bucket.

// indexFill is the expiry index's split threshold: new entries mostly land
// at its end (expiry grows with time), so full pages waste nothing.
const indexFill = 0.9

func indexKey(expiry int64, bucket, key []byte) []byte {
	k := make([]byte, 0, 9+len(bucket)+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(expiry))
	k = append(k, byte(len(bucket)))
	k = append(k, bucket...)
	return append(k, key...)
}

func parseIndexKey(k []byte) (expiry int64, bucket, key []byte, ok bool) {
	if len(k) < 10 {
		return 0, nil, nil, false
	}
	n := int(k[8])
	if n == 0 || len(k) < 9+n+1 {
		return 0, nil, nil, false
	}
	return int64(binary.BigEndian.Uint64(k)), k[9 : 9+n], k[9+n:], true
}

// putRecord stores the sealed value v (expiring at expiry) at bucket/key and
// moves the record's index entry. A caller replacing a record must have
// opened the old value first: this one does not look inside it.
func putRecord(tx *bolt.Tx, bucket, key, v []byte, expiry int64) error {
	changed(tx, bucket, key)
	b, ix := tx.Bucket(bucket), tx.Bucket(bucketExpiry)
	ix.FillPercent = indexFill
	if old := b.Get(key); old != nil {
		if h, err := parseHeader(old); err == nil {
			if err := ix.Delete(indexKey(h.expiry, bucket, key)); err != nil {
				return err
			}
		}
	}
	if err := b.Put(key, v); err != nil {
		return err
	}
	return ix.Put(indexKey(expiry, bucket, key), []byte{})
}

// deleteRecord removes bucket/key and its index entry; false if absent. An
// index entry it cannot find (a value whose header is unreadable) is left to
// the sweeper, which drops entries whose record is gone.
func deleteRecord(tx *bolt.Tx, bucket, key []byte) (bool, error) {
	b := tx.Bucket(bucket)
	old := b.Get(key)
	if old == nil {
		return false, nil
	}
	changed(tx, bucket, key)
	if h, err := parseHeader(old); err == nil {
		if err := tx.Bucket(bucketExpiry).Delete(indexKey(h.expiry, bucket, key)); err != nil {
			return false, err
		}
	}
	return true, b.Delete(key)
}

// Sweep deletes every record whose expiry is at or before now. It first
// collects the due index keys in a read transaction, then deletes them in
// short write transactions of at most sweepChunk records, re-checking each:
// a record touched since (a later expiry) stays, and only its stale index
// entry goes. A due record that fails to open is left in place and
// reported (ErrCorrupt): nothing unreadable is ever destroyed silently.
func (s *Store) Sweep(now time.Time) (removed int, err error) {
	nowN, err := unixNano(now)
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, ErrClosed
	}
	corrupt := 0
	var after []byte // the last index key collected: skipped entries stay due
	for {
		due, err := s.collectDue(nowN, after)
		if err != nil {
			return s.sweepDone(removed, corrupt, err)
		}
		for i := 0; i < len(due); i += s.sweepChunk {
			chunk := due[i:min(i+s.sweepChunk, len(due))]
			var r, c int
			err := s.mapErr(s.db.Update(func(tx *bolt.Tx) error {
				r, c = 0, 0
				for _, ik := range chunk {
					gone, bad, err := s.sweepOne(tx, ik, nowN)
					if err != nil {
						return err
					}
					if gone {
						r++
					}
					if bad {
						c++
					}
				}
				return nil
			}))
			if err != nil {
				return s.sweepDone(removed, corrupt, err)
			}
			removed += r
			corrupt += c
		}
		if len(due) < s.sweepCollect {
			break
		}
		after = due[len(due)-1]
	}
	s.bans.prune(nowN) // the bans just swept, and any that ended and failed to sweep
	if err := s.maybeRetire(now); err != nil {
		s.log.Warn("store: looking for unused old keys failed", "err", err)
	}
	return s.sweepDone(removed, corrupt, nil)
}

func (s *Store) sweepDone(removed, corrupt int, err error) (int, error) {
	s.st.sweeps.Add(1)
	s.st.removed.Add(uint64(removed))
	if err == nil && corrupt > 0 {
		err = fmt.Errorf("%w: %d due records failed to open and were left in place", ErrCorrupt, corrupt)
	}
	if err != nil {
		s.st.sweepErrors.Add(1)
	}
	return removed, err
}

// collectDue returns copies of up to sweepCollect due index keys after the
// key after (nil: from the start).
func (s *Store) collectDue(now int64, after []byte) ([][]byte, error) {
	var due [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExpiry).Cursor()
		k, _ := c.First()
		if after != nil {
			if k, _ = c.Seek(after); bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(due) < s.sweepCollect; k, _ = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now {
				break
			}
			due = append(due, bytes.Clone(k))
		}
		return nil
	})
	return due, err
}

// sweepOne handles one due index entry inside a write transaction: gone
// reports a record deleted, bad one left in place because it failed to open.
func (s *Store) sweepOne(tx *bolt.Tx, ik []byte, now int64) (gone, bad bool, err error) {
	ix := tx.Bucket(bucketExpiry)
	if k, _ := ix.Cursor().Seek(ik); !bytes.Equal(k, ik) {
		return false, false, nil // handled meanwhile
	}
	exp, name, key, ok := parseIndexKey(ik)
	var b *bolt.Bucket
	if ok && !bytes.Equal(name, bucketExpiry) && !bytes.Equal(name, bucketMeta) {
		b = tx.Bucket(name)
	}
	if b == nil {
		s.st.corrupt.Add(1)
		return false, true, nil
	}
	v := b.Get(key)
	if v == nil {
		return false, false, ix.Delete(ik) // the record went another way
	}
	h, err := s.dueHeader(name, key, v)
	if err != nil {
		return false, true, nil
	}
	if h.expiry > now {
		// Touched since it was indexed: the record stays, and so does its
		// current index entry; only this stale one goes.
		if h.expiry != exp {
			return false, false, ix.Delete(ik)
		}
		return false, false, nil
	}
	if h.expiry != exp {
		if err := ix.Delete(ik); err != nil {
			return false, false, err
		}
	}
	if err := ix.Delete(indexKey(h.expiry, name, key)); err != nil {
		return false, false, err
	}
	changed(tx, name, key)
	return true, false, b.Delete(key)
}

// dueHeader reads the header the sweeper decides by. A record the store can
// open is opened, so a tampered expiry is caught; a session or contact
// record is sealed under its token, which the store does not have, so its
// header is read unauthenticated: a forged expiry could only make it go
// sooner or later, and forging needs write access to the file, which is
// everything anyway.
func (s *Store) dueHeader(bucket, key, v []byte) (header, error) {
	if bytes.Equal(bucket, bucketSessions) || bytes.Equal(bucket, bucketContacts) {
		h, err := parseHeader(v)
		if err != nil {
			s.st.corrupt.Add(1)
		}
		return h, err
	}
	_, h, err := s.openRecord(bucket, key, v)
	return h, err
}

// maybeRetire looks for old keys no record uses any more, at most hourly.
func (s *Store) maybeRetire(now time.Time) error {
	if len(s.keys.keys) < 2 {
		return nil
	}
	s.retireMu.Lock()
	if now.Before(s.nextRetire) {
		s.retireMu.Unlock()
		return nil
	}
	s.nextRetire = now.Add(time.Hour)
	s.retireMu.Unlock()
	return s.retireOldKeys()
}

// RunSweeper sweeps at once and then every `every` (default one minute)
// with the time clock tells (default time.Now), until ctx is done or the
// store is closed. Errors are logged, never fatal.
func (s *Store) RunSweeper(ctx context.Context, every time.Duration, clock func() time.Time) {
	if every <= 0 {
		every = time.Minute
	}
	if clock == nil {
		clock = time.Now
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Sweep(clock())
		switch {
		case errors.Is(err, ErrClosed):
			return
		case err != nil:
			s.log.Warn("store: sweep failed", "err", err, "removed", n)
		case n > 0:
			s.log.Debug("store: swept", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
