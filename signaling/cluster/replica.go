package cluster

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parley-chat/parley/store"
)

// The records travel through a key-value bucket, one key per record: the
// leader puts each record's sealed value as it is now (deletes a record
// that is gone), every other node applies what it watches. Keys are the
// bucket and the record's key in hex: keyed hashes, never an address or a
// token. Values are sealed twice: by the store, and again here.

func recordKey(op store.Op) string { return op.Bucket + "." + hex.EncodeToString(op.Key) }

// replicate is the leader's store.Replicate sender.
func (n *Node) replicate(ops []store.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, op := range ops {
		k := recordKey(op)
		var err error
		if op.Value == nil {
			err = n.kv.Delete(ctx, k)
		} else {
			_, err = n.kv.Put(ctx, k, n.seal.seal(bucketKV+"."+k, op.Value))
		}
		if err != nil {
			return fmt.Errorf("cluster: replicating a record: %s", errKind(err))
		}
	}
	return nil
}

// watchRecords applies what the leader replicates, from the first record
// on, on every node that does not lead.
func (n *Node) watchRecords() error {
	w, err := n.kv.WatchAll(context.Background())
	if err != nil {
		return fmt.Errorf("cluster: watching the records: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer w.Stop()
		for {
			select {
			case <-n.stop:
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				// Apply what has arrived in one transaction: one fsync for a
				// batch, not one per record, when a node catches up.
				batch := []jetstream.KeyValueEntry{}
				for e != nil || len(batch) == 0 {
					if e != nil {
						batch = append(batch, e)
					}
					if len(batch) >= 256 {
						break
					}
					select {
					case e, ok = <-w.Updates():
						if !ok {
							n.applyRecords(batch)
							return
						}
						continue
					default:
					}
					break
				}
				n.applyRecords(batch)
			}
		}
	}()
	return nil
}

func (n *Node) applyRecords(batch []jetstream.KeyValueEntry) {
	if len(batch) == 0 {
		return
	}
	last := batch[len(batch)-1].Revision()
	defer func() {
		n.mu.Lock()
		if last > n.applied {
			n.applied = last
		}
		n.mu.Unlock()
	}()
	n.mu.Lock()
	leading := n.leading
	n.mu.Unlock()
	if leading {
		return // its own writes, coming back
	}
	ops := make([]store.Op, 0, len(batch))
	for _, e := range batch {
		bucket, hexKey, ok := strings.Cut(e.Key(), ".")
		key, err := hex.DecodeString(hexKey)
		if !ok || err != nil {
			n.log.Warn("cluster: a replicated record with a bad key")
			continue
		}
		op := store.Op{Bucket: bucket, Key: key}
		if e.Operation() == jetstream.KeyValuePut {
			v, err := n.seal.open(bucketKV+"."+e.Key(), e.Value())
			if err != nil {
				n.log.Warn("cluster: a replicated record failed to open")
				continue
			}
			op.Value = v
		}
		ops = append(ops, op)
	}
	if err := n.st.Apply(ops); err != nil {
		n.log.Warn("cluster: applying replicated records failed", "err", err)
	}
}
