package signaling

import (
	"errors"
	"net/netip"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// A node's part in a cluster (signaling/cluster drives it): one node leads
// and its hub serves every node's connections; the others reach it through
// a Backend of their own; with no leader reachable, a node serves in a
// degraded mode that refuses what needs the leader.

// Router reaches sessions connected to other nodes.
type Router interface {
	Delivery
	Locator
}

// SetRouter makes the hub reach sessions on other nodes through r.
func (s *Server) SetRouter(r Router) { s.router.Store(&r) }

// Hub is this node's own hub, which serves every node while it leads.
func (s *Server) Hub() Backend { return s.hub() }

// Lead makes this node's own hub, a fresh one, serve its connections: they
// are brought to it (reannounce), and it rebuilds the queue from them and
// from the other nodes' before it matches anyone. Sessions and chats load
// from the store as after a restart.
func (s *Server) Lead() {
	s.takeovers.Add(1)
	s.resetHub()
	s.hub().startRebuild(time.Now())
	s.remote.Store(nil)
	go s.reannounce(s.hub())
}

// Follow makes connections go to the leader's hub through b; the open ones
// are brought to it.
func (s *Server) Follow(b Backend) {
	s.takeovers.Add(1)
	s.remote.Store(&b)
	s.resetHub()
	go s.reannounce(b)
}

// reannounce brings every open connection to b. A connection b cannot take
// is closed with 1012: its client reconnects, and finds its session by its
// cookie.
func (s *Server) reannounce(b Backend) {
	s.mu.RLock()
	conns := s.allConnsLocked()
	s.mu.RUnlock()
	now := time.Now()
	for _, c := range conns {
		token, join, since, v, ok := c.state()
		if !ok {
			continue // not past hello yet: its hello goes to b anyway
		}
		if token == "" {
			// Welcomed by a node without a leader, with no session and no
			// cookie: there is nothing to find it by (every such connection
			// would share the empty token's session). Its client reconnects
			// and is given a session of its own.
			c.close(proto.CloseServerRestart, "server restart")
			continue
		}
		sid, gen, err := reattach(b, token, c.addr, v, c.hl, s.cfg.NodeID, s.cfg.RelayURLs, join, since, now)
		if err != nil {
			c.close(proto.CloseServerRestart, "server restart")
			continue
		}
		s.mu.Lock()
		if old := c.sidNow(); s.bySession[old] == c {
			delete(s.bySession, old)
		}
		c.setSession(sid, gen)
		s.bySession[sid] = c
		s.mu.Unlock()
	}
}

// Degrade serves without a leader: hello is answered here, and everything
// that needs the leader is refused with unavailable. Open connections stay
// (their chats go on between the browsers); they are closed when a leader
// is back.
func (s *Server) Degrade() {
	var b Backend = degraded{s}
	s.remote.Store(&b)
}

// resetHub drops this node's hub and starts an empty one: what the old one
// held is the store's, and a node that does not lead must not write it.
func (s *Server) resetHub() {
	h, err := newHub(&s.cfg, s, s.metrics)
	if err != nil {
		s.log.Error("a new hub failed", "err", err) // cannot happen: the config was checked
		return
	}
	old := s.hubs.Swap(h)
	go h.persist.run()
	old.shutdown()
	old.persist.drop()
}

// degraded is the Backend of a node that reaches no leader.
type degraded struct{ s *Server }

func (d degraded) Open(string, netip.Addr, time.Time) (string, string, error) {
	return "unavailable-" + randomID(12), "", nil
}

func (d degraded) Abandon(string) {}

func (d degraded) Hello(sid string, v int, _ netip.Addr, _ Identity, _ string, _ []string, _ time.Time) (uint64, error) {
	h := d.s.hub()
	d.s.DeliverLocal(sid, proto.Encode(&proto.Outbound{
		Type: proto.TypeWelcome, State: "unavailable", V: v, Resumed: proto.Bool(false),
		Preferences: h.q.preferences, Features: features, Limits: h.limits(), HideIPDefault: proto.Bool(d.s.cfg.HideIPDefault),
	}))
	return 1, nil
}

func (d degraded) Message(string, uint64, *proto.Inbound, time.Time) error {
	return proto.ErrUnavailable
}
func (d degraded) Detach(string, uint64, time.Time) {}
func (d degraded) Erase(string, time.Time) error    { return proto.ErrUnavailable }
func (d degraded) SessionLive(string) bool          { return false }

func (d degraded) Reattach(string, netip.Addr, int, Identity, string, []string, *proto.Inbound, time.Time, time.Time) (string, uint64, error) {
	return "", 0, proto.ErrUnavailable
}

// ConnectionsLost detaches sessions whose node died: their connections are
// gone without a close the hub could see. Their resume windows start.
func (s *Server) ConnectionsLost(sids []string) {
	h := s.hub()
	now := time.Now()
	for _, sid := range sids {
		if sess := h.lookup(sid); sess != nil {
			sess.mu.Lock()
			gen := sess.gen
			sess.mu.Unlock()
			h.detachSession(sess, gen, now)
		}
	}
}

// reattach tries for a few seconds: a new leader announces itself a moment
// before it serves.
func reattach(b Backend, token string, addr netip.Addr, v int, id Identity, node string, relay []string, join *proto.Inbound, since, now time.Time) (string, uint64, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		sid, gen, err := b.Reattach(token, addr, v, id, node, relay, join, since, now)
		if err == nil || !errors.Is(err, proto.ErrUnavailable) || time.Now().After(deadline) {
			return sid, gen, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
