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
	"net/netip"
	"slices"
	"time"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// Helpline blocks: a time-out a volunteer gives blocks the visitor's token
// and, as a ban does, the address prefix (/32 or /64), each under a keyed
// hash: the token under an HMAC, the prefix under its memory-hard ban key
// (bankey.go). The token's entry also counts the time-outs, so that enough
// of them make the long block.

// HelplineBlock is a block of the helpline as coordinators see it. Its two
// entries (token and prefix) share an id.
type HelplineBlock struct {
	ID      string    `json:"id"`
	Until   time.Time `json:"until"`
	Strikes int       `json:"strikes"` // time-outs counted towards the long block (token entry)
	Last    time.Time `json:"last"`    // the last time-out
	Long    bool      `json:"long"`    // the threshold was reached
	Address bool      `json:"address"` // the block covers an address prefix too
}

// TimeOutRule is what a time-out does, from the helpline's configuration.
type TimeOutRule struct {
	For          time.Duration // this time-out's length
	Threshold    int           // time-outs within StrikeWindow that make the long block
	LongFor      time.Duration // the long block's length
	StrikeWindow time.Duration // how long a time-out counts towards the threshold
}

// blockRecord is the plaintext of a helpline-blocks entry.
type blockRecord struct {
	ID      string    `json:"id"`
	Until   time.Time `json:"until"`
	Strikes int       `json:"strikes,omitempty"`
	Last    time.Time `json:"last"`
	Long    bool      `json:"long,omitempty"`
}

const (
	blockToken   byte = 't'
	blockAddress byte = 'a'
)

// blockKeys are the entry keys of a token and an address prefix under every
// master key, current first; an invalid address or an empty token has none.
func (s *Store) blockKeys(token string, addr netip.Addr) (tokens, addrs [][]byte) {
	for _, ks := range s.keys.keys {
		if token != "" {
			m := hmac.New(sha256.New, ks.subkey("helpline-block"))
			m.Write([]byte(token))
			tokens = append(tokens, append([]byte{blockToken}, m.Sum(nil)...))
		}
		if addr.IsValid() {
			bk := s.keyCache.get(ks, prefix.Of(addr))
			addrs = append(addrs, append([]byte{blockAddress}, bk[:]...))
		}
	}
	return tokens, addrs
}

func (s *Store) readBlock(tx *bolt.Tx, k []byte) (*blockRecord, error) {
	v := tx.Bucket(bucketHLBlocks).Get(k)
	if v == nil {
		return nil, nil
	}
	plain, _, err := s.openRecord(bucketHLBlocks, k, v)
	if err != nil {
		return nil, fmt.Errorf("%w (a helpline block)", err)
	}
	var r blockRecord
	if err := json.Unmarshal(plain, &r); err != nil || r.ID == "" {
		s.st.corrupt.Add(1)
		return nil, ErrCorrupt
	}
	return &r, nil
}

// HelplineTimeOut records a time-out of the visitor with token at addr:
// both are blocked for r.For, or for r.LongFor when this is the
// r.Threshold-th time-out within r.StrikeWindow. It returns the block.
func (s *Store) HelplineTimeOut(now time.Time, token string, addr netip.Addr, r TimeOutRule) (HelplineBlock, error) {
	if token == "" || r.For <= 0 || r.LongFor < r.For || r.Threshold < 1 || r.StrikeWindow <= 0 {
		return HelplineBlock{}, ErrBadBlock
	}
	if _, err := unixNano(now.Add(max(r.LongFor, r.StrikeWindow))); err != nil {
		return HelplineBlock{}, err
	}
	tokens, addrs := s.blockKeys(token, addr) // memory-hard: outside the transaction
	var out HelplineBlock
	err := s.write(func(tx *bolt.Tx) error {
		rec := blockRecord{Last: now.UTC()}
		for _, k := range tokens {
			old, err := s.readBlock(tx, k)
			if err != nil {
				return err
			}
			if old != nil {
				rec.ID = old.ID
				if now.Sub(old.Last) < r.StrikeWindow {
					rec.Strikes = old.Strikes
				}
				break
			}
		}
		if rec.ID == "" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			rec.ID = hex.EncodeToString(b[:])
		}
		rec.Strikes++
		rec.Until = now.Add(r.For).UTC()
		if rec.Strikes >= r.Threshold {
			rec.Long, rec.Until = true, now.Add(r.LongFor).UTC()
		}
		for _, k := range tokens[1:] {
			if _, err := deleteRecord(tx, bucketHLBlocks, k); err != nil { // moved to the current key
				return err
			}
		}
		if err := s.putBlock(tx, tokens[0], rec, later(rec.Until, rec.Last.Add(r.StrikeWindow))); err != nil {
			return err
		}
		out = HelplineBlock{ID: rec.ID, Until: rec.Until, Strikes: rec.Strikes, Last: rec.Last, Long: rec.Long}
		if len(addrs) == 0 {
			return nil
		}
		a := blockRecord{ID: rec.ID, Until: rec.Until, Last: rec.Last, Long: rec.Long}
		if old, err := s.readBlock(tx, addrs[0]); err != nil {
			return err
		} else if old != nil && old.Until.After(a.Until) {
			a.Until = old.Until // another visitor's longer block of the same network stays
		}
		out.Address = true
		return s.putBlock(tx, addrs[0], a, a.Until)
	})
	return out, err
}

