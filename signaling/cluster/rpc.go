package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/parley-chat/parley/signaling"
	"github.com/parley-chat/parley/signaling/proto"
)

// The followers' calls to the leader's hub. A follower's transport reaches
// the hub through remote, a signaling.Backend: the calls that need an
// answer (open, hello, erase, live) are NATS requests; client messages,
// detach and abandon are published, in order per session (one subject per
// shard of sessions), and an error in handling them comes back to the
// session as an error frame.

type call struct {
	Op    string         `json:"op"`
	Since int64          `json:"since,omitempty"` // reattach: waiting since, unix nanoseconds
	From  string         `json:"from,omitempty"`
	SID   string         `json:"sid,omitempty"`
	Token string         `json:"token,omitempty"`
	Addr  string         `json:"addr,omitempty"`
	V     int            `json:"v,omitempty"`
	Relay []string       `json:"relay,omitempty"`
	Gen   uint64         `json:"gen,omitempty"`
	Cred  string         `json:"cred,omitempty"`
	Msg   *proto.Inbound `json:"msg,omitempty"`
	Frame []byte         `json:"frame,omitempty"`
	Code  int            `json:"code,omitempty"`
	Text  string         `json:"text,omitempty"`
	Term  uint64         `json:"term,omitempty"`
	// ID is who the connection's helpline cookies say it is.
	ID *signaling.Identity `json:"id,omitempty"`
}

type answer struct {
	SID   string `json:"sid,omitempty"`
	Token string `json:"token,omitempty"`
	Gen   uint64 `json:"gen,omitempty"`
	Live  bool   `json:"live,omitempty"`
	Err   string `json:"err,omitempty"` // an errKinds name
}

// errKinds are the errors a call may answer, by name.
var errKinds = map[string]error{
	"sessions": signaling.ErrTooManySessions,
	"closing":  signaling.ErrClosing,
	"nosess":   signaling.ErrNoSession,
}

func errName(err error) string {
	if err == nil {
		return ""
	}
	for name, e := range errKinds {
		if errors.Is(err, e) {
			return name
		}
	}
	return "proto:" + proto.CodeOf(err)
}

func errOf(name string) error {
	if name == "" {
		return nil
	}
	if e, ok := errKinds[name]; ok {
		return e
	}
	for _, e := range []error{proto.ErrInternal, proto.ErrUnavailable, proto.ErrBadVersion} {
		if "proto:"+proto.CodeOf(e) == name {
			return e
		}
	}
	return proto.ErrInternal
}

// remote is a follower's Backend: the hub of the leader of term.
type remote struct {
	n    *Node
	term uint64
}

func (r *remote) request(c *call) (*answer, error) {
	c.From, c.Term = r.n.cfg.NodeID, r.term
	subj := fmt.Sprintf("%s%d", subjCall, r.term)
	b, _ := json.Marshal(c)
	msg, err := r.n.nc.Request(subj, r.n.seal.seal(subj, b), r.n.cfg.CallTimeout)
	if err != nil {
		return nil, proto.ErrUnavailable
	}
	plain, err := r.n.seal.open(subj+".reply", msg.Data)
	if err != nil {
		return nil, proto.ErrInternal
	}
	var a answer
	if err := json.Unmarshal(plain, &a); err != nil {
		return nil, proto.ErrInternal
	}
	return &a, errOf(a.Err)
}

func (r *remote) publish(c *call) {
	c.From, c.Term = r.n.cfg.NodeID, r.term
	subj := fmt.Sprintf("%s%d.%d", subjMsg, r.term, shardOf(c.SID))
	b, _ := json.Marshal(c)
	_ = r.n.nc.Publish(subj, r.n.seal.seal(subj, b))
}

func shardOf(sid string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(sid))
	return h.Sum32() % shards
}

func (r *remote) Open(token string, addr netip.Addr, _ time.Time) (string, string, error) {
	a, err := r.request(&call{Op: "open", Token: token, Addr: addr.String()})
	if err != nil {
		return "", "", err
	}
	return a.SID, a.Token, nil
}

func (r *remote) Abandon(sid string) { r.publish(&call{Op: "abandon", SID: sid}) }

func (r *remote) Hello(sid string, v int, addr netip.Addr, id signaling.Identity, node string, relay []string, _ time.Time) (uint64, error) {
	a, err := r.request(&call{Op: "hello", SID: sid, V: v, Addr: addr.String(), Relay: relay, ID: identity(id)})
	if err != nil {
		return 0, err
	}
	return a.Gen, nil
}

