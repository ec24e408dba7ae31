package signaling

import (
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// handler runs one client message type. The table below is the only place
// a message type is wired: a type not in it is unknown_type.
type handler struct {
	action bool // counts against the action rate limit (join, next, report)
	run    func(s *Server, c *conn, m *proto.Inbound, now time.Time) error
}

var handlers = map[string]handler{
	proto.TypeJoin:   {action: true, run: onJoin},
	proto.TypeSignal: {run: onSignal},
	proto.TypeNext:   {action: true, run: onNext},
	proto.TypeLeave:  {run: onLeave},
	proto.TypeReport: {action: true, run: onReport},
	proto.TypeBye:    {run: onBye},

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

// dispatch runs one decoded message on the reader goroutine.
func (s *Server) dispatch(c *conn, m *proto.Inbound) error {
	now := time.Now()
	if m.Type == proto.TypeHello {
		if c.hello {
			return proto.ErrAlreadyHello
		}
		return s.onHello(c, m, now)
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
	if !c.sess.current(c.gen) {
		return nil // taken over by a newer connection: this one is closing
	}
	s.metrics.countMessage(m.Type)
	return h.run(s, c, m, now)
}

func (s *Server) onHello(c *conn, m *proto.Inbound, now time.Time) error {
	v, err := m.Hello()
	if err != nil {
		return err
	}
	c.hello = true
	s.metrics.countMessage(m.Type)
	c.gen = s.hub.attach(c.sess)
	s.register(c)
	s.hub.hello(c.sess, c.gen, v, c.addr, now)
	s.hub.hlHello(c, now)
	return nil
}

func onJoin(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	j, err := m.Join(s.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	if j.Mode == proto.ModeHelpline {
		return s.hub.hlJoin(c, j, now)
	}
	s.hub.hlLeave(c.sess, proto.ReasonLeave, now)
	return s.hub.join(c.sess, j, now)
}

func onSignal(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	sig, err := m.Signal()
	if err != nil {
		return err
	}
	return s.hub.signal(c.sess, sig, now)
}

func onNext(s *Server, c *conn, _ *proto.Inbound, now time.Time) error {
	return s.hub.next(c.sess, now)
}

func onLeave(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	reason, err := m.Leave()
	if err != nil {
		return err
	}
	s.hub.leave(c.sess, reason, now)
	return nil
}

func onReport(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	reason, err := m.Report()
	if err != nil {
		return err
	}
	if m.Peer != "" {
		return s.hub.reportMember(c.sess, m.Peer, reason, now)
	}
	return s.hub.report(c.sess, reason, now)
}

func onRoomCreate(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	rc, err := m.RoomCreate(s.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	return s.hub.roomCreate(c.sess, rc, now)
}

func onRoomJoin(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	rj, err := m.RoomJoin(s.cfg.HideIPDefault)
	if err != nil {
		return err
	}
	return s.hub.roomJoin(c.sess, rj, now)
}

func onRoomKick(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	peer, ban, err := m.RoomKick()
	if err != nil {
		return err
	}
	return s.hub.roomKick(c.sess, peer, ban, now)
}

func onRoomLock(s *Server, c *conn, m *proto.Inbound, now time.Time) error {
	locked, err := m.RoomLock()
	if err != nil {
		return err
	}
	return s.hub.roomLock(c.sess, locked, now)
}

func onBye(s *Server, c *conn, _ *proto.Inbound, now time.Time) error {
	s.hub.bye(c.sess, now)
	return nil
}
