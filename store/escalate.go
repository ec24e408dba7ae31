package store

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// IPv6 bans widen. A /64 costs nothing to change for someone who holds a
// /56 or a /48 (RFC 6177 recommends those for homes and sites), so:
//
//   - when escalate56After /64s under one /56 are banned, the /56 is banned;
//   - when escalate48After56 /56s, or escalate48After64 /64s, under one /48
//     are banned, the /48 is banned.
//
// Every IPv6 ban of a /64 or /56 leaves a strike on each wider prefix: a
// record keyed by the wider prefix's ban key, the narrower one's length and
// a two-byte tag of the narrower prefix, lasting as long as the ban. The
// strikes under a ban key are counted by a prefix scan, as reports are. A
// tag collision can only under-count, so it never widens a ban wrongly.
// Strikes are counted under the current key only: after a key rotation the
// count starts afresh (again: fewer bans, never more).
//
// IPv4 bans stay on the /32: one IPv4 address is often many people
// (carrier-grade NAT, universities, offices), and a /24 is many more.
const (
	escalate56After   = 2
	escalate48After56 = 2
	escalate48After64 = 3

	strikeKeySize = banKeySize + 1 + tagSize
)

// escKeys are the current key's ban keys of a /64's /56 and /48, and the
// tags that name the /64 and the /56 in strikes.
type escKeys struct {
	k56, k48     banKey
	tag64, tag56 [tagSize]byte
}

func (s *Store) escalationKeys(sub netip.Prefix) *escKeys {
	ks := s.keys.current()
	a := sub.Addr()
	p56, p48 := prefix.Bits(a, 32, 56), prefix.Bits(a, 32, 48)
	return &escKeys{
		k56:   s.keyCache.get(ks, p56),
		k48:   s.keyCache.get(ks, p48),
		tag64: ks.tagOf(idPrefix, ks.prefixHash(sub)),
		tag56: ks.tagOf(idPrefix, ks.prefixHash(p56)),
	}
}

func strikeKey(parent banKey, bits uint8, tag [tagSize]byte) []byte {
	k := make([]byte, 0, strikeKeySize)
	k = append(k, parent[:]...)
	k = append(k, bits)
	return append(k, tag[:]...)
}

// madeBan is a ban written by a transaction, for the ban set once it commits.
type madeBan struct {
	key banKey
	m   memBan
}

// banTx bans ban key k (a prefix of bits) until `until` with count, never
// shortening a ban already there, puts its strikes (esc is nil for IPv4)
// and widens the ban when the strikes say so. It returns every ban written.
func (s *Store) banTx(tx *bolt.Tx, now, until int64, k banKey, bits uint8, count uint32, esc *escKeys) ([]madeBan, error) {
	cur := s.keys.current()
	var strikes [][]byte
	if esc != nil {
		switch bits {
		case 64:
			strikes = [][]byte{strikeKey(esc.k56, 64, esc.tag64), strikeKey(esc.k48, 64, esc.tag64)}
		case 56:
			strikes = [][]byte{strikeKey(esc.k48, 56, esc.tag56)}
		}
	}
	u := until
	if v := tx.Bucket(bucketBans).Get(k[:]); v != nil {
		old, _, err := s.decodeBan(k[:], v)
		if err != nil {
			return nil, err // never replace what fails to open
		}
		u = max(u, old.until)
	}
	rec := banRecord{until: u, count: count, bits: bits, strikes: strikes}
	if err := putRecord(tx, bucketBans, k[:], cur.seal(bucketBans, k[:], u, rec.marshal()), u); err != nil {
		return nil, err
	}
	for _, sk := range strikes {
		if err := putRecord(tx, bucketStrikes, sk, cur.seal(bucketStrikes, sk, u, strikePlain), u); err != nil {
			return nil, err
		}
	}
	made := []madeBan{{k, memBan{until: u, count: count, bits: bits, id: cur.id}}}
	if esc == nil || bits == 48 {
		return made, nil
	}
	if bits == 64 {
		n, err := s.countStrikes(tx, now, esc.k56, 64)
		if err != nil {
			return nil, err
		}
		if n >= escalate56After {
			more, err := s.banTx(tx, now, until, esc.k56, 56, uint32(n), esc) // it looks at the /48 itself
			return append(made, more...), err
		}
	}
	n56, err := s.countStrikes(tx, now, esc.k48, 56)
	if err != nil {
		return nil, err
	}
	n64, err := s.countStrikes(tx, now, esc.k48, 64)
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case n56 >= escalate48After56:
		n = n56
	case n64 >= escalate48After64:
		n = n64
	default:
		return made, nil
	}
	more, err := s.banTx(tx, now, until, esc.k48, 48, uint32(n), esc)
	return append(made, more...), err
}

// countStrikes counts the unexpired strikes of bits-long prefixes on the
// prefix whose ban key is parent. Each is opened: one that fails is
// ErrCorrupt, and then nothing is written.
func (s *Store) countStrikes(tx *bolt.Tx, now int64, parent banKey, bits uint8) (int, error) {
	pre := append(parent[:], bits)
	n := 0
	c := tx.Bucket(bucketStrikes).Cursor()
	for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
		plain, h, err := s.openRecord(bucketStrikes, k, v)
		if err == nil && (len(k) != strikeKeySize || !bytes.Equal(plain, strikePlain)) {
			s.st.corrupt.Add(1)
			err = ErrCorrupt
		}
		if err != nil {
			return 0, fmt.Errorf("%w (a strike)", err)
		}
		if h.expiry > now {
			n++
		}
	}
	return n, nil
}
