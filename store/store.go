// Package store keeps parley's sealed session, report and ban records in one bbolt file.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. The expiry index holds no values; every other bucket holds
// only sealed values (see seal.go).
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	bucketReports  = []byte("reports")
	bucketBans     = []byte("bans")
	bucketExpiry   = []byte("expiry")
	bucketStrikes  = []byte("strikes") // format 2: bans on wider IPv6 prefixes in the making (escalate.go)
	bucketRooms    = []byte("rooms")   // group rooms, keyed by a keyed hash of their secret (room.go)

	// The helpline's (staff.go, contact.go, hlblock.go, audit.go).
	bucketStaff       = []byte("staff")
	bucketInvites     = []byte("invites")
	bucketContacts    = []byte("contacts")
	bucketContactKeys = []byte("contact-keys")
	bucketHLBlocks    = []byte("helpline-blocks")
	bucketAudit       = []byte("audit")

	allBuckets = [][]byte{bucketMeta, bucketSessions, bucketReports, bucketBans, bucketExpiry, bucketStrikes, bucketRooms,
		bucketStaff, bucketInvites, bucketContacts, bucketContactKeys, bucketHLBlocks, bucketAudit}
	dataBuckets = [][]byte{bucketSessions, bucketReports, bucketBans, bucketStrikes, bucketRooms,
		bucketStaff, bucketInvites, bucketContacts, bucketContactKeys, bucketHLBlocks, bucketAudit}
)

// checkPrefix starts the meta key of a key check record: "check" + key id.
var checkPrefix = []byte("check")

func checkKey(id keyID) []byte { return append(append([]byte{}, checkPrefix...), id[:]...) }

// Store is the bbolt database. It is safe for concurrent use.
type Store struct {
	cfg  Config
	db   *bolt.DB
	keys *keyring
	log  *slog.Logger
	path string

	// sweepChunk bounds the records one sweep write transaction deletes;
	// sweepCollect bounds the due index keys held in memory at once.
	sweepChunk, sweepCollect int

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	retireMu   sync.Mutex // guards nextRetire
	nextRetire time.Time  // when Sweep next looks for old keys no record uses

	bans     *banSet   // every ban, in memory (banset.go)
	keyCache *keyCache // prefix -> ban key, in memory (bankey.go)
	// liftMu orders LiftBan against Report: a report holds it shared from
	// its commit until its change reaches the ban set, a lift holds it
	// alone, so the set never misses a lift or resurrects a lifted ban.
	liftMu sync.RWMutex

	st counters

	replMu sync.Mutex  // guards repl
	repl   *replicator // set while this node's records are handed on
}

// Open opens (or creates) the database in cfg.Dir, loading or generating
// the master key first. It refuses to start with a wrong, short or missing
// key, and returns ErrLocked within cfg.LockTimeout if another process has
// the database open. A database of a newer format is refused
// (ErrFutureFormat) and left as it is; an older one is upgraded (format.go).
func Open(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating data dir: %w", err)
	}
	path := filepath.Join(cfg.Dir, DBName)
	master, err := loadMaster(cfg, path)
	if err != nil {
		return nil, err
	}
	var old [][]byte
	for i, text := range cfg.OldKeys {
		k, err := parseKey(text)
		if err != nil {
			return nil, fmt.Errorf("%w (OldKeys[%d])", err, i)
		}
		old = append(old, k)
	}
	db, err := openBolt(path, cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	s := build(cfg, db, newKeyring(master, old))
	if err := s.prepare(); err != nil {
		s.db.Close()
		return nil, err
	}
	s.db.MaxBatchDelay = cfg.BatchDelay
	if err := s.retireOldKeys(); err != nil {
		s.log.Warn("store: looking for unused old keys failed", "err", err)
	}
	s.log.Info("store opened", "path", path, "format", FormatVersion, "key_id", s.keys.current().id.String(), "old_keys", len(s.keys.keys)-1, "bans", len(s.bans.bans))
	return s, nil
}

func build(cfg Config, db *bolt.DB, keys *keyring) *Store {
	return &Store{
		cfg:          cfg,
		db:           db,
		keys:         keys,
		log:          cfg.Logger,
		path:         db.Path(),
		sweepChunk:   256,
		sweepCollect: 16384,
		bans:         newBanSet(),
		keyCache:     newKeyCache(cfg.BanKeyCache),
	}
}

