package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/pion/webrtc/v4"
)

// WebRTCConfig configures the PeerConnection of a chat.
type WebRTCConfig struct {
	// SettingEngine tunes pion (tests include loopback candidates). Nil uses
	// pion's defaults.
	SettingEngine *webrtc.SettingEngine
	// ForceRelay gathers relay candidates only, whatever the join said.
	ForceRelay bool
	// IgnoreHideIP gathers every candidate even when the join asked to hide
	// the address: a modified client, for tests of the server's policy.
	IgnoreHideIP bool
}

// LoopbackEngine is a pion setting engine for peers that all run on one
// host and reach each other over 127.0.0.1 (tests, the load generator). It
// accepts a relayed pair at once, as browsers do, instead of pion's 2 s wait.
func LoopbackEngine() *webrtc.SettingEngine {
	se := &webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetRelayAcceptanceMinWait(0)
	return se
}

// chatMessage is what travels over the data channel, browser to browser;
// the server never sees it.
type chatMessage struct {
	T    string `json:"t"`
	ID   string `json:"id,omitempty"`
	Text string `json:"text,omitempty"`
	TS   int64  `json:"ts,omitempty"`
	On   *bool  `json:"on,omitempty"`
}

// peer is the PeerConnection to one other member of a chat.
type peer struct {
	c     *Client
	pc    *webrtc.PeerConnection
	id    string // the other member's peer id ("" from a v1 server)
	offer bool   // this side makes the offer

	opened   chan struct{} // closed when the data channel opens
	openOnce sync.Once

	mu      sync.Mutex // guards the fields below
	dc      *webrtc.DataChannel
	pending []webrtc.ICECandidateInit // candidates before the remote description
	remote  bool
	closed  bool
}

func (c *Client) stopPeers() {
	c.mu.Lock()
	peers := c.peers
	c.peers = make(map[string]*peer)
	c.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
}

// stopPeer closes the connection to one member.
func (c *Client) stopPeer(id string) {
	c.mu.Lock()
	p := c.peers[id]
	delete(c.peers, id)
	c.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// startPeer starts a PeerConnection to the member id; offer says whether
// this side offers (a resumed chat negotiates again from scratch).
func (c *Client) startPeer(id string, offer, hide bool) {
	c.stopPeer(id)
	cfg := c.cfg.WebRTC
	var ice []webrtc.ICEServer
	c.mu.Lock()
	if c.welcome != nil {
		for _, s := range c.welcome.ICEServers {
			ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
		}
	}
	c.mu.Unlock()
	conf := webrtc.Configuration{ICEServers: ice}
	if cfg.ForceRelay || (hide && !cfg.IgnoreHideIP) {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	var api *webrtc.API
	if cfg.SettingEngine != nil {
		api = webrtc.NewAPI(webrtc.WithSettingEngine(*cfg.SettingEngine))
	} else {
		api = webrtc.NewAPI()
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		c.log.Error("new peer connection", "err", err)
		c.events.put(Event{Type: EventFailed, Peer: id})
		return
	}
	p := &peer{c: c, pc: pc, id: id, offer: offer, opened: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = pc.Close()
		return
	}
	c.peers[id] = p
	c.mu.Unlock()

	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		_ = p.sendSignal(&proto.SignalData{Candidate: &proto.Candidate{
			Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment,
		}})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			c.events.put(Event{Type: EventFailed, Peer: id})
		}
	})
	if offer {
		ordered := true
		dc, err := pc.CreateDataChannel("chat", &webrtc.DataChannelInit{Ordered: &ordered})
		if err != nil {
			c.log.Error("create data channel", "err", err)
			return
		}
		p.attach(dc)
		o, err := pc.CreateOffer(nil)
		if err == nil {
			err = pc.SetLocalDescription(o)
		}
		if err != nil {
			c.log.Error("create offer", "err", err)
			return
		}
		_ = p.sendSignal(&proto.SignalData{SDP: &proto.SessionDescription{Type: "offer", SDP: o.SDP}})
		return
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() == "chat" {
			p.attach(dc)
		}
	})
}

// sendSignal sends a signal to this peer: addressed in v2, to the only
// partner in v1.
func (p *peer) sendSignal(d *proto.SignalData) error {
	m := &proto.Inbound{Type: proto.TypeSignal, Data: d}
	if p.c.cfg.Version >= 2 {
		m.Peer = p.id
	}
	return p.c.SendJSON(m)
}

func (p *peer) attach(dc *webrtc.DataChannel) {
	p.mu.Lock()
	p.dc = dc
	p.mu.Unlock()
	dc.OnOpen(func() {
		p.openOnce.Do(func() { close(p.opened) })
		p.c.events.put(Event{Type: EventOpen, Peer: p.id})
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		var m chatMessage
		if err := json.Unmarshal(msg.Data, &m); err != nil || m.T != "msg" {
			return
		}
		p.c.events.put(Event{Type: EventText, Text: m.Text, Peer: p.id})
	})
}

