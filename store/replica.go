package store

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Replication between the nodes of a cluster (signaling/cluster): the node
// that leads writes, every other node keeps a copy. What travels is the
// record exactly as stored, sealed: a session under its token, everything
// else under the master key, which all nodes share. Nothing is unsealed on
// its way or at rest on another node.
//
// It is state-based: a commit marks the keys it changed, and a replicator
// reads each marked key's value as it is now and hands that on. Commits
// may run their handlers out of order; reading the current value makes
// that harmless, since whatever a key was last handed on as is at least as
// new as every change marked before it.

// Op is the state of one record: its bucket, key and sealed value, or a
// nil value when the record is gone.
type Op struct {
	Bucket string
	Key    []byte
	Value  []byte
}

// replicatedBuckets are the buckets whose records travel. The expiry index
// is derived from each value's header; meta is each node's own.
var replicatedBuckets = [][]byte{bucketSessions, bucketReports, bucketBans, bucketStrikes, bucketRooms}

// replicators maps an open database to its replicator, so that the record
// helpers, which see only a transaction, can mark what they change.
var replicators sync.Map // *bolt.DB -> *replicator

// changed marks bucket/key for replication once tx commits.
func changed(tx *bolt.Tx, bucket, key []byte) {
	r, ok := replicators.Load(tx.DB())
	if !ok {
		return
	}
	k := string(bucket) + "\x00" + string(key)
	tx.OnCommit(func() { r.(*replicator).mark(k) })
}

type replicator struct {
	s    *Store
	send func([]Op) error
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex // guards dirty
	dirty map[string]struct{}
}

// Replicate hands on, from now on, every record a commit changes: send is
// called off the write path with the records' current states, in batches;
// a batch it fails is tried again. All records are handed on once first,
// so a node that starts to replicate after others wrote brings them up to
// date. Stop it with StopReplicating.
func (s *Store) Replicate(send func([]Op) error) {
	s.StopReplicating()
	r := &replicator{s: s, send: send, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), dirty: map[string]struct{}{}}
	s.replMu.Lock()
	s.repl = r
	s.replMu.Unlock()
	replicators.Store(s.db, r)
	_ = s.view(func(tx *bolt.Tx) error {
		for _, b := range replicatedBuckets {
			_ = tx.Bucket(b).ForEach(func(k, _ []byte) error {
				r.dirty[string(b)+"\x00"+string(k)] = struct{}{}
				return nil
			})
		}
		return nil
	})
	r.poke()
	go r.run()
}

// StopReplicating stops handing records on (a node that no longer leads).
func (s *Store) StopReplicating() {
	s.replMu.Lock()
	r := s.repl
	s.repl = nil
	s.replMu.Unlock()
	if r == nil {
		return
	}
	replicators.Delete(s.db)
	close(r.stop)
	<-r.done
}

func (r *replicator) mark(k string) {
	r.mu.Lock()
	r.dirty[k] = struct{}{}
	r.mu.Unlock()
	r.poke()
}

func (r *replicator) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

const replicaBatch = 256

func (r *replicator) run() {
	defer close(r.done)
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		}
		r.mu.Lock()
		keys := make([]string, 0, len(r.dirty))
		for k := range r.dirty {
			keys = append(keys, k)
		}
		r.dirty = map[string]struct{}{}
		r.mu.Unlock()
		for len(keys) > 0 {
			n := min(len(keys), replicaBatch)
			ops := r.read(keys[:n])
			if err := r.send(ops); err != nil {
				r.s.log.Warn("store: replicating records failed; will retry", "err", err, "records", len(ops))
				r.mu.Lock()
				for _, k := range keys {
					r.dirty[k] = struct{}{}
				}
				r.mu.Unlock()
				select {
				case <-r.stop:
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				r.poke()
				break
			}
			backoff = 50 * time.Millisecond
			keys = keys[n:]
		}
	}
}

// read returns the current state of each marked record.
func (r *replicator) read(keys []string) []Op {
	ops := make([]Op, 0, len(keys))
	_ = r.s.view(func(tx *bolt.Tx) error {
		for _, k := range keys {
			i := bytes.IndexByte([]byte(k), 0)
			bucket, key := k[:i], []byte(k[i+1:])
			op := Op{Bucket: bucket, Key: key}
			if b := tx.Bucket([]byte(bucket)); b != nil {
				if v := b.Get(key); v != nil {
					op.Value = bytes.Clone(v)
				}
			}
			ops = append(ops, op)
		}
		return nil
	})
	return ops
}

// Apply writes records another node handed on: as they are, sealed, with
// their expiry index entries; a nil value deletes. The ban set follows the
// bans bucket, so a ban made on one node refuses connections here at once.
// A value that does not parse as a sealed record is refused; one that does
// not open (sealed under a key this node lacks) is stored all the same,
// as the node that wrote it stored it.
func (s *Store) Apply(ops []Op) error {
	for _, op := range ops {
		if !replicated(op.Bucket) || len(op.Key) == 0 || len(op.Key) > 512 {
			return fmt.Errorf("%w: a replicated record of bucket %q", ErrCorrupt, op.Bucket)
		}
		if op.Value != nil {
			if _, err := parseHeader(op.Value); err != nil {
				return fmt.Errorf("%w: a replicated record", ErrCorrupt)
			}
		}
	}
	return s.write(func(tx *bolt.Tx) error {
		for _, op := range ops {
			bucket := []byte(op.Bucket)
			if op.Value == nil {
				if _, err := deleteRecord(tx, bucket, op.Key); err != nil {
					return err
				}
				continue
			}
			h, _ := parseHeader(op.Value)
			if err := putRecord(tx, bucket, op.Key, op.Value, h.expiry); err != nil {
				return err
			}
		}
		tx.OnCommit(func() { s.applyBans(ops) })
		return nil
	})
}

func replicated(bucket string) bool {
	for _, b := range replicatedBuckets {
		if string(b) == bucket {
			return true
		}
	}
	return false
}

// applyBans brings the ban set in line with replicated ban records.
func (s *Store) applyBans(ops []Op) {
	for _, op := range ops {
		if op.Bucket != string(bucketBans) || len(op.Key) != banKeySize {
			continue
		}
		k := banKey(op.Key)
		if op.Value == nil {
			s.bans.remove(k)
			continue
		}
		rec, h, err := s.decodeBan(op.Key, op.Value)
		if err != nil {
			continue
		}
		s.bans.put(k, memBan{until: rec.until, count: rec.count, bits: rec.bits, id: h.id})
	}
}
