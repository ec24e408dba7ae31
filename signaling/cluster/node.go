package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/store"
)

// Subjects. The leader's are named by its term, so a node that lost the
// lease and still serves them is never reached; a node's by its id.
const (
	subjCall   = "parley.call."  // + term: requests to the leader
	subjMsg    = "parley.msg."   // + term.shard: client messages to the leader
	subjNode   = "parley.node."  // + node id: frames from the leader to a node
	subjEnd    = "parley.end"    // a session ended: every relay drops it
	subjAlive  = "parley.alive"  // each node's heartbeat
	subjCounts = "parley.counts" // each node's counts for /api/stats
	bucketKV   = "parley-store"  // the replicated records
	bucketLse  = "parley-lease"  // the leader's lease
	leaseKey   = "leader"
	shards     = 16
)

// Node is this process's part in a cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	seal  *sealer
	srv   *server.Server // the embedded server, nil with an external URL
	nc    *nats.Conn
	js    jetstream.JetStream
	lease jetstream.KeyValue
	kv    jetstream.KeyValue
	sig   *signaling.Server
	st    *store.Store
	end   func(cred string)
	route *router
	board countBoard // the other nodes' counts

	stop chan struct{}
	wg   sync.WaitGroup

	// The lease's last revision seen and when, in the campaign goroutine.
	seenRev uint64
	seenAt  time.Time

	mu      sync.Mutex // guards the fields below
	leading bool
	leader  string // the leader's node id, "" when none
	term    uint64 // the leader's term: the revision its lease was created at
	subs    []*nats.Subscription
	applied uint64 // the last replicated revision applied here
}

// Start joins the cluster: it starts or reaches NATS, opens the buckets,
// watches the replicated records and campaigns for the lead. sig serves
// this node's connections; st is this node's copy of the records; end ends
// a session's relay allocations here (it is told when one ends anywhere).
func Start(cfg Config, sig *signaling.Server, st *store.Store, end func(cred string)) (_ *Node, err error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, seal: newSealer(cfg.Secret), sig: sig, st: st, end: end, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if cfg.URL == "" {
		if n.srv, err = embedded(&n.cfg, n.seal); err != nil {
			return nil, err
		}
	}
	if n.nc, err = connect(&n.cfg, n.srv, n.seal); err != nil {
		return nil, fmt.Errorf("cluster: connecting to NATS: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.route = &router{n: n, where: map[string]string{}}
	sig.SetRouter(n.route)
	sig.Degrade() // until a leader is known
	if _, err := n.nc.Subscribe(subjNode+cfg.NodeID, n.onNode); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if _, err := n.nc.Subscribe(subjEnd, n.onEnd); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if _, err := n.nc.Subscribe(subjAlive, n.onAlive); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if _, err := n.nc.Subscribe(subjCounts, n.onCounts); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	sig.CountWith(n.clusterCounts)
	n.wg.Add(2)
	go n.run()
	go n.heartbeat()
	n.log.Info("cluster node started", "node", cfg.NodeID, "embedded", n.srv != nil, "peers", len(cfg.Peers), "replicas", cfg.Replicas)
	return n, nil
}

// run opens the buckets, watches the records and campaigns. Until the
// buckets open (the cluster's JetStream needs a quorum of nodes first) the
// node serves degraded: it refuses new chats with unavailable.
func (n *Node) run() {
	defer n.wg.Done()
	for {
		err := n.buckets()
		if err == nil {
			err = n.watchRecords()
		}
		if err == nil {
			break
		}
		if err == errStopped {
			return
		}
		n.log.Warn("cluster: waiting for the cluster's JetStream", "err", errKind(err))
	}
	n.campaign()
}

// buckets opens (or makes) the lease and the record buckets, waiting up to
// a minute for the cluster's JetStream to elect its own meta leader first.
//
// At a cluster's first start every node asks at once, and JetStream leaves
// requests made before the streams exist unanswered, however long one
// waits; a request made after is answered in milliseconds. So a try waits
// one second, and only after ten failures (a slow network, an overloaded
// server) longer, up to 5 s. Three nodes have a leader 3.7 s after their
// start here, against 16 to 21 s with a flat 5 s wait (docs/BENCHMARKS.md).
func (n *Node) buckets() error {
	deadline := time.Now().Add(60 * time.Second)
	wait := time.Second
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if try >= 10 {
			wait = min(2*wait, 5*time.Second)
		}
		var err error
		n.lease, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucketLse, History: 1, TTL: n.cfg.LeaseTTL, Replicas: n.cfg.Replicas, Storage: jetstream.FileStorage,
		})
		if err == nil {
			n.kv, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: bucketKV, History: 1, TTL: n.cfg.RecordTTL, Replicas: n.cfg.Replicas,
				Storage: jetstream.FileStorage, MaxValueSize: 256 << 10,
			})
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: the buckets: %w", err)
		}
		select {
		case <-n.stop:
			return errStopped
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Close leaves the cluster: it stops campaigning (a leader's lease runs
// out and another node takes the lead), and closes NATS.
func (n *Node) Close() error {
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop)
	n.wg.Wait()
	n.mu.Lock()
	leading := n.leading
	n.leading = false
	n.mu.Unlock()
	if leading {
		n.st.StopReplicating()
		// Give the lead up now rather than when the lease runs out.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.lease.Delete(ctx, leaseKey)
		cancel()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	return nil
}

// Leader is the node that leads now ("" when none) and whether it is this one.
func (n *Node) Leader() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader, n.leading
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// EndSession tells every node that a session ended, for their relays.
func (n *Node) EndSession(cred string) {
	_ = n.nc.Publish(subjEnd, n.seal.seal(subjEnd, []byte(cred)))
}

func (n *Node) onEnd(m *nats.Msg) {
	cred, err := n.seal.open(m.Subject, m.Data)
	if err == nil && n.end != nil {
		n.end(string(cred))
	}
}

var errStopped = errors.New("cluster: stopped")

// heartbeat says every half second that this node is alive; the leader
// detaches the sessions of a node silent for three seconds, which starts
// their resume windows: a person whose node died comes back through
// another, and the partner hears partner-reconnecting meanwhile.
func (n *Node) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	beats := 0
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			_ = n.nc.Publish(subjAlive, n.seal.seal(subjAlive, []byte(n.cfg.NodeID)))
			if beats++; beats%2 == 0 {
				n.publishCounts()
			}
			if _, leading := n.Leader(); leading {
				if sids := n.route.lost(now.Add(-3 * time.Second)); len(sids) > 0 {
					n.log.Info("cluster: a node went silent; its people are away", "sessions", len(sids))
					n.sig.ConnectionsLost(sids)
				}
			}
		}
	}
}

func (n *Node) onAlive(m *nats.Msg) {
	id, err := n.seal.open(m.Subject, m.Data)
	if err == nil {
		n.route.alive(string(id), time.Now())
	}
}
