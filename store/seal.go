package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A sealed value, as stored in every bucket but the expiry index:
//
//	[0]      format version (1)
//	[1:5]    key id of the master key that sealed it
//	[5:13]   expiry, big-endian unix nanoseconds (0: never, meta records)
//	[13:37]  random 24-byte XChaCha20-Poly1305 nonce
//	[37:]    ciphertext and 16-byte tag
//
// The additional data is the 13-byte header, the bucket name, a zero byte
// and the record's key: a value copied under another key or into another
// bucket, or with its expiry edited, fails to open. The expiry is in the
// clear (the expiry index shows it anyway) so that index upkeep needs no
// decryption; it is authenticated whenever the record is opened.
const (
	sealVersion = 1
	headerSize  = 1 + keyIDSize + 8
	nonceSize   = chacha20poly1305.NonceSizeX
	minSealed   = headerSize + nonceSize + chacha20poly1305.Overhead
)

// header is the clear part of a sealed value.
type header struct {
	id     keyID
	expiry int64 // unix nanoseconds; 0 = never
}

// parseHeader reads a value's header without authenticating it: use it only
// to find index entries, never to decide what a record says.
func parseHeader(v []byte) (header, error) {
	if len(v) < minSealed || v[0] != sealVersion {
		return header{}, ErrCorrupt
	}
	var h header
	copy(h.id[:], v[1:1+keyIDSize])
	h.expiry = int64(binary.BigEndian.Uint64(v[1+keyIDSize : headerSize]))
	if h.expiry < 0 {
		return header{}, ErrCorrupt
	}
	return h, nil
}

func additionalData(hdr []byte, bucket, key []byte) []byte {
	ad := make([]byte, 0, len(hdr)+len(bucket)+1+len(key))
	ad = append(ad, hdr...)
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

// seal encrypts plain for the record bucket/key expiring at expiry.
func (ks *keyset) seal(bucket, key []byte, expiry int64, plain []byte) []byte {
	return ks.sealWith(ks.aead, bucket, key, expiry, plain)
}

// sealWith seals under aead with this key set's header: session records use
// a per-session aead derived from the token.
func (ks *keyset) sealWith(aead cipher.AEAD, bucket, key []byte, expiry int64, plain []byte) []byte {
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plain)+chacha20poly1305.Overhead)
	out[0] = sealVersion
	copy(out[1:], ks.id[:])
	binary.BigEndian.PutUint64(out[1+keyIDSize:], uint64(expiry))
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		panic("store: crypto/rand: " + err.Error()) // crypto/rand never fails on Linux
	}
	return aead.Seal(out, nonce, plain, additionalData(out[:headerSize], bucket, key))
}

// keyring holds the current master key (first) and the old ones.
type keyring struct {
	keys []*keyset
	byID map[keyID]*keyset
}

func newKeyring(current []byte, old [][]byte) *keyring {
	r := &keyring{byID: map[keyID]*keyset{}}
	for _, m := range append([][]byte{current}, old...) {
		ks := newKeyset(m)
		if _, dup := r.byID[ks.id]; dup {
			continue
		}
		r.keys = append(r.keys, ks)
		r.byID[ks.id] = ks
	}
	return r
}

func (r *keyring) current() *keyset { return r.keys[0] }

// open authenticates and decrypts a sealed value stored at bucket/key. Any
// failure (short, unknown version, unknown key id, bad tag) is ErrCorrupt.
// It never panics, whatever the bytes.
func (r *keyring) open(bucket, key, v []byte) ([]byte, header, error) {
	h, err := parseHeader(v)
	if err != nil {
		return nil, header{}, err
	}
	ks := r.byID[h.id]
	if ks == nil {
		return nil, header{}, fmt.Errorf("%w: sealed under key id %s, which was not given", ErrCorrupt, h.id)
	}
	plain, err := ks.aead.Open(nil, v[headerSize:headerSize+nonceSize], v[headerSize+nonceSize:], additionalData(v[:headerSize], bucket, key))
	if err != nil {
		return nil, header{}, ErrCorrupt
	}
	return plain, h, nil
}