// prepare brings an open database to the current format: it checks the
// format and the keys before it writes anything, initialises a new file,
// upgrades an old one (format.go), finishes a compaction a crash
// interrupted, and loads the bans into memory.
func (s *Store) prepare() error {
	removeTemps(filepath.Dir(s.path))
	f, err := readFormat(s.db)
	if err != nil {
		return err
	}
	if f.version > FormatVersion {
		return fmt.Errorf("%w: %s is format %d, this parley reads formats 1 to %d; run a newer parley or restore a backup of format %d or older",
			ErrFutureFormat, s.path, f.version, FormatVersion, FormatVersion)
	}
	kc, err := verifyKeys(s.db, s.keys)
	if err != nil {
		return err
	}
	s.dropUnusedOldKeys(kc)
	if f.version == 1 {
		if err := s.upgrade(kc); err != nil {
			return err
		}
		f.pending = true
	} else if err := s.initKeys(kc, f.version == 0); err != nil {
		return err
	}
	if f.pending {
		if err := s.compact(); err != nil {
			return err
		}
	}
	return s.db.View(func(tx *bolt.Tx) error {
		s.loadBans(tx)
		return nil
	})
}

// openBolt opens the bbolt file at path, waiting up to timeout for its
// lock. A file replaced while this process waited (an upgrade's compaction
// or a restore renames a new file into place while holding the old one's
// lock) is let go and the new one opened, so that two processes never use
// two different files of one name.
func openBolt(path string, timeout time.Duration) (*bolt.DB, error) {
	for range 5 {
		var f *os.File
		opts := &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType,
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				fh, err := os.OpenFile(name, flag, mode)
				if f == nil { // the database itself; later calls are Tx.WriteTo's own reads
					f = fh
					if testHookOpened != nil {
						testHookOpened()
					}
				}
				return fh, err
			}}
		db, err := bolt.Open(path, 0o600, opts)
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
		}
		if err != nil {
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		if sameFile(f, path) {
			return db, nil
		}
		db.Close()
	}
	return nil, fmt.Errorf("store: opening %s: the file keeps being replaced", path)
}

// testHookOpened, when set by a test, runs when openBolt has opened a file
// and before it waits for the file's lock.
var testHookOpened func()

func sameFile(f *os.File, path string) bool {
	if f == nil {
		return false
	}
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// loadMaster finds the master key: Config.Key, else the key file, else (only
// when no database exists yet) a newly generated key file.
func loadMaster(cfg Config, dbPath string) ([]byte, error) {
	if cfg.Key != "" {
		k, err := parseKey(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("%w (Config.Key / PARLEY_KEY)", err)
		}
		return k, nil
	}
	k, err := loadKeyFile(cfg.KeyFile)
	if err == nil {
		if fi, serr := os.Stat(cfg.KeyFile); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			cfg.Logger.Warn("store: key file is readable by others; chmod 600 it", "path", cfg.KeyFile)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, ErrShortKey) || errors.Is(err, ErrBadKey) {
			return nil, err
		}
		return nil, fmt.Errorf("store: reading key file: %w", err)
	}
	if _, serr := os.Lstat(dbPath); serr == nil {
		return nil, fmt.Errorf("%w at %s; restore the key file or set PARLEY_KEY", ErrMissingKey, cfg.KeyFile)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: %w", serr)
	}
	k, err = createKeyFile(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("store: generated a new key file; back it up apart from the database", "path", cfg.KeyFile)
	return k, nil
}

// keyCheck is what verifyKeys learnt of a database.
type keyCheck struct {
	found         map[keyID]bool // key ids with a check record that opened
	missingBucket bool
}

// verifyKeys proves the keys open a database before anything is written.
// Each master key that ever sealed a record has a check record in meta;
// every one of them must be matched by a key given, and open with it. It
// only reads.
func verifyKeys(db *bolt.DB, keys *keyring) (keyCheck, error) {
	kc := keyCheck{found: map[keyID]bool{}}
	var unknown []keyID
	var hasData bool
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				kc.missingBucket = true
			}
		}
		for _, name := range dataBuckets {
			if b := tx.Bucket(name); b != nil {
				if k, _ := b.Cursor().First(); k != nil {
					hasData = true
				}
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		c := meta.Cursor()
		for k, v := c.Seek(checkPrefix); k != nil && bytes.HasPrefix(k, checkPrefix); k, v = c.Next() {
			if bytes.Equal(k, formatKey) {
				continue
			}
			if len(k) != len(checkPrefix)+keyIDSize {
				return fmt.Errorf("%w: malformed key check record", ErrCorrupt)
			}
			var id keyID
			copy(id[:], k[len(checkPrefix):])
			if keys.byID[id] == nil {
				unknown = append(unknown, id)
				continue
			}
			plain, h, err := keys.open(bucketMeta, k, v)
			if err != nil || h.id != id || !bytes.Equal(plain, checkPlain) {
				return fmt.Errorf("%w: the key check for key id %s failed", ErrWrongKey, id)
			}
			kc.found[id] = true
		}
		return nil
	})
	if err != nil {
		return kc, err
	}
	cur := keys.current()
	switch {
	case len(unknown) > 0 && !kc.found[cur.id]:
		return kc, fmt.Errorf("%w (key id %s; the database needs key id(s) %v)", ErrWrongKey, cur.id, unknown)
	case len(unknown) > 0:
		return kc, fmt.Errorf("%w: records sealed under key id(s) %v remain; give that key in OldKeys until they expire", ErrWrongKey, unknown)
	case len(kc.found) == 0 && hasData:
		return kc, fmt.Errorf("%w: the database has records but no key check", ErrCorrupt)
	}
	return kc, nil
}

