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

	allBuckets  = [][]byte{bucketMeta, bucketSessions, bucketReports, bucketBans, bucketExpiry}
	dataBuckets = [][]byte{bucketSessions, bucketReports, bucketBans}
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

	st counters
}

// Open opens (or creates) the database in cfg.Dir, loading or generating
// the master key first. It refuses to start with a wrong, short or missing
// key, and returns ErrLocked within cfg.LockTimeout if another process has
// the database open.
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
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	db.MaxBatchDelay = cfg.BatchDelay
	s := &Store{
		cfg:          cfg,
		db:           db,
		keys:         newKeyring(master, old),
		log:          cfg.Logger,
		path:         path,
		sweepChunk:   256,
		sweepCollect: 16384,
	}
	if err := s.checkKeys(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.retireOldKeys(); err != nil {
		s.log.Warn("store: looking for unused old keys failed", "err", err)
	}
	s.log.Info("store opened", "path", path, "key_id", s.keys.current().id.String(), "old_keys", len(s.keys.keys)-1)
	return s, nil
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

// checkKeys proves the keys open this database before anything is written.
// Each master key that ever sealed a record has a check record in meta; every
// one of them must be matched by a key given, and open with it. Only then is
// the current key's own check record added (first run or rotation). Nothing
// at all is written when the check fails.
func (s *Store) checkKeys() error {
	found := map[keyID]bool{}
	var unknown []keyID
	var hasData, missingBucket bool
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				missingBucket = true
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
			if len(k) != len(checkPrefix)+keyIDSize {
				return fmt.Errorf("%w: malformed key check record", ErrCorrupt)
			}
			var id keyID
			copy(id[:], k[len(checkPrefix):])
			if s.keys.byID[id] == nil {
				unknown = append(unknown, id)
				continue
			}
			plain, h, err := s.keys.open(bucketMeta, k, v)
			if err != nil || h.id != id || !bytes.Equal(plain, checkPlain) {
				return fmt.Errorf("%w: the key check for key id %s failed", ErrWrongKey, id)
			}
			found[id] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	cur := s.keys.current()
	switch {
	case len(unknown) > 0 && !found[cur.id]:
		return fmt.Errorf("%w (key id %s; the database needs key id(s) %v)", ErrWrongKey, cur.id, unknown)
	case len(unknown) > 0:
		return fmt.Errorf("%w: records sealed under key id(s) %v remain; give that key in OldKeys until they expire", ErrWrongKey, unknown)
	case len(found) == 0 && hasData:
		return fmt.Errorf("%w: the database has records but no key check", ErrCorrupt)
	}
	// Old keys this database never used only cost HMACs on every lookup.
	kept := s.keys.keys[:1]
	for _, ks := range s.keys.keys[1:] {
		if found[ks.id] {
			kept = append(kept, ks)
			continue
		}
		delete(s.keys.byID, ks.id)
		s.log.Warn("store: an old key is not used by this database; ignoring it", "key_id", ks.id.String())
	}
	s.keys.keys = kept
	if found[cur.id] && !missingBucket {
		return nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if found[cur.id] {
			return nil
		}
		k := checkKey(cur.id)
		return tx.Bucket(bucketMeta).Put(k, cur.seal(bucketMeta, k, 0, checkPlain))
	})
	if err != nil {
		return fmt.Errorf("store: initialising database: %w", err)
	}
	if len(found) > 0 && !found[cur.id] {
		s.log.Info("store: key rotated; old keys stay needed until their records expire", "key_id", cur.id.String())
	}
	return nil
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