func (r *remote) Message(sid string, gen uint64, m *proto.Inbound, _ time.Time) error {
	r.publish(&call{Op: "msg", SID: sid, Gen: gen, Msg: m})
	return nil
}

func (r *remote) Detach(sid string, gen uint64, _ time.Time) {
	r.publish(&call{Op: "detach", SID: sid, Gen: gen})
}

func (r *remote) Erase(token string, _ time.Time) error {
	_, err := r.request(&call{Op: "erase", Token: token})
	return err
}

func (r *remote) Reattach(token string, addr netip.Addr, v int, id signaling.Identity, _ string, relay []string, join *proto.Inbound, since, _ time.Time) (string, uint64, error) {
	c := &call{Op: "reattach", Token: token, Addr: addr.String(), V: v, Relay: relay, Msg: join, ID: identity(id)}
	if !since.IsZero() {
		c.Since = since.UnixNano()
	}
	a, err := r.request(c)
	if err != nil {
		return "", 0, err
	}
	return a.SID, a.Gen, nil
}

// identity leaves an empty identity out of the call.
func identity(id signaling.Identity) *signaling.Identity {
	if id == (signaling.Identity{}) {
		return nil
	}
	return &id
}

// identityOf is the identity a call carries.
func (c *call) identityOf() signaling.Identity {
	if c.ID == nil {
		return signaling.Identity{}
	}
	return *c.ID
}

func (r *remote) SessionLive(cred string) bool {
	a, err := r.request(&call{Op: "live", Cred: cred})
	return err == nil && a.Live
}

// onCall serves a follower's request on the leader.
func (n *Node) onCall(m *nats.Msg) {
	plain, err := n.seal.open(m.Subject, m.Data)
	if err != nil {
		return
	}
	var c call
	if err := json.Unmarshal(plain, &c); err != nil {
		return
	}
	// Each request on a goroutine of its own: an open may wait for the
	// store, and others need not wait for it.
	go func() {
		hub := n.sig.Hub()
		now := time.Now()
		var a answer
		switch c.Op {
		case "open":
			addr, perr := netip.ParseAddr(c.Addr)
			if perr != nil {
				a.Err = errName(proto.ErrInternal)
				break
			}
			var err error
			a.SID, a.Token, err = hub.Open(c.Token, addr, now)
			a.Err = errName(err)
		case "hello":
			addr, _ := netip.ParseAddr(c.Addr)
			n.route.Locate(c.SID, c.From)
			var err error
			a.Gen, err = hub.Hello(c.SID, c.V, addr, c.identityOf(), c.From, c.Relay, now)
			a.Err = errName(err)
		case "reattach":
			addr, perr := netip.ParseAddr(c.Addr)
			if perr != nil {
				a.Err = errName(proto.ErrInternal)
				break
			}
			var since time.Time
			if c.Since != 0 {
				since = time.Unix(0, c.Since)
			}
			var err error
			a.SID, a.Gen, err = hub.Reattach(c.Token, addr, c.V, c.identityOf(), c.From, c.Relay, c.Msg, since, now)
			a.Err = errName(err)
		case "erase":
			a.Err = errName(hub.Erase(c.Token, now))
		case "live":
			a.Live = hub.SessionLive(c.Cred)
		default:
			return
		}
		b, _ := json.Marshal(&a)
		_ = m.Respond(n.seal.seal(m.Subject+".reply", b))
	}()
}

// onMsg runs a follower's client message, detach or abandon on the leader,
// in the order the follower sent them for that session.
func (n *Node) onMsg(m *nats.Msg) {
	plain, err := n.seal.open(m.Subject, m.Data)
	if err != nil {
		return
	}
	var c call
	if err := json.Unmarshal(plain, &c); err != nil {
		return
	}
	hub := n.sig.Hub()
	now := time.Now()
	switch c.Op {
	case "msg":
		if c.Msg == nil {
			return
		}
		if err := hub.Message(c.SID, c.Gen, c.Msg, now); err != nil {
			n.sig.Deliver(c.SID, proto.ErrorFrame(err))
		}
	case "detach":
		hub.Detach(c.SID, c.Gen, now)
	case "abandon":
		hub.Abandon(c.SID)
	}
}