// unixNano converts a time for the header and the index; times before 1970
// or after 2262 are refused.
func unixNano(t time.Time) (int64, error) {
	if t.IsZero() || t.Before(time.Unix(0, 1)) || t.After(time.Unix(0, 1<<63-1)) {
		return 0, ErrBadTime
	}
	return t.UnixNano(), nil
}

// Record plaintexts for reports and bans are small fixed binary layouts
// (version byte first) so that decoding them cannot go wrong; sessions are
// JSON.

const recordVersion = 1

// report is the plaintext of a reports record.
type report struct {
	at     int64 // unix nanoseconds
	reason byte  // index into Reasons
}

func (p report) marshal() []byte {
	b := make([]byte, 10)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], uint64(p.at))
	b[9] = p.reason
	return b
}

func unmarshalReport(b []byte) (report, error) {
	if len(b) != 10 || b[0] != recordVersion || int(b[9]) >= len(Reasons) {
		return report{}, ErrCorrupt
	}
	return report{at: int64(binary.BigEndian.Uint64(b[1:])), reason: b[9]}, nil
}

// banRecord is the plaintext of a bans record (format 2).
type banRecord struct {
	until int64 // unix nanoseconds
	count uint32
	// bits is the prefix length the ban covers (32, 64, 56 or 48); 0 for a
	// ban carried over from format 1, which covers the /32 or /64 of
	// whoever is checked.
	bits uint8
	// strikes are the keys of the strike records this ban put on wider
	// prefixes (escalate.go), so that lifting it takes them away too.
	strikes [][]byte
}

const (
	banRecordVersion = 2
	banRecordMin     = 15
	maxStrikes       = 2
)

func (p banRecord) marshal() []byte {
	b := make([]byte, banRecordMin, banRecordMin+len(p.strikes)*strikeKeySize)
	b[0] = banRecordVersion
	binary.BigEndian.PutUint64(b[1:], uint64(p.until))
	binary.BigEndian.PutUint32(b[9:], p.count)
	b[13] = p.bits
	b[14] = byte(len(p.strikes))
	for _, k := range p.strikes {
		b = append(b, k...)
	}
	return b
}

func unmarshalBan(b []byte) (banRecord, error) {
	if len(b) < banRecordMin || b[0] != banRecordVersion {
		return banRecord{}, ErrCorrupt
	}
	r := banRecord{until: int64(binary.BigEndian.Uint64(b[1:])), count: binary.BigEndian.Uint32(b[9:]), bits: b[13]}
	n := int(b[14])
	switch {
	case r.until <= 0, !validBanBits(r.bits), n > maxStrikes, len(b) != banRecordMin+n*strikeKeySize:
		return banRecord{}, ErrCorrupt
	}
	for i := range n {
		r.strikes = append(r.strikes, bytes.Clone(b[banRecordMin+i*strikeKeySize:banRecordMin+(i+1)*strikeKeySize]))
	}
	return r, nil
}

func validBanBits(bits uint8) bool {
	switch bits {
	case 0, 32, 64, 56, 48:
		return true
	}
	return false
}

// unmarshalBanV1 reads a format-1 ban plaintext, for the upgrade only.
func unmarshalBanV1(b []byte) (banRecord, error) {
	if len(b) != 13 || b[0] != recordVersion {
		return banRecord{}, ErrCorrupt
	}
	r := banRecord{until: int64(binary.BigEndian.Uint64(b[1:])), count: binary.BigEndian.Uint32(b[9:])}
	if r.until <= 0 {
		return banRecord{}, ErrCorrupt
	}
	return r, nil
}

// strikePlain is the whole plaintext of a strike record: what a strike says
// is in its key and its expiry.
var strikePlain = []byte{recordVersion}

// checkPlain is the plaintext of a key check record.
var checkPlain = []byte("parley key check v1")