// signal applies one signal from the partner.
func (p *peer) signal(d *proto.SignalData) {
	switch {
	case d.SDP != nil:
		desc := webrtc.SessionDescription{SDP: d.SDP.SDP}
		switch d.SDP.Type {
		case "offer":
			desc.Type = webrtc.SDPTypeOffer
		case "answer":
			desc.Type = webrtc.SDPTypeAnswer
		default:
			return
		}
		if err := p.pc.SetRemoteDescription(desc); err != nil {
			p.c.log.Warn("set remote description", "err", err)
			return
		}
		p.mu.Lock()
		p.remote = true
		pending := p.pending
		p.pending = nil
		p.mu.Unlock()
		for _, cand := range pending {
			_ = p.pc.AddICECandidate(cand)
		}
		if desc.Type == webrtc.SDPTypeOffer {
			answer, err := p.pc.CreateAnswer(nil)
			if err == nil {
				err = p.pc.SetLocalDescription(answer)
			}
			if err != nil {
				p.c.log.Warn("create answer", "err", err)
				return
			}
			_ = p.sendSignal(&proto.SignalData{SDP: &proto.SessionDescription{Type: "answer", SDP: answer.SDP}})
		}
	case d.Candidate != nil:
		init := webrtc.ICECandidateInit{
			Candidate:        d.Candidate.Candidate,
			SDPMid:           d.Candidate.SDPMid,
			SDPMLineIndex:    d.Candidate.SDPMLineIndex,
			UsernameFragment: d.Candidate.UsernameFragment,
		}
		p.mu.Lock()
		if !p.remote {
			p.pending = append(p.pending, init)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err := p.pc.AddICECandidate(init); err != nil {
			p.c.log.Debug("add candidate", "err", err)
		}
	}
}

func (p *peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_ = p.pc.Close()
}

// ErrNoChannel is returned by Send outside an open chat.
var ErrNoChannel = errors.New("client: no open data channel")

// Send sends text over the data channel to every member of the chat (the
// partner, in a one-to-one chat): peer to peer, never through the server.
func (c *Client) Send(text string) error {
	c.mu.Lock()
	peers := make([]*peer, 0, len(c.peers))
	for _, p := range c.peers {
		peers = append(peers, p)
	}
	c.mu.Unlock()
	if len(peers) == 0 {
		return ErrNoChannel
	}
	for _, p := range peers {
		if err := p.send(text); err != nil {
			return err
		}
	}
	return nil
}

// WaitOpen waits until the data channel to peerID is open at this end, or
// to every member of the chat when peerID is "". One end of a channel opens
// a moment before the other, so a side that saw its partner's open may not
// be able to send yet.
func (c *Client) WaitOpen(ctx context.Context, peerID string) error {
	c.mu.Lock()
	var peers []*peer
	for id, p := range c.peers {
		if peerID == "" || id == peerID {
			peers = append(peers, p)
		}
	}
	c.mu.Unlock()
	if len(peers) == 0 {
		return ErrNoChannel
	}
	for _, p := range peers {
		select {
		case <-p.opened:
		case <-ctx.Done():
			return fmt.Errorf("client: waiting for the data channel to %s: %w", p.id, ctx.Err())
		}
	}
	return nil
}

// SendTo sends text over the data channel to one member only.
func (c *Client) SendTo(peerID, text string) error {
	c.mu.Lock()
	p := c.peers[peerID]
	c.mu.Unlock()
	if p == nil {
		return ErrNoChannel
	}
	return p.send(text)
}

func (p *peer) send(text string) error {
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrNoChannel
	}
	b, _ := json.Marshal(chatMessage{T: "msg", Text: text, TS: time.Now().UnixMilli()})
	return dc.SendText(string(b))
}

// onlyPeer is the connection of a one-to-one chat, or nil.
func (c *Client) onlyPeer() *peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		return p
	}
	return nil
}

// SelectedPair is the ICE candidate pair of the one-to-one chat, or nil.
func (c *Client) SelectedPair() *webrtc.ICECandidatePair {
	p := c.onlyPeer()
	if p == nil {
		return nil
	}
	sctp := p.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return nil
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	return pair
}

// RemoteDescription is the partner's description as this peer received it
// (tests check what the hide-IP policy left in it).
func (c *Client) RemoteDescription() string {
	p := c.onlyPeer()
	if p == nil || p.pc.RemoteDescription() == nil {
		return ""
	}
	return p.pc.RemoteDescription().SDP
}

// You is this client's peer id in the current chat.
func (c *Client) You() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.you
}