func (s *Store) putBlock(tx *bolt.Tx, k []byte, r blockRecord, until time.Time) error {
	exp, err := unixNano(until)
	if err != nil {
		return err
	}
	plain, _ := json.Marshal(&r)
	return putRecord(tx, bucketHLBlocks, k, s.keys.current().seal(bucketHLBlocks, k, exp, plain), exp)
}

// HelplineBlocked reports whether the visitor with token at addr is blocked
// at now, and until when (the later of the two entries).
func (s *Store) HelplineBlocked(now time.Time, token string, addr netip.Addr) (HelplineBlock, bool, error) {
	tokens, addrs := s.blockKeys(token, addr)
	var out HelplineBlock
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		for i, k := range slices.Concat(tokens, addrs) {
			r, err := s.readBlock(tx, k)
			if err != nil {
				return err
			}
			if r == nil || !r.Until.After(now) {
				continue
			}
			if !found || r.Until.After(out.Until) {
				out = HelplineBlock{ID: r.ID, Until: r.Until, Strikes: r.Strikes, Last: r.Last, Long: r.Long, Address: i >= len(tokens)}
				found = true
			}
		}
		return nil
	})
	return out, found, err
}

// HelplineBlocks lists the blocks in force at now, one per id, ending
// soonest first.
func (s *Store) HelplineBlocks(now time.Time) ([]HelplineBlock, error) {
	byID := map[string]*HelplineBlock{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHLBlocks).ForEach(func(k, _ []byte) error {
			r, err := s.readBlock(tx, k)
			if err != nil {
				return err
			}
			if !r.Until.After(now) {
				return nil // only strikes remembered: no block in force
			}
			b := byID[r.ID]
			if b == nil {
				b = &HelplineBlock{ID: r.ID}
				byID[r.ID] = b
			}
			if r.Until.After(b.Until) {
				b.Until = r.Until
			}
			if r.Last.After(b.Last) {
				b.Last = r.Last
			}
			b.Long = b.Long || r.Long
			b.Strikes = max(b.Strikes, r.Strikes)
			b.Address = b.Address || k[0] == blockAddress
			return nil
		})
	})
	out := make([]HelplineBlock, 0, len(byID))
	for _, b := range byID {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b HelplineBlock) int {
		if c := a.Until.Compare(b.Until); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return out, err
}

// LiftHelplineBlock removes every entry of the block with this id, its
// count of time-outs with it. ErrNotFound if there is none.
func (s *Store) LiftHelplineBlock(id string) error {
	if id == "" {
		return ErrNotFound
	}
	return s.write(func(tx *bolt.Tx) error {
		var keys [][]byte
		err := tx.Bucket(bucketHLBlocks).ForEach(func(k, _ []byte) error {
			r, err := s.readBlock(tx, k)
			if errors.Is(err, ErrCorrupt) {
				return nil // left in place, as every record that fails to open
			}
			if err != nil {
				return err
			}
			if r.ID == id {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return ErrNotFound
		}
		for _, k := range keys {
			if _, err := deleteRecord(tx, bucketHLBlocks, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
