package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The lead: one node holds a lease, a key in a bucket whose entries expire
// when not renewed. The revision it was created at is the leader's term:
// the subjects it serves are named by it, so an old leader, cut off and
// still believing it leads, is reached by nobody. Renewal is an update on
// the revision last written: a node whose renewal fails steps down at once.

func (n *Node) campaign() {
	tick := time.NewTicker(n.cfg.LeaseTTL / 4)
	defer tick.Stop()
	var rev uint64 // our lease's last revision while we lead
	for {
		rev = n.round(rev)
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
	}
}

// round renews our lease, or takes a free one, or follows whoever holds it.
func (n *Node) round(rev uint64) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/2)
	defer cancel()
	n.mu.Lock()
	leading, term := n.leading, n.term
	n.mu.Unlock()
	if leading {
		r, err := n.lease.Update(ctx, leaseKey, leaseValue(n.cfg.NodeID, term), rev)
		if err == nil {
			return r
		}
		n.log.Warn("cluster: lost the lead", "err", errKind(err))
		n.stepDown()
		return 0
	}
	e, err := n.lease.Get(ctx, leaseKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		r, err := n.lease.Create(ctx, leaseKey, leaseValue(n.cfg.NodeID, 0))
		if err != nil {
			// Another node was quicker (the next round follows it), or
			// there is no quorum: until a lease is seen, nobody leads.
			n.noLeader()
			return 0
		}
		// The term is the revision the lease was created at; written into
		// the lease so that followers can name the leader's subjects.
		r2, err := n.lease.Update(ctx, leaseKey, leaseValue(n.cfg.NodeID, r), r)
		if err != nil {
			return 0
		}
		if err := n.lead(r); err != nil {
			n.log.Warn("cluster: could not take the lead", "err", err)
			n.stepDown()
			return 0
		}
		return r2
	case err != nil:
		n.noLeader()
		return 0
	}
	id, t, ok := parseLease(e.Value())
	if !ok || t == 0 || id == n.cfg.NodeID {
		return 0 // being taken right now; or our own from before a restart, running out
	}
	// A lease that is not renewed is a dead leader's, or one beyond a split:
	// a copy may answer a read without a quorum, and the entry does not run
	// out while its stream has no leader to expire it.
	now := time.Now()
	if e.Revision() != n.seenRev {
		n.seenRev, n.seenAt = e.Revision(), now
	}
	if now.Sub(n.seenAt) > n.cfg.LeaseTTL*3/2 {
		n.noLeader()
		return 0
	}
	n.follow(id, t)
	return 0
}

func leaseValue(node string, term uint64) []byte {
	return []byte(node + " " + strconv.FormatUint(term, 10))
}

func parseLease(v []byte) (string, uint64, bool) {
	id, t, ok := strings.Cut(string(v), " ")
	if !ok {
		return "", 0, false
	}
	term, err := strconv.ParseUint(t, 10, 64)
	return id, term, err == nil
}

// errKind keeps addresses out of logs: NATS errors may name hosts.
func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
		return "lease changed"
	}
	return "no quorum or no connection"
}
