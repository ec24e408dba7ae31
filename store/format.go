package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FormatVersion is the database format this code writes.
//
//   - Format 1 (no format record; parley up to commit 9b7f98c): bans keyed by
//     HMAC(prefix), reports by HMAC(target prefix) + HMAC(reporter prefix).
//   - Format 2: ban keys are memory-hard (bankey.go), reports keyed by ban
//     key + a two-byte reporter tag, IPv6 strikes (escalate.go), ban records
//     carry their width, and the meta bucket holds the format record.
const FormatVersion = 2

// Meta records that are not sealed: they must be read before the key is
// known to be right (a file from the future is refused whatever the key),
// and they hold a number and a flag, nothing about anyone.
//
// The format record's key starts with "check" on purpose: format-1 code
// takes every meta key with that prefix for a key check record and refuses
// to open a database with a malformed one. So an older parley started on
// an upgraded file stops with an error, instead of running with every ban
// and report under keys it cannot compute.
var (
	formatKey  = []byte("check-format")    // 4 bytes, big-endian format version
	compactKey = []byte("compact-pending") // present between an upgrade's commit and its compaction
)

func formatValue(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// tempPrefix starts the name of the files an upgrade or a restore writes
// beside the database before renaming them into place. Whoever holds the
// database's lock may delete leftovers of a crash.
const tempPrefix = "." + DBName + ".tmp-"

type formatInfo struct {
	version uint32 // 0: a new, empty file
	pending bool   // an upgrade committed but its compaction did not finish
}

func readFormat(db *bolt.DB) (formatInfo, error) {
	var f formatInfo
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v := meta.Get(formatKey)
		switch {
		case v == nil:
			f.version = 1
		case len(v) != 4 || binary.BigEndian.Uint32(v) < 2:
			return fmt.Errorf("%w: malformed format record", ErrCorrupt)
		default:
			f.version = binary.BigEndian.Uint32(v)
		}
		f.pending = meta.Get(compactKey) != nil
		return nil
	})
	return f, err
}

// oldRecord is a format-1 report or ban, read before the upgrade.
type oldRecord struct {
	key, value []byte
	ks         *keyset // the key that sealed it and derived its key; the current one for a record that fails to open
	plain      []byte  // nil when it failed to open
	expiry     int64
	indexed    bool // its header could be read, so it has an index entry
}

// hashJob is one memory-hard key the upgrade needs.
type hashJob struct {
	id keyID
	h  [32]byte
}

