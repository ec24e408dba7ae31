package proto

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"math/bits"
	"strconv"
)

// The proof of work a session does before its first join, instead of a
// captcha (docs/PROTOCOL.md, "Proof of work"). The server hands out a
// challenge; for each of its parts the client finds a nonce such that
//
//	SHA-256(id ":" part ":" nonce)
//
// in ASCII, part and nonce in decimal, begins with bits zero bits. Each part
// costs 2^bits hashes on average; several small parts instead of one big one
// make the time it takes less of a lottery. The input is at most 36 bytes,
// one block of SHA-256.

// Bounds on a challenge's shape, checked before anything is hashed.
const (
	PowIDLength = 22 // base64url of 16 random bytes
	MaxPowBits  = 32
	MaxPowParts = 16
	powMACLen   = 43 // base64url of an HMAC-SHA-256
)

// PowChallenge is a challenge as the server hands it out. Expires (Unix
// seconds) and MAC let the server check it without having stored it.
type PowChallenge struct {
	ID      string `json:"id"`
	Bits    int    `json:"bits"`
	Parts   int    `json:"parts"`
	Expires int64  `json:"expires"`
	MAC     string `json:"mac"`
}

// PowSolution is the challenge sent back with a nonce for each part.
type PowSolution struct {
	PowChallenge
	Nonces []uint32 `json:"nonces"`
}

// PowError refuses a join for its proof of work (ErrPowRequired or
// ErrBadPow) and carries a fresh challenge, which ErrorFrame sends along.
type PowError struct {
	Err       error
	Challenge *PowChallenge
}

func (e *PowError) Error() string { return e.Err.Error() }
func (e *PowError) Unwrap() error { return e.Err }

// check refuses a solution of the wrong shape before the server spends
// anything on it.
func (s *PowSolution) check() error {
	if len(s.ID) != PowIDLength || len(s.MAC) != powMACLen || s.Bits < 1 || s.Bits > MaxPowBits ||
		s.Parts < 1 || s.Parts > MaxPowParts || len(s.Nonces) != s.Parts {
		return ErrBadPow
	}
	if _, err := base64.RawURLEncoding.DecodeString(s.ID); err != nil {
		return ErrBadPow
	}
	return nil
}

// powInput appends the hashed input of a part and nonce to b.
func powInput(b []byte, id string, part int, nonce uint32) []byte {
	b = append(b, id...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(part), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(nonce), 10)
}

// leadingZeros counts the zero bits a digest begins with.
func leadingZeros(d *[32]byte) int {
	n := 0
	for _, c := range d {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// PowPartOK reports whether nonce solves part of the challenge with id at
// the given difficulty.
func PowPartOK(id string, bitsWanted, part int, nonce uint32) bool {
	var buf [64]byte
	d := sha256.Sum256(powInput(buf[:0], id, part, nonce))
	return leadingZeros(&d) >= bitsWanted
}

// SolvePow finds the nonces of a challenge, the way every client must: the
// smallest nonce of each part. It stops with ctx's error when ctx ends.
func SolvePow(ctx context.Context, c *PowChallenge) (*PowSolution, error) {
	s := &PowSolution{PowChallenge: *c, Nonces: make([]uint32, c.Parts)}
	var buf [64]byte
	for part := range c.Parts {
		for nonce := uint32(0); ; nonce++ {
			if nonce%4096 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			d := sha256.Sum256(powInput(buf[:0], c.ID, part, nonce))
			if leadingZeros(&d) >= c.Bits {
				s.Nonces[part] = nonce
				break
			}
			if nonce == ^uint32(0) {
				return nil, ErrBadPow // unsolvable: 2^32 nonces are far more than any difficulty needs
			}
		}
	}
	return s, nil
}
