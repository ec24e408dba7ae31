package cluster

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// router is the leader's way to sessions connected to other nodes: it
// knows each session's node from its hello, and publishes frames to that
// node's subject. A node takes frames only from the leader it follows.
type router struct {
	n *Node

	mu    sync.Mutex // guards where and seen
	where map[string]string
	seen  map[string]time.Time // when each node last said it is alive
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

// alive records a node's heartbeat.
func (r *router) alive(node string, now time.Time) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	r.seen[node] = now
	r.mu.Unlock()
}

// liveNode is a node other than not heard since since, or "".
func (r *router) liveNode(not string, since time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for node, t := range r.seen {
		if node != not && t.After(since) {
			return node
		}
	}
	return ""
}

// lost returns, and forgets, the sessions of nodes silent since before
// cutoff: their connections died with them.
func (r *router) lost(cutoff time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	dead := map[string]bool{}
	for node, t := range r.seen {
		if t.Before(cutoff) {
			dead[node] = true
			delete(r.seen, node)
		}
	}
	var sids []string
	for sid, node := range r.where {
		if dead[node] {
			sids = append(sids, sid)
			delete(r.where, sid)
		}
	}
	return sids
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
