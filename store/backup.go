package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database to w from one read
// transaction (bbolt's Tx.WriteTo): the server keeps running and writing
// meanwhile. The copy is the database file as that transaction sees it:
// every record sealed, free pages included, and no key; it opens only with
// the master key, which must be kept apart from it.
//
// While the copy runs, bbolt cannot grow its memory map, and a write that
// needs a larger file waits: give Backup a fast writer (a local file), not
// a slow network peer.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// KeyID names the current master key (8 hex digits, derived from the key
// with its own label: it reveals nothing of the key). A backup opens with
// the key of this id.
func (s *Store) KeyID() string { return s.keys.current().id.String() }

// Restore puts the backup read from r in place of the database in
// cfg.Dir, and returns its size. It refuses while a process holds the
// database (ErrLocked), and replaces nothing unless the backup is a bbolt
// file that passes bbolt's consistency check (ErrBadBackup), of a format
// this code reads (ErrFutureFormat), that the configured keys open
// (ErrWrongKey; ErrMissingKey when there is no key: Restore never makes
// one). The backup is written beside the database, synced, checked, and
// renamed over it; the next Open upgrades it if it is of an older format.
func Restore(cfg Config, r io.Reader) (int64, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return 0, err
	}
	keys, err := restoreKeys(cfg)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return 0, fmt.Errorf("store: creating data dir: %w", err)
	}
	path := filepath.Join(cfg.Dir, DBName)
	unlock, err := lockPath(path, cfg.LockTimeout)
	if err != nil {
		return 0, err
	}
	replaced := false
	defer func() { unlock(replaced) }()

	tmp, err := os.CreateTemp(cfg.Dir, tempPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("store: restoring: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after the rename there is nothing left to remove
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("store: restoring: writing the backup: %w", err)
	}
	if err := checkBackup(name, keys); err != nil {
		return n, err
	}
	if err := os.Rename(name, path); err != nil {
		return n, fmt.Errorf("store: restoring: %w", err)
	}
	replaced = true
	if err := syncDir(cfg.Dir); err != nil {
		return n, fmt.Errorf("store: restoring: %w", err)
	}
	return n, nil
}

// restoreKeys loads the configured keys without ever generating one.
func restoreKeys(cfg Config) (*keyring, error) {
	var master []byte
	var err error
	if cfg.Key != "" {
		if master, err = parseKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("%w (Config.Key / PARLEY_KEY)", err)
		}
	} else if master, err = loadKeyFile(cfg.KeyFile); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s; put the key of the backup there or set PARLEY_KEY", ErrMissingKey, cfg.KeyFile)
	} else if err != nil {
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
	return newKeyring(master, old), nil
}

// CheckBackup checks a backup file without its key: as long as its meta
// page says, passing bbolt's consistency check, and holding parley data of
// a format this code reads, which it returns. Restore checks this and,
// with the key, that the key opens it.
func CheckBackup(path string) (format int, err error) {
	err = inspectBackup(path, func(db *bolt.DB, f formatInfo) error {
		format = int(f.version)
		return nil
	})
	return format, err
}

// checkBackup is CheckBackup and the key check of Open, writing nothing.
func checkBackup(name string, keys *keyring) error {
	return inspectBackup(name, func(db *bolt.DB, _ formatInfo) error {
		_, err := verifyKeys(db, keys)
		return err
	})
}

func inspectBackup(name string, then func(*bolt.DB, formatInfo) error) error {
	if err := checkComplete(name); err != nil {
		return err
	}
	db, err := bolt.Open(name, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() { // drained: the checker blocks otherwise
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	f, err := readFormat(db)
	switch {
	case err != nil:
		return err
	case f.version == 0:
		return fmt.Errorf("%w: it holds no parley data", ErrBadBackup)
	case f.version > FormatVersion:
		return fmt.Errorf("%w: the backup is format %d, this parley reads formats 1 to %d", ErrFutureFormat, f.version, FormatVersion)
	}
	return then(db, f)
}

// bbolt's meta page, as it lays it out on disk (stable since boltdb): a
// 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (16), the freelist page, the high-water page id
// and the transaction id (8 each), and an FNV-64a of all that.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltMetaOffset = 16
	boltMetaSum    = 56 // bytes the checksum covers
)

// checkComplete refuses a bbolt file shorter than its own meta page says:
// bbolt maps the file without checking, and a truncated backup (a disk
// that filled up during the copy) would crash the process reading it.
func checkComplete(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("store: restoring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: restoring: %w", err)
	}
	meta := func(off int64) (pageSize uint32, pages, txid uint64, ok bool) {
		b := make([]byte, boltMetaOffset+boltMetaSum+8)
		if _, err := f.ReadAt(b, off); err != nil {
			return 0, 0, 0, false
		}
		m := b[boltMetaOffset:]
		h := fnv.New64a()
		h.Write(m[:boltMetaSum])
		e := binary.NativeEndian
		if e.Uint32(m) != boltMagic || e.Uint32(m[4:]) != boltVersion || e.Uint64(m[boltMetaSum:]) != h.Sum64() {
			return 0, 0, 0, false
		}
		return e.Uint32(m[8:]), e.Uint64(m[40:]), e.Uint64(m[48:]), true
	}
	size0, pages0, tx0, ok0 := meta(0)
	second := int64(os.Getpagesize())
	if ok0 {
		second = int64(size0)
	}
	size1, pages1, tx1, ok1 := meta(second)
	size, pages := size0, pages0
	switch {
	case !ok0 && !ok1:
		return fmt.Errorf("%w: no valid bbolt meta page", ErrBadBackup)
	case !ok0 || ok1 && tx1 > tx0:
		size, pages = size1, pages1
	}
	if need := int64(pages) * int64(size); fi.Size() < need || size == 0 {
		return fmt.Errorf("%w: the file is %d bytes, its meta page says %d: truncated", ErrBadBackup, fi.Size(), need)
	}
	return nil
}
