package cluster

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/parley-chat/parley/signaling"
)

// The front page's counts for the whole cluster. Every node publishes, with
// its heartbeat, how many connections it holds and, while it leads, the
// chats its hub formed today (every chat is formed on the leader). Any node
// answering GET /api/stats adds up the connections of the nodes heard
// lately and shows the leader's chats. Only these four numbers travel,
// sealed like everything else.

// countsFresh is how long a node's counts are added in after it was last
// heard: a little longer than the three seconds after which the leader
// takes a silent node for dead.
const countsFresh = 4 * time.Second

type nodeCounts struct {
	Node   string `json:"node"`
	Online int    `json:"online"`
	Term   uint64 `json:"term,omitempty"` // set by the leader: its chats below are the cluster's
	Chats  int    `json:"chats,omitempty"`
	Ended  int    `json:"ended,omitempty"`
	AvgMS  int64  `json:"avgMs,omitempty"`
}

type countBoard struct {
	mu    sync.Mutex // guards nodes
	nodes map[string]heardCounts
}

type heardCounts struct {
	nodeCounts
	at time.Time
}

// publishCounts tells every node this node's counts.
func (n *Node) publishCounts() {
	local := n.sig.Counts()
	c := nodeCounts{Node: n.cfg.NodeID, Online: local.Online}
	n.mu.Lock()
	if n.leading {
		c.Term = n.term
		c.Chats, c.Ended, c.AvgMS = local.ChatsToday, local.ChatsEndedToday, local.AvgChatLength.Milliseconds()
	}
	n.mu.Unlock()
	b, _ := json.Marshal(c)
	_ = n.nc.Publish(subjCounts, n.seal.seal(subjCounts, b))
}

func (n *Node) onCounts(m *nats.Msg) {
	plain, err := n.seal.open(m.Subject, m.Data)
	if err != nil {
		return
	}
	var c nodeCounts
	if err := json.Unmarshal(plain, &c); err != nil || c.Node == "" || c.Node == n.cfg.NodeID || c.Online < 0 {
		return
	}
	n.board.mu.Lock()
	if n.board.nodes == nil {
		n.board.nodes = map[string]heardCounts{}
	}
	n.board.nodes[c.Node] = heardCounts{c, time.Now()}
	n.board.mu.Unlock()
}

// clusterCounts is local (this node's counts) made the cluster's: the
// connections of every node heard within countsFresh, and the chats of the
// leader this node follows. A follower that has not heard its leader lately
// shows no chats rather than its own hub's, which forms none.
func (n *Node) clusterCounts(local signaling.Counts) signaling.Counts {
	leader, term := n.current()
	out := signaling.Counts{Online: local.Online}
	if leader == n.cfg.NodeID {
		out.ChatsToday, out.ChatsEndedToday, out.AvgChatLength = local.ChatsToday, local.ChatsEndedToday, local.AvgChatLength
	}
	cutoff := time.Now().Add(-countsFresh)
	n.board.mu.Lock()
	defer n.board.mu.Unlock()
	for id, c := range n.board.nodes {
		if c.at.Before(cutoff) {
			delete(n.board.nodes, id)
			continue
		}
		out.Online += c.Online
		if id == leader && c.Term == term && term != 0 {
			out.ChatsToday, out.ChatsEndedToday = c.Chats, c.Ended
			out.AvgChatLength = time.Duration(c.AvgMS) * time.Millisecond
		}
	}
	return out
}
