// Package node assembles one parley node from its parts: the sealed store, the TURN relay with its hooks into the store and signaling, and signaling itself; the one wiring that the binary, the load generator and the tests share.
package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/cluster"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/turn"
)

// Config is the configuration of each part. New fills in what ties them
// together: the store of signaling, the relay's secret, its SessionLive
// and Banned hooks, and the ICE servers and session ends of signaling.
type Config struct {
	Store store.Config
	// Relay configures the embedded TURN relay; nil runs without one.
	Relay *turn.Config
	// Signaling's Store, ICEServers and OnSessionEnd are set by New.
	Signaling signaling.Config
	// SweepEvery is how often expired records are swept. Default 1m.
	SweepEvery time.Duration
	// Cluster makes this node one of several (NATS); nil runs one node.
	// Its Secret and Dir default to a subkey of the master key and
	// <Store.Dir>/nats.
	Cluster *cluster.Config
}

// Node is one running parley node.
type Node struct {
	Store     *store.Store
	Relay     *turn.Server // nil without a relay
	Signaling *signaling.Server
	Cluster   *cluster.Node // nil for one node

	clusterCfg  *cluster.Config
	sweepEvery  time.Duration
	stopSweeper context.CancelFunc
	swept       chan struct{}
}

// New opens the store, starts the relay (binding its listeners) and builds
// signaling. On error everything it opened is closed again.
func New(cfg Config) (_ *Node, err error) {
	n := &Node{sweepEvery: cfg.SweepEvery, clusterCfg: cfg.Cluster}
	if n.sweepEvery == 0 {
		n.sweepEvery = time.Minute
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.Store, err = store.Open(cfg.Store); err != nil {
		return nil, err
	}
	sc := cfg.Signaling
	sc.Store = n.Store
	if cfg.Relay != nil {
		rc := *cfg.Relay
		rc.Secret = n.Store.Subkey("turn-rest")
		rc.SessionLive = n.sessionLive
		rc.Banned = n.banned
		if n.Relay, err = turn.New(rc); err != nil {
			return nil, err
		}
		sc.Credentials = n.Relay.Credentials
		sc.RelayURLs = n.Relay.URLs()
		sc.OnSessionEnd = n.endSession
	}
	if cfg.Cluster != nil {
		cc := *cfg.Cluster
		if cc.Secret == nil {
			cc.Secret = n.Store.Subkey("cluster")
		}
		if cc.Dir == "" {
			cc.Dir = filepath.Join(cfg.Store.Dir, "nats")
		}
		if cc.RecordTTL == 0 {
			// Outlast the longest retention, so no ban in force leaves
			// JetStream before its end.
			st := cfg.Store
			cc.RecordTTL = max(100*24*time.Hour, st.BanFor, st.ReportWindow, st.SessionTTL) + 24*time.Hour
		}
		if cc.NodeID == "" && cc.Listen != "" {
			// Stable across restarts: the embedded JetStream knows its peers
			// by this name. The host's name goes in too, so nodes that each
			// listen on ":6222" on hosts of their own differ.
			host, _ := os.Hostname()
			sum := sha256.Sum256([]byte(host + "\x00" + cc.Listen))
			cc.NodeID = "n" + hex.EncodeToString(sum[:5])
		} else if cc.NodeID == "" {
			cc.NodeID = "n" + randomHex(5)
		}
		sc.NodeID = cc.NodeID
		n.clusterCfg = &cc
	}
	if n.Signaling, err = signaling.New(sc); err != nil {
		return nil, err
	}
	return n, nil
}

// sessionLive and banned are the relay's questions; methods, so the relay
// can be built before signaling. Neither reads the disk.
func (n *Node) sessionLive(cred string) bool {
	return n.Signaling != nil && n.Signaling.SessionLive(cred)
}

func (n *Node) banned(a netip.Addr) bool {
	_, banned, err := n.Store.Banned(time.Now(), a)
	return err != nil || banned // when in doubt, refuse
}

// endSession ends a banned or erased session's relay allocations: here, or
// on every node of a cluster.
func (n *Node) endSession(cred string) {
	if n.Cluster != nil {
		n.Cluster.EndSession(cred) // every node, this one too
		return
	}
	n.Relay.EndSession(cred)
}

// Start starts signaling's loops, the store's sweeper, and joins the
// cluster if there is one.
func (n *Node) Start() error {
	if err := n.Signaling.Start(); err != nil {
		return err
	}
	if n.clusterCfg != nil {
		var end func(string)
		if n.Relay != nil {
			end = func(cred string) { n.Relay.EndSession(cred) }
		}
		var err error
		if n.Cluster, err = cluster.Start(*n.clusterCfg, n.Signaling, n.Store, end); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stopSweeper, n.swept = cancel, make(chan struct{})
	go func() {
		defer close(n.swept)
		n.Store.RunSweeper(ctx, n.sweepEvery, time.Now)
	}()
	return nil
}

// Shutdown closes every socket with 1012 so people resume after a restart,
// then stops the relay and the store, in the reverse order of New.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	if n.Cluster != nil {
		_ = n.Cluster.Close() // the lead passes on at once
	}
	if n.Signaling != nil {
		err = n.Signaling.Shutdown(ctx)
	}
	n.Close()
	return err
}

// Close releases what New acquired, in reverse order; Shutdown calls it.
func (n *Node) Close() error {
	if n.Cluster != nil {
		_ = n.Cluster.Close()
	}
	if n.stopSweeper != nil {
		n.stopSweeper()
		<-n.swept
		n.stopSweeper = nil
	}
	var errs []error
	if n.Relay != nil {
		errs = append(errs, n.Relay.Close())
	}
	if n.Store != nil {
		errs = append(errs, n.Store.Close())
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
