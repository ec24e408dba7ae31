package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// banSet holds every ban record in memory: Banned, asked at every connect,
// join and relay request, never touches the disk. It is loaded at Open and
// changed after each commit that changes the bans bucket (Report, LiftBan);
// Sweep drops what has ended. Nothing in it is written anywhere.
type banSet struct {
	mu      sync.RWMutex // guards the fields below
	bans    map[banKey]memBan
	corrupt map[banKey]bool // ban records that failed to open: a lookup that hits one fails
	levels  map[levelKey]int
}

// memBan is one ban record, opened.
type memBan struct {
	until int64
	count uint32
	bits  uint8
	id    keyID // the key that sealed it, and so derived its key
}

// level is how wide a ban is: the subscriber prefix (IPv4 /32, IPv6 /64,
// and format-1 bans, which are one of the two), or a wider IPv6 prefix.
type level uint8

const (
	levelSub level = iota
	level56
	level48
)

func levelOf(bits uint8) level {
	switch bits {
	case 56:
		return level56
	case 48:
		return level48
	}
	return levelSub
}

// levelKey counts bans per sealing key and level: a lookup computes the
// memory-hard key of a level under a key only when some ban could match it.
type levelKey struct {
	id keyID
	l  level
}

func newBanSet() *banSet {
	return &banSet{bans: map[banKey]memBan{}, corrupt: map[banKey]bool{}, levels: map[levelKey]int{}}
}

// load reads every ban record. Records that fail to open are remembered as
// corrupt (and counted) but not loaded.
func (s *Store) loadBans(tx *bolt.Tx) {
	set := newBanSet()
	c := tx.Bucket(bucketBans).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != banKeySize {
			s.st.corrupt.Add(1)
			continue
		}
		rec, h, err := s.decodeBan(k, v)
		if err != nil {
			set.corrupt[banKey(k)] = true
			continue
		}
		set.putLocked(banKey(k), memBan{until: rec.until, count: rec.count, bits: rec.bits, id: h.id})
	}
	s.bans = set
}

// putLocked stores b at k unless a ban there already lasts longer: changes
// of one key by concurrent reports then commute, whatever order their
// commits are applied in.
func (b *banSet) putLocked(k banKey, m memBan) {
	if old, ok := b.bans[k]; ok {
		if old.until > m.until || old.until == m.until && old.count >= m.count {
			return
		}
		b.levels[levelKey{old.id, levelOf(old.bits)}]--
	}
	b.bans[k] = m
	b.levels[levelKey{m.id, levelOf(m.bits)}]++
}

func (b *banSet) put(k banKey, m memBan) {
	b.mu.Lock()
	b.putLocked(k, m)
	b.mu.Unlock()
}

func (b *banSet) removeLocked(k banKey) {
	if old, ok := b.bans[k]; ok {
		b.levels[levelKey{old.id, levelOf(old.bits)}]--
		delete(b.bans, k)
	}
	delete(b.corrupt, k)
}

func (b *banSet) remove(k banKey) {
	b.mu.Lock()
	b.removeLocked(k)
	b.mu.Unlock()
}

// prune drops the bans that have ended by now: the sweeper deletes exactly
// those records (and keeps a ban extended meanwhile, which ends later).
func (b *banSet) prune(now int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, m := range b.bans {
		if m.until <= now {
			b.removeLocked(k)
		}
	}
}

// worth says whether a ban of level l sealed under id could exist.
func (b *banSet) worth(id keyID, l level) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.corrupt) > 0 || b.levels[levelKey{id, l}] > 0
}

func (b *banSet) get(k banKey) (m memBan, ok, corrupt bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m, ok = b.bans[k]
	return m, ok, b.corrupt[k]
}

// candidate is one prefix of an address that a ban may cover.
type candidate struct {
	p netip.Prefix
	l level
}

// candidates are the prefixes a ban of addr may be keyed by: the /32 of an
// IPv4 address (shared addresses and carrier-grade NAT make anything wider
// ban strangers), the /64, /56 and /48 of an IPv6 one.
func candidates(addr netip.Addr) []candidate {
	sub := prefix.Of(addr)
	if sub.Addr().Is4() {
		return []candidate{{sub, levelSub}}
	}
	return []candidate{
		{sub, levelSub},
		{prefix.Bits(addr, 32, 56), level56},
		{prefix.Bits(addr, 32, 48), level48},
	}
}

// Banned reports whether addr is banned at now: its /32, or its /64, /56 or
// /48, under the current key or an old one. It answers from memory; the
// only cost is the memory-hard key of a prefix not seen lately (cached),
// and only for levels and keys under which some ban exists. Of several
// bans it returns the one that ends last (the widest of equals).
func (s *Store) Banned(now time.Time, addr netip.Addr) (Ban, bool, error) {
	if !addr.IsValid() {
		return Ban{}, false, ErrBadAddr
	}
	nowN, err := unixNano(now)
	if err != nil {
		return Ban{}, false, err
	}
	if s.closed.Load() {
		return Ban{}, false, ErrClosed
	}
	var best Ban
	found := false
	for _, ks := range s.keys.keys {
		for _, c := range candidates(addr) {
			if !s.bans.worth(ks.id, c.l) {
				continue
			}
			k := s.keyCache.get(ks, c.p)
			m, ok, bad := s.bans.get(k)
			if bad {
				return Ban{}, false, fmt.Errorf("%w (a ban)", ErrCorrupt)
			}
			if !ok || m.until <= nowN {
				continue
			}
			b := m.ban(k, c.p.Bits())
			if !found || b.Until.After(best.Until) || b.Until.Equal(best.Until) && b.Bits < best.Bits {
				best, found = b, true
			}
		}
	}
	return best, found, nil
}

// ban is the API form of m stored at k; bits fills in the width of a
// format-1 ban when the address it was found by is known.
func (m memBan) ban(k banKey, bits int) Ban {
	if m.bits != 0 {
		bits = int(m.bits)
	}
	return Ban{Key: hex.EncodeToString(k[:]), Until: time.Unix(0, m.until).UTC(), Count: int(m.count), Bits: bits}
}

// Bans lists the bans in force at now, from memory, ordered by key. Ban
// records that failed to open when the store was opened are left out and
// reported (the error wraps ErrCorrupt; the list is still good). A ban
// carried over from format 1 has Bits 0: it covers one /32 or one /64.
func (s *Store) Bans(now time.Time) ([]Ban, error) {
	nowN, err := unixNano(now)
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.bans.mu.RLock()
	out := make([]Ban, 0, len(s.bans.bans))
	for k, m := range s.bans.bans {
		if m.until > nowN {
			out = append(out, m.ban(k, 0))
		}
	}
	bad := len(s.bans.corrupt)
	s.bans.mu.RUnlock()
	slices.SortFunc(out, func(a, b Ban) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
	if bad > 0 {
		return out, fmt.Errorf("%w: %d ban records", ErrCorrupt, bad)
	}
	return out, nil
}
