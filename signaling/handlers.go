package signaling

import (
	"net/netip"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// Backend is the hub as the transport sees it: sessions by ID, messages
// in. In one process it is the hub itself; with several nodes a proxy to
// the hub of the leader (signaling/cluster).
type Backend interface {
	// Open finds or makes the session of a cookie's token; setToken is
	// the cookie to set (a new session, or a rotated token).
	Open(token string, addr netip.Addr, now time.Time) (sid, setToken string, err error)
	// Abandon undoes Open for an upgrade that never said hello.
	Abandon(sid string)
	// Hello attaches a connection that said hello and sends welcome; the
	// generation it returns names this connection from now on. node is
	// where it is connected, relay the TURN URLs handed out there.
	// id is who the connection's helpline cookies say it is.
	Hello(sid string, v int, addr netip.Addr, id Identity, node string, relay []string, now time.Time) (gen uint64, err error)
	// Message runs one client message of connection gen.
	Message(sid string, gen uint64, m *proto.Inbound, now time.Time) error
	// Detach runs when connection gen closes.
	Detach(sid string, gen uint64, now time.Time)
	// Erase ends the session of a token now (DELETE /api/me). An error
	// means nothing was erased: the hub could not be reached.
	Erase(token string, now time.Time) error
	// SessionLive reports whether a TURN credential id names a live session.
	SessionLive(cred string) bool
	// Reattach brings a connection another hub served to this one, when the
	// lead of a cluster passed: its session by its token (no new token),
	// attached without a welcome, and queued again with its last join as it
	// waited since then, when it was waiting (see reattach.go).
	Reattach(token string, addr netip.Addr, v int, id Identity, node string, relay []string, join *proto.Inbound, since, now time.Time) (sid string, gen uint64, err error)
}

// handler runs one client message type. The table below is the only place
// a message type is wired: a type not in it is unknown_type.
type handler struct {
	action bool // counts against the action rate limit (join, next, report)
	run    func(h *hub, sess *session, m *proto.Inbound, now time.Time) error
}

var handlers = map[string]handler{
	proto.TypeJoin:   {action: true, run: onJoin},
	proto.TypeSignal: {run: onSignal},
	proto.TypeNext:   {action: true, run: onNext},
	proto.TypeLeave:  {run: onLeave},
	proto.TypeReport: {action: true, run: onReport},
	proto.TypeBye:    {run: onBye},
	proto.TypeBlock:  {action: true, run: onBlock},

	proto.TypeRoomCreate: {action: true, run: onRoomCreate},
	proto.TypeRoomJoin:   {action: true, run: onRoomJoin},
	proto.TypeRoomKick:   {action: true, run: onRoomKick},
	proto.TypeRoomLock:   {action: true, run: onRoomLock},

	// The helpline's staff (helpline_wire.go); anyone else gets forbidden.
	proto.TypeShift:        {action: true, run: onShift},
	proto.TypeOfferAccept:  {run: onOfferAccept},
	proto.TypeOfferDecline: {run: onOfferDecline},
	proto.TypeChatEnd:      {run: onChatEnd},
	proto.TypeChatTimeOut:  {action: true, run: onChatTimeOut},
	proto.TypeChatHandover: {action: true, run: onChatHandover},
}

// dispatch runs one decoded message on the reader goroutine: hello and the
// checks that belong to the connection here, the rest in the backend.
func (s *Server) dispatch(c *conn, m *proto.Inbound) error {
	now := time.Now()
	if m.Type == proto.TypeHello {
		if c.hello {
			return proto.ErrAlreadyHello
		}
		v, err := m.Hello()
		if err != nil {
			return err
		}
		c.hello = true
		s.metrics.countMessage(m.Type)
		s.register(c)
		takeovers := s.takeovers.Load()
		gen, err := s.backend().Hello(c.sidNow(), v, c.addr, c.hl, s.cfg.NodeID, s.cfg.RelayURLs, now)
		if err != nil {
			return err
		}
		c.sm.Lock()
		c.v = v
		c.sm.Unlock()
		c.gen.Store(gen)
		if s.takeovers.Load() != takeovers {
			// Another hub took this node's connections over while the
			// hello was answered by the old one (the client has its welcome
			// already), and the takeover may have passed this connection
			// by as not past hello yet: it reconnects and is found by its
			// cookie, or given a session of its own.
			c.close(proto.CloseServerRestart, "server restart")
		}
		return nil
	}
	if !c.hello {
		return proto.ErrNotHello
	}
	h, ok := handlers[m.Type]
	if !ok {
		return proto.ErrUnknownType
	}
	if h.action && !c.actionLimiter.Allow() {
		return proto.ErrRateLimited
	}
	s.metrics.countMessage(m.Type)
	if m.Type == proto.TypeJoin {
		c.sm.Lock()
		c.lastJoin = m
		c.sm.Unlock()
	}
	return s.backend().Message(c.sidNow(), c.gen.Load(), m, now)
}

// The hub's side of backend.

// Message runs a message of session sid's connection gen.
func (h *hub) Message(sid string, gen uint64, m *proto.Inbound, now time.Time) error {
	sess := h.lookup(sid)
	if sess == nil || !sess.current(gen) {
		return nil // taken over by a newer connection: this one is closing
	}
	hd, ok := handlers[m.Type]
	if !ok {
		return proto.ErrUnknownType
	}
	return hd.run(h, sess, m, now)
}

func onJoin(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	j, err := m.Join(h.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	if j.Mode == proto.ModeHelpline {
		return h.hlJoin(sess, j, now)
	}
	h.hlLeave(sess, proto.ReasonLeave, now)
	if err := h.proveWork(sess, j.Pow, now); err != nil {
		return err
	}
	return h.join(sess, j, now)
}

func onSignal(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	sig, err := m.Signal()
	if err != nil {
		return err
	}
	return h.signal(sess, sig, now)
}

func onNext(h *hub, sess *session, _ *proto.Inbound, now time.Time) error {
	return h.next(sess, now)
}

func onLeave(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	reason, err := m.Leave()
	if err != nil {
		return err
	}
	h.leave(sess, reason, now)
	return nil
}

func onReport(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	reason, err := m.Report()
	if err != nil {
		return err
	}
	if m.Peer != "" {
		return h.reportMember(sess, m.Peer, reason, now)
	}
	return h.report(sess, reason, now)
}

func onRoomCreate(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	rc, err := m.RoomCreate(h.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	return h.roomCreate(sess, rc, now)
}

func onRoomJoin(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	rj, err := m.RoomJoin(h.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	return h.roomJoin(sess, rj, now)
}

func onRoomKick(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	peer, ban, err := m.RoomKick()
	if err != nil {
		return err
	}
	return h.roomKick(sess, peer, ban, now)
}

func onRoomLock(h *hub, sess *session, m *proto.Inbound, now time.Time) error {
	locked, err := m.RoomLock()
	if err != nil {
		return err
	}
	return h.roomLock(sess, locked, now)
}

func onBye(h *hub, sess *session, _ *proto.Inbound, now time.Time) error {
	h.bye(sess, now)
	return nil
}
