package signaling

import (
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

// Lead makes this node's own hub, a fresh one, serve its connections, and
// closes them all with 1012: people come back, and their sessions and
// chats are loaded from the store as after a restart.
func (s *Server) Lead() {
	s.remote.Store(nil)
	s.resetHub()
	s.closeAll()
}

// Follow makes connections go to the leader's hub through b, and closes
// them all with 1012 so that people come back to it.
func (s *Server) Follow(b Backend) {
	s.remote.Store(&b)
	s.resetHub()
	s.closeAll()
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

// closeAll closes every connection with 1012.
func (s *Server) closeAll() {
	s.mu.RLock()
	conns := s.allConnsLocked()
	s.mu.RUnlock()
	for _, c := range conns {
		c.close(proto.CloseServerRestart, "server restart")
	}
}

// degraded is the Backend of a node that reaches no leader.
type degraded struct{ s *Server }

func (d degraded) Open(string, netip.Addr, time.Time) (string, string, error) {
	return "unavailable-" + randomID(12), "", nil
}

func (d degraded) Abandon(string) {}

func (d degraded) Hello(sid string, v int, _ netip.Addr, _ string, _ []string, _ time.Time) (uint64, error) {
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
func (d degraded) Erase(string, time.Time)          {}
func (d degraded) SessionLive(string) bool          { return false }
