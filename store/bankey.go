package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/parley-chat/parley/store/prefix"
	"golang.org/x/crypto/argon2"
)

// A ban key names a banned prefix on disk (the bans bucket, the first 32
// bytes of a report's key, a strike's parent). It is
//
//	Argon2id(HMAC-SHA256(address subkey, prefix bytes), ban salt)
//
// The HMAC alone (format 1's key) costs about 3 us a guess: with a copy of
// the data dir and its key, all of IPv4 falls in hours. The memory-hard
// hash on top makes each guess cost banKeyMemory and milliseconds of CPU
// (BenchmarkBanKey; docs/PRIVACY.md has the figures). It is chained over
// the HMAC on purpose: the upgrade from format 1 re-keys stored records
// from their HMAC keys alone, without knowing any address.
const (
	banKeyTime    = 2       // passes over the memory
	banKeyMemory  = 8 << 10 // KiB: 8 MiB per computation
	banKeyThreads = 1       // one lane: the server computes keys of different prefixes in parallel instead
	banKeySize    = 32

	// tagSize is the length of reporter and strike tags: enough to count
	// distinct reporters among the few a target ever has, far too short to
	// name one (an IPv4 tag is shared by 65,536 addresses).
	tagSize = 2

	// DefaultBanKeyCache is how many prefix-to-key results stay in memory.
	DefaultBanKeyCache = 1 << 16
)

type banKey = [banKeySize]byte

// prefixHash is the HMAC-SHA256 of a normalised prefix under a key's
// address subkey: format 1's ban key, the input of the memory-hard one, and
// the identity of a reporter prefix.
func (ks *keyset) prefixHash(p netip.Prefix) []byte {
	b, _ := p.MarshalBinary() // address bytes and length: v4 and v6, /56 and /64 never collide
	m := hmac.New(sha256.New, ks.address)
	m.Write(b)
	return m.Sum(nil)
}

// banKeyOfHash is the memory-hard step over a prefix hash.
func (ks *keyset) banKeyOfHash(h []byte) banKey {
	var k banKey
	copy(k[:], argon2.IDKey(h, ks.banSalt, banKeyTime, banKeyMemory, banKeyThreads, banKeySize))
	return k
}

// Identities that tags are taken of. The first byte keeps a prefix and a
// group name from ever being the same input.
const (
	idPrefix byte = 1 // followed by the prefix hash
	idGroup  byte = 2 // followed by the group name
)

// tagOf is the first tagSize bytes of HMAC-SHA256(tag subkey, kind || id).
func (ks *keyset) tagOf(kind byte, id []byte) [tagSize]byte {
	m := hmac.New(sha256.New, ks.tag)
	m.Write([]byte{kind})
	m.Write(id)
	var t [tagSize]byte
	copy(t[:], m.Sum(nil))
	return t
}

// reporterTag tags a reporter's identity: its group when it has one, else
// its prefix. For a prefix it is derived from the prefix hash, which is what
// format 1 stored as the second half of a report's key: the upgrade keeps
// every reporter's identity without knowing it.
func (ks *keyset) reporterTag(r Reporter) [tagSize]byte {
	if r.Group != "" {
		return ks.tagOf(idGroup, []byte(r.Group))
	}
	return ks.tagOf(idPrefix, ks.prefixHash(prefix.Of(r.Addr)))
}

// keyCache remembers ban keys of recently seen prefixes, in memory only,
// so that a person's repeated connects, joins and relay requests cost one
// memory-hard hash, not one each. Two generations approximate an LRU: a
// lookup promotes an entry from the old one, and when the current one is
// full the old one is dropped.
type keyCache struct {
	// sem bounds the hashes computed at once: each holds banKeyMemory, so a
	// flood of new addresses waits here instead of taking all memory.
	sem chan struct{}

	computed atomic.Uint64 // hashes computed (cache misses), for Stats
	active   atomic.Int32  // hashes being computed now
	peak     atomic.Int32  // the most ever computed at once (tests)

	mu       sync.Mutex // guards the fields below
	half     int        // entries per generation
	cur, old map[cacheKey]banKey
	inflight map[cacheKey]*keyCall
}

type cacheKey struct {
	id keyID
	p  netip.Prefix
}

// keyCall is one computation that other callers of the same key wait for.
type keyCall struct {
	done chan struct{}
	key  banKey
}

func newKeyCache(size int) *keyCache {
	half := max(size/2, 1)
	return &keyCache{
		sem:      make(chan struct{}, runtime.GOMAXPROCS(0)),
		half:     half,
		cur:      make(map[cacheKey]banKey),
		old:      make(map[cacheKey]banKey),
		inflight: make(map[cacheKey]*keyCall),
	}
}

// get returns the ban key of p under ks, computing it at most once however
// many callers ask at the same time.
func (c *keyCache) get(ks *keyset, p netip.Prefix) banKey {
	k := cacheKey{ks.id, p}
	c.mu.Lock()
	if v, ok := c.cur[k]; ok {
		c.mu.Unlock()
		return v
	}
	if v, ok := c.old[k]; ok {
		c.addLocked(k, v)
		c.mu.Unlock()
		return v
	}
	if call := c.inflight[k]; call != nil {
		c.mu.Unlock()
		<-call.done
		return call.key
	}
	call := &keyCall{done: make(chan struct{})}
	c.inflight[k] = call
	c.mu.Unlock()

	call.key = c.compute(func() banKey { return ks.banKeyOfHash(ks.prefixHash(p)) })

	c.mu.Lock()
	delete(c.inflight, k)
	c.addLocked(k, call.key)
	c.mu.Unlock()
	close(call.done)
	return call.key
}

// compute runs one memory-hard hash under the semaphore.
func (c *keyCache) compute(fn func() banKey) banKey {
	c.sem <- struct{}{}
	n := c.active.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	k := fn()
	c.active.Add(-1)
	<-c.sem
	c.computed.Add(1)
	return k
}

func (c *keyCache) addLocked(k cacheKey, v banKey) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[cacheKey]banKey, c.half)
	}
	c.cur[k] = v
}

// len is the number of entries held (tests).
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// banKeys returns the ban key of p under every key, current first.
func (s *Store) banKeys(p netip.Prefix) []banKey {
	out := make([]banKey, len(s.keys.keys))
	for i, ks := range s.keys.keys {
		out[i] = s.keyCache.get(ks, p)
	}
	return out
}
