package cluster

import (
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"
)

// router is the leader's way to sessions connected to other nodes: it
// knows each session's node from its hello, and publishes frames to that
// node's subject. A node takes frames only from the leader it follows.
type router struct {
	n *Node

	mu    sync.Mutex // guards where
	where map[string]string
}

// Locate records where a session said hello. Sessions on this node need no
// entry: the server tries its own connections first.
func (r *router) Locate(sid, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if node == "" || node == r.n.cfg.NodeID {
		delete(r.where, sid)
		return
	}
	r.where[sid] = node
}

func (r *router) nodeOf(sid string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.where[sid]
}

func (r *router) Deliver(sid string, frame []byte) bool {
	node := r.nodeOf(sid)
	if node == "" {
		return false
	}
	r.send(node, &call{Op: "deliver", SID: sid, Frame: frame})
	return true
}

func (r *router) Disconnect(sid string, code int, text string) {
	if node := r.nodeOf(sid); node != "" {
		r.send(node, &call{Op: "disconnect", SID: sid, Code: code, Text: text})
	}
}

func (r *router) send(node string, c *call) {
	leader, term := r.n.current()
	c.From, c.Term = leader, term
	subj := subjNode + node
	b, _ := json.Marshal(c)
	_ = r.n.nc.Publish(subj, r.n.seal.seal(subj, b))
}

// onNode takes the leader's frames for this node's connections.
func (n *Node) onNode(m *nats.Msg) {
	plain, err := n.seal.open(m.Subject, m.Data)
	if err != nil {
		return
	}
	var c call
	if err := json.Unmarshal(plain, &c); err != nil {
		return
	}
	if leader, term := n.current(); c.From != leader || c.Term != term {
		return // an old leader's: fenced
	}
	switch c.Op {
	case "deliver":
		n.sig.DeliverLocal(c.SID, c.Frame)
	case "disconnect":
		n.sig.DisconnectLocal(c.SID, c.Code, c.Text)
	}
}
