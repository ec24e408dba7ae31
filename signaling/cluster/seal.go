package cluster

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// sealer seals what a node publishes with XChaCha20-Poly1305 under a key
// derived from the cluster's secret, with the subject as additional data:
// a message moved to another subject does not open.
type sealer struct {
	secret []byte
	aead   cipher.AEAD
}

func newSealer(secret []byte) *sealer {
	aead, err := chacha20poly1305.NewX(derive(secret, "parley/cluster/seal"))
	if err != nil {
		panic("cluster: chacha20poly1305: " + err.Error()) // the key is 32 bytes
	}
	return &sealer{secret: secret, aead: aead}
}

func derive(secret []byte, label string) []byte {
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(label)), out); err != nil {
		panic("cluster: hkdf: " + err.Error())
	}
	return out
}

func (s *sealer) seal(subject string, plain []byte) []byte {
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	_, _ = rand.Read(out)
	return s.aead.Seal(out, out[:chacha20poly1305.NonceSizeX], plain, []byte(subject))
}

func (s *sealer) open(subject string, sealed []byte) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrUnsealed
	}
	plain, err := s.aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], []byte(subject))
	if err != nil {
		return nil, ErrUnsealed
	}
	return plain, nil
}

// credentials are a user name and password every node derives alike.
func (s *sealer) credentials(role string) (user, pass string) {
	m := hmac.New(sha256.New, derive(s.secret, "parley/cluster/credentials"))
	m.Write([]byte(role))
	return "parley-" + role, base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// jetStreamKey is the key of JetStream's encryption at rest.
func (s *sealer) jetStreamKey() string {
	return hex.EncodeToString(derive(s.secret, "parley/cluster/jetstream"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
