package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lead makes this node the leader of term: its copy of the records is
// brought up to date, it starts to replicate its writes, serves the
// followers' calls, and its own hub starts afresh; the open connections
// of every node are brought over to it with their sessions and queue
// places (signaling.Server.Lead, reattach).
func (n *Node) lead(term uint64) error {
	if err := n.catchUp(5 * time.Second); err != nil {
		return err
	}
	n.mu.Lock()
	n.unsubscribeLocked()
	var subs []*nats.Subscription
	s, err := n.nc.Subscribe(fmt.Sprintf("%s%d", subjCall, term), n.onCall)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	subs = append(subs, s)
	for i := range shards {
		s, err := n.nc.Subscribe(fmt.Sprintf("%s%d.%d", subjMsg, term, i), n.onMsg)
		if err != nil {
			n.mu.Unlock()
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
			return err
		}
		subs = append(subs, s)
	}
	n.subs = subs
	n.leading, n.leader, n.term = true, n.cfg.NodeID, term
	n.mu.Unlock()
	if err := n.nc.Flush(); err != nil {
		return err
	}
	n.st.Replicate(n.replicate)
	n.sig.Lead()
	n.log.Info("cluster: this node leads", "term", term)
	go n.spreadStreamLeaders()
	return nil
}

// spreadStreamLeaders asks the buckets' own raft groups to move their
// leader off this node. JetStream elects a new stream leader 4 to 9 s
// after its leader dies; with the lease and the records led elsewhere, a
// dead parley leader's lease simply runs out, and the next node takes the
// lead in about the lease's time.
func (n *Node) spreadStreamLeaders() {
	for _, kv := range []jetstream.KeyValue{n.lease, n.kv} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := kv.Status(ctx)
		cancel()
		bs, ok := st.(*jetstream.KeyValueBucketStatus)
		if err != nil || !ok || bs.StreamInfo().Cluster == nil || bs.StreamInfo().Cluster.Leader != n.cfg.NodeID {
			continue
		}
		// Name the node to hand over to: one whose heartbeat came within
		// the last second. Left to itself JetStream picks any peer heard
		// within 3 s, right after a failover the dead leader's node half
		// the time, and a hand-over to it leaves the stream leaderless
		// until an election 4-9 s later.
		pref := n.route.liveNode(n.cfg.NodeID, time.Now().Add(-time.Second))
		if pref == "" {
			continue
		}
		req := []byte(fmt.Sprintf(`{"placement":{"preferred":%q}}`, pref))
		if _, err := n.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+bs.StreamInfo().Config.Name, req, 2*time.Second); err != nil {
			n.log.Debug("cluster: a stream leader stepdown failed", "err", errKind(err))
		}
	}
}

// follow makes leader of term the hub of this node's connections.
func (n *Node) follow(leader string, term uint64) {
	n.mu.Lock()
	same := !n.leading && n.leader == leader && n.term == term
	if !same {
		n.leader, n.term = leader, term
	}
	n.mu.Unlock()
	if same {
		return
	}
	n.sig.Follow(&remote{n: n, term: term})
	n.log.Info("cluster: following", "leader", leader, "term", term)
}

// stepDown stops leading: no more replication, no more serving.
func (n *Node) stepDown() {
	n.mu.Lock()
	was := n.leading
	n.leading, n.leader, n.term = false, "", 0
	n.unsubscribeLocked()
	n.mu.Unlock()
	if was {
		n.st.StopReplicating()
	}
	n.sig.Degrade()
}

// noLeader is a round that reached no lease: the cluster has no quorum
// from here. New chats are refused until a leader is back.
func (n *Node) noLeader() {
	n.mu.Lock()
	had := n.leader != ""
	n.leader, n.term = "", 0
	n.mu.Unlock()
	if had {
		n.sig.Degrade()
		n.log.Warn("cluster: no leader reachable; new chats are refused")
	}
}

func (n *Node) unsubscribeLocked() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.subs = nil
}

// current is the leader and term this node follows or leads.
func (n *Node) current() (string, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader, n.term
}

// catchUp waits until this node's copy has applied every record the
// bucket held when it was called.
func (n *Node) catchUp(wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := n.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("cluster: the records' status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return fmt.Errorf("cluster: the records' status has no stream state")
	}
	want := bs.StreamInfo().State.LastSeq
	for {
		n.mu.Lock()
		got := n.applied
		n.mu.Unlock()
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: catching up with the records: %d of %d", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
