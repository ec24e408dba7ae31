package store

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// MinKeySize is the shortest master key accepted, in bytes.
const MinKeySize = 32

// keyIDSize is the length of the key id that prefixes every sealed value.
const keyIDSize = 4

// HKDF info labels. Each subkey has its own, so no two uses of the master
// key share key material; Subkey's labels live under their own prefix and
// cannot collide with these.
const (
	infoKeyID       = "parley/v1/key-id"
	infoSeal        = "parley/v1/seal"
	infoSession     = "parley/v1/session-id"
	infoSessionSeal = "parley/v2/session-seal"
	infoAddress     = "parley/v1/address"
	infoSubkey      = "parley/v1/subkey/"
	// Format 2: the salt of memory-hard ban keys and the key of reporter
	// and strike tags (bankey.go).
	infoBanSalt = "parley/v2/ban-salt"
	infoTag     = "parley/v2/tag"
	// Group rooms: the key of a room's record is an HMAC of its secret,
	// and its members' session IDs are kept as HMACs too (room.go).
	infoRoom = "parley/v2/room"
)

// keyID names a master key inside sealed values. It is derived from the key
// with its own HKDF label, so it reveals nothing about the key.
type keyID [keyIDSize]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

// keyset is everything derived from one master key.
type keyset struct {
	id      keyID
	master  []byte
	aead    cipher.AEAD // XChaCha20-Poly1305 under the seal subkey
	session []byte      // HMAC key for session record keys
	// sessionSeal is HMACed with a token into the key that seals that
	// session's record: without the token it opens nothing.
	sessionSeal []byte
	address     []byte // HMAC key for address prefixes
	banSalt     []byte // Argon2id salt of ban keys (16 bytes)
	tag         []byte // HMAC key for reporter and strike tags
	room        []byte // HMAC key for room secrets and member IDs
}

func derive(master []byte, info string) []byte {
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte(info)), out); err != nil {
		panic("store: hkdf: " + err.Error()) // only fails past 255*32 bytes of output
	}
	return out
}

func newKeyset(master []byte) *keyset {
	ks := &keyset{
		master:      master,
		session:     derive(master, infoSession),
		sessionSeal: derive(master, infoSessionSeal),
		address:     derive(master, infoAddress),
		banSalt:     derive(master, infoBanSalt)[:16],
		tag:         derive(master, infoTag),
		room:        derive(master, infoRoom),
	}
	copy(ks.id[:], derive(master, infoKeyID))
	aead, err := chacha20poly1305.NewX(derive(master, infoSeal))
	if err != nil {
		panic("store: chacha20poly1305: " + err.Error()) // the key is always 32 bytes
	}
	ks.aead = aead
	return ks
}

func (ks *keyset) subkey(label string) []byte { return derive(ks.master, infoSubkey+label) }

// parseKey decodes a master key given as text. Hex is tried first when the
// text is only hex digits of even length (a base64 key of 32 random bytes
// practically never is), then base64 in the standard and URL alphabets,
// padded or not. Errors never quote the text.
func parseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, ErrShortKey
	}
	var key []byte
	if isHex(text) {
		key, _ = hex.DecodeString(text)
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(text); err == nil {
				key = b
				break
			}
		}
		if key == nil {
			return nil, ErrBadKey
		}
	}
	if len(key) < MinKeySize {
		return nil, ErrShortKey
	}
	return key, nil
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// loadKeyFile reads the key file. It returns fs.ErrNotExist (wrapped) when
// the file is missing.
func loadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (key file %s)", err, path)
	}
	return key, nil
}

// createKeyFile generates the key file at path and returns its key. If
// another process created it first, that file's key is returned instead.
//
// The key file holds one line: the standard base64 (with padding) of 32
// bytes from crypto/rand, then a newline (45 bytes in all). Any text that
// Config.Key accepts (hex, or base64 in either alphabet, of at least 32
// bytes) may be put there instead. The file lives outside the database and
// must be backed up apart from it: without it the database cannot be
// opened, and Open refuses to start (ErrMissingKey) rather than generate a
// new key beside an existing database.
//
// It is generated only on a first run, when the database does not exist
// yet: written to a temporary file with mode 0600 and fsynced, then linked
// into place (link fails if the name exists, so two first runs racing never
// replace each other's key), and the directory fsynced.
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: key file directory: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: generating key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".parley.key.*")
	if err != nil {
		return nil, fmt.Errorf("store: writing key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	line := base64.StdEncoding.EncodeToString(key) + "\n"
	_, err = tmp.WriteString(line)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: writing key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadKeyFile(path)
		}
		return nil, fmt.Errorf("store: writing key file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("store: writing key file: %w", err)
	}
	return key, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
