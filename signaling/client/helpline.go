package client

import (
	"github.com/parley-chat/parley/signaling/proto"
	"github.com/pion/webrtc/v4"
)

// The helpline: a visitor joins its queue; a volunteer (a connection with
// the staff cookie in Config.Header) goes on shift, answers offers and
// holds several chats at once, each with a PeerConnection of its own.

// JoinHelpline queues a visitor (the visitor cookie must be in
// Config.Header). hideIP is what the client asks; the server hides both
// ends' addresses whatever it says.
func (c *Client) JoinHelpline(name string, hideIP bool) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeJoin, Mode: proto.ModeHelpline, Media: proto.MediaText, Name: name,
		Consent: true, Adult: true, HideIP: proto.Bool(hideIP)})
}

// Shift goes on or off shift with a capacity (0: the server's default).
func (c *Client) Shift(on bool, capacity int) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeShift, On: proto.Bool(on), Capacity: capacity})
}

// Accept takes an offer.
func (c *Client) Accept(offer string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeOfferAccept, Offer: offer})
}

// Decline refuses an offer.
func (c *Client) Decline(offer string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeOfferDecline, Offer: offer})
}

// EndChat ends one helpline chat.
func (c *Client) EndChat(chat string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeChatEnd, Chat: chat})
}

// TimeOut gives the visitor of a chat a time-out of hours.
func (c *Client) TimeOut(chat string, hours int) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeChatTimeOut, Chat: chat, Hours: hours})
}

// Handover hands a chat to a colleague (their handle from the shift
// message), or back to the queue with volunteer "".
func (c *Client) Handover(chat, volunteer string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeChatHandover, Chat: chat, Volunteer: volunteer})
}

// PeerOfChat is the other member's peer id in a helpline chat.
func (c *Client) PeerOfChat(chat string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chats[chat]
}

// handleHelpline starts and stops the PeerConnection of one chat of a
// volunteer, leaving the others as they are.
func (c *Client) handleHelpline(m *proto.Outbound) {
	switch m.Type {
	case proto.TypeChat:
		c.mu.Lock()
		c.chats[m.Chat] = m.Peer
		c.mu.Unlock()
		if c.cfg.WebRTC != nil {
			c.startPeer(m.Peer, m.Role == proto.RoleOfferer, true)
		}
	case proto.TypeChatEnded:
		c.mu.Lock()
		peer := c.chats[m.Chat]
		delete(c.chats, m.Chat)
		c.mu.Unlock()
		if peer != "" {
			c.stopPeer(peer)
		}
	}
}

// SelectedPairWith is the ICE candidate pair of the connection to one
// member (a volunteer holds several), or nil.
func (c *Client) SelectedPairWith(peerID string) *webrtc.ICECandidatePair {
	c.mu.Lock()
	p := c.peers[peerID]
	c.mu.Unlock()
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