// upgrade moves a format-1 database to format 2 in one write transaction:
// bans and reports re-keyed (the memory-hard key over the stored HMAC, the
// reporter tag of the stored reporter HMAC), every session dropped (the
// session format changes, and sessions live an hour), the expiry index
// rebuilt, the format record and the compaction flag written. A crash
// leaves format 1 or format 2, never a mix; compact then rewrites the file
// so the old keys do not linger in free pages.
func (s *Store) upgrade(kc keyCheck) error {
	start := time.Now()
	var bans, reports []oldRecord
	sessions := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		read := func(name []byte) []oldRecord {
			var out []oldRecord
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				r := oldRecord{key: bytes.Clone(k), value: bytes.Clone(v), ks: s.keys.current()}
				if h, err := parseHeader(v); err == nil {
					r.expiry, r.indexed = h.expiry, true
				}
				if plain, h, err := s.keys.open(name, k, v); err == nil {
					r.plain, r.ks = plain, s.keys.byID[h.id]
				}
				out = append(out, r)
			}
			return out
		}
		bans, reports = read(bucketBans), read(bucketReports)
		if b := tx.Bucket(bucketSessions); b != nil {
			sessions = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: upgrading: %w", err)
	}
	keys, err := s.upgradeKeys(bans, reports)
	if err != nil {
		return err
	}
	var carried, merged int
	err = s.db.Update(func(tx *bolt.Tx) error {
		carried, merged = 0, 0
		for _, name := range [][]byte{bucketSessions, bucketReports, bucketBans, bucketExpiry} {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
		}
		if err := initTx(tx, s.keys.current(), kc); err != nil {
			return err
		}
		put := func(bucket []byte, r oldRecord, key, plain []byte) error {
			v := r.value // a record that failed to open moves as it is: it still fails, and is still reported
			if r.plain != nil {
				v = r.ks.seal(bucket, key, r.expiry, plain)
			} else {
				carried++
			}
			if err := tx.Bucket(bucket).Put(key, v); err != nil {
				return err
			}
			if !r.indexed {
				return nil
			}
			return tx.Bucket(bucketExpiry).Put(indexKey(r.expiry, bucket, key), []byte{})
		}
		for _, r := range bans {
			var plain []byte
			if rec, err := unmarshalBanV1(r.plain); r.plain != nil && err == nil {
				plain = rec.marshal() // width 0: a /32 or a /64, as it was
			} else {
				r.plain = nil // it opens but says nothing sound: carried over as it is, like one that fails to open
			}
			k := keys[hashJob{r.ks.id, [32]byte(r.key[:32])}]
			if err := put(bucketBans, r, k[:], plain); err != nil {
				return err
			}
		}
		for _, r := range reports {
			if len(r.key) != 64 {
				return fmt.Errorf("%w: a format-1 report key of %d bytes", ErrCorrupt, len(r.key))
			}
			k := keys[hashJob{r.ks.id, [32]byte(r.key[:32])}]
			tag := r.ks.tagOf(idPrefix, r.key[32:])
			key := append(k[:], tag[:]...)
			if tx.Bucket(bucketReports).Get(key) != nil {
				merged++ // two reporters, one tag: they count as one from now on
				continue
			}
			if err := put(bucketReports, r, key, r.plain); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(formatKey, formatValue(FormatVersion)); err != nil {
			return err
		}
		return meta.Put(compactKey, []byte{1})
	})
	if err != nil {
		return fmt.Errorf("store: upgrading from format 1: %w", err)
	}
	s.log.Info("store: upgraded the database from format 1 to 2", "bans", len(bans), "reports", len(reports)-merged,
		"sessions_dropped", sessions, "reporter_tags_merged", merged, "duration", time.Since(start).Round(time.Millisecond))
	if carried > 0 {
		s.log.Warn("store: records that failed to open were carried over as they were", "records", carried)
	}
	return nil
}

// upgradeKeys computes the memory-hard key of every distinct format-1 key,
// on every core.
func (s *Store) upgradeKeys(bans, reports []oldRecord) (map[hashJob]banKey, error) {
	jobs := map[hashJob]*keyset{}
	for _, list := range [][]oldRecord{bans, reports} {
		for _, r := range list {
			if len(r.key) < 32 {
				return nil, fmt.Errorf("%w: a format-1 key of %d bytes", ErrCorrupt, len(r.key))
			}
			jobs[hashJob{r.ks.id, [32]byte(r.key[:32])}] = r.ks
		}
	}
	out := make(map[hashJob]banKey, len(jobs))
	var mu sync.Mutex
	work := make(chan hashJob)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range work {
				k := jobs[j].banKeyOfHash(j.h[:])
				mu.Lock()
				out[j] = k
				mu.Unlock()
			}
		})
	}
	for j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	return out, nil
}

// compact rewrites the database into a new file with bbolt's Compact, which
// copies only live records: what the upgrade replaced (format 1's HMAC keys
// in records and index entries) is left behind in the old file's free
// pages. The new file is synced, renamed over the old one and the directory
// synced; a crash before the rename leaves the old file, whose compaction
// flag makes the next Open compact again.
func (s *Store) compact() error {
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("store: compacting: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name) // after the rename there is nothing left to remove
	dst, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("store: compacting: %w", err)
	}
	err = bolt.Compact(dst, s.db, 4<<20)
	if err == nil {
		err = dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(compactKey) })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(name)
	}
	if err == nil {
		err = os.Rename(name, s.path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("store: compacting: %w", err)
	}
	// The new file is opened before the old one's lock is let go: a process
	// waiting for that lock then finds the name moved on (openBolt).
	db, err := openBolt(s.path, s.cfg.LockTimeout)
	if err != nil {
		return err
	}
	s.db.Close()
	s.db = db
	s.log.Info("store: compacted the database")
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeTemps deletes what a crashed upgrade or restore left in dir. Only
// the holder of the database's lock calls it.
func removeTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
