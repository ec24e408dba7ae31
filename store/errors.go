package store

import "errors"

// Sentinel errors. Every error the store returns wraps one of these, and
// none of them ever carries an address, a token, a name or key material:
// callers may log them as they are.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("store: invalid config")
	// ErrLocked means another process holds the database file open.
	ErrLocked = errors.New("store: database is locked by another parley process")
	// ErrMissingKey means the database exists but neither Config.Key nor
	// the key file is there. The store never generates a new key beside an
	// existing database: the old records could never be opened again.
	ErrMissingKey = errors.New("store: the database exists but no key was found")
	// ErrShortKey means a key decodes to fewer than MinKeySize bytes.
	ErrShortKey = errors.New("store: key is shorter than 32 bytes")
	// ErrBadKey means a key is neither hex nor base64.
	ErrBadKey = errors.New("store: key is neither hex nor base64")
	// ErrWrongKey means the keys given do not open this database: a wrong
	// key, or a retired key still needed for records that have not expired.
	ErrWrongKey = errors.New("store: the key does not open this database")
	// ErrCorrupt means a stored record failed to open: a flipped bit, a
	// value moved under another key or bucket, or a truncated record. Such a
	// record is reported, never replaced and never swept.
	ErrCorrupt = errors.New("store: a stored record failed to open (corrupt or tampered)")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound means there is no such session or ban (or it has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrBadBanKey means a ban key is not 64 lower-case hex digits.
	ErrBadBanKey = errors.New("store: malformed ban key")
	// ErrBadAddr means an address is the zero netip.Addr.
	ErrBadAddr = errors.New("store: invalid address")
	// ErrBadReason means a report reason is not one of Reasons.
	ErrBadReason = errors.New("store: unknown report reason")
	// ErrBadTime means a zero or pre-1970 time where a real one is needed.
	ErrBadTime = errors.New("store: invalid time")
	// ErrFutureFormat means the database was written by a newer parley, in
	// a format this one does not know; the file is left as it is.
	ErrFutureFormat = errors.New("store: the database was written in a newer format")
	// ErrBadBackup means a backup given to Restore is not a bbolt file
	// that passes its consistency check.
	ErrBadBackup = errors.New("store: the backup is not a readable parley database")
	// ErrBadRoom means a nil room, one without an id, or a malformed key.
	ErrBadRoom = errors.New("store: invalid room")
	// ErrBadSession means a nil session or one that cannot be stored.
	ErrBadSession = errors.New("store: invalid session")
	// ErrBadStaff, ErrBadInvite, ErrBadContact, ErrBadBlock and ErrBadAudit
	// mean a helpline record that cannot be stored as given.
	ErrBadStaff   = errors.New("store: invalid staff record")
	ErrBadInvite  = errors.New("store: invalid invite")
	ErrBadContact = errors.New("store: invalid contact record")
	ErrBadBlock   = errors.New("store: invalid helpline block")
	ErrBadAudit   = errors.New("store: invalid audit entry")
)