// dropUnusedOldKeys forgets old keys this database never used: each would
// only cost lookups.
func (s *Store) dropUnusedOldKeys(kc keyCheck) {
	kept := s.keys.keys[:1]
	for _, ks := range s.keys.keys[1:] {
		if kc.found[ks.id] {
			kept = append(kept, ks)
			continue
		}
		delete(s.keys.byID, ks.id)
		s.log.Warn("store: an old key is not used by this database; ignoring it", "key_id", ks.id.String())
	}
	s.keys.keys = kept
}

// initKeys creates what a database of the current format needs and is
// missing: the buckets, the current key's check record (first run or
// rotation) and, on a new file, the format record.
func (s *Store) initKeys(kc keyCheck, fresh bool) error {
	cur := s.keys.current()
	if kc.found[cur.id] && !kc.missingBucket && !fresh {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := initTx(tx, cur, kc); err != nil {
			return err
		}
		if fresh {
			return tx.Bucket(bucketMeta).Put(formatKey, formatValue(FormatVersion))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: initialising database: %w", err)
	}
	if len(kc.found) > 0 && !kc.found[cur.id] {
		s.log.Info("store: key rotated; old keys stay needed until their records expire", "key_id", cur.id.String())
	}
	return nil
}

// initTx creates the missing buckets and the current key's check record.
func initTx(tx *bolt.Tx, cur *keyset, kc keyCheck) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if kc.found[cur.id] {
		return nil
	}
	k := checkKey(cur.id)
	return tx.Bucket(bucketMeta).Put(k, cur.seal(bucketMeta, k, 0, checkPlain))
}

// retireOldKeys drops the check record of every old key that no record is
// sealed under any more, so that later starts no longer need that key.
func (s *Store) retireOldKeys() error {
	if len(s.keys.keys) < 2 {
		return nil
	}
	inUse := map[keyID]bool{}
	var candidates []keyID
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, ks := range s.keys.keys[1:] {
			if meta.Get(checkKey(ks.id)) != nil {
				candidates = append(candidates, ks.id)
			}
		}
		if len(candidates) == 0 {
			return nil
		}
		for _, name := range dataBuckets {
			c := tx.Bucket(name).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if h, err := parseHeader(v); err == nil {
					inUse[h.id] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var retire []keyID
	for _, id := range candidates {
		if !inUse[id] {
			retire = append(retire, id)
		}
	}
	if len(retire) == 0 {
		return nil
	}
	// No record can be sealed under an old key meanwhile: writes use the
	// current key only.
	err = s.mapErr(s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range retire {
			if err := tx.Bucket(bucketMeta).Delete(checkKey(id)); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		return err
	}
	for _, id := range retire {
		s.log.Info("store: an old key is no longer needed; it may be removed from OldKeys", "key_id", id.String())
	}
	return nil
}

// Close closes the database. It is idempotent: later calls return nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.StopReplicating()
		s.closed.Store(true)
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Ping returns nil while the store is open and ErrClosed after Close.
func (s *Store) Ping() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Subkey returns a 32-byte HKDF-SHA256 subkey of the current master key for
// label (e.g. "turn-rest"). Labels are separate from the store's own, so a
// subkey never equals a key the store uses.
func (s *Store) Subkey(label string) []byte { return s.keys.current().subkey(label) }

func (s *Store) mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.mapErr(s.db.View(fn))
}

// write runs fn in a bbolt batch, so that concurrent writers share one
// fsync. fn may run more than once (bbolt retries a batch without a failed
// call): it must only touch the transaction and reset what it reports.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	start := time.Now()
	err := s.mapErr(s.db.Batch(fn))
	s.st.write(time.Since(start), err)
	return err
}

// openRecord authenticates and decrypts a record, counting failures.
func (s *Store) openRecord(bucket, key, v []byte) ([]byte, header, error) {
	plain, h, err := s.keys.open(bucket, key, v)
	if err != nil {
		s.st.corrupt.Add(1)
	}
	return plain, h, err
}
