// Package client is a Go client of parley's signaling protocol that owns a pion PeerConnection with a data channel: for tests, the load generator and anyone scripting a peer.
package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parley-chat/parley/signaling/proto"
)

// Config configures a client.
type Config struct {
	// URL of the signaling WebSocket, e.g. ws://127.0.0.1:8080/ws.
	URL string
	// Fallback are more URLs of the same service (the nodes of a cluster,
	// as a load balancer would spread them): a redial tries the next one
	// when one does not answer.
	Fallback []string
	// Origin is sent with the upgrade when set (a browser always sends one).
	Origin string
	// LocalAddr is the source address of the WebSocket (tests and the load
	// generator use several 127.0.0.x addresses).
	LocalAddr netip.Addr
	// Token resumes an existing session (the value of the session cookie).
	// Empty starts a new one.
	Token string
	// Version is the protocol version to speak: 2 (the default) or 1, as
	// an old client would.
	Version int
	// Header is added to the upgrade request (e.g. X-Forwarded-For in tests).
	Header http.Header
	// TLS configures wss:// connections (a private CA in tests). Nil uses
	// the system roots.
	TLS *tls.Config

	// WebRTC enables the PeerConnection; without it the client only speaks
	// the signaling protocol (the load generator).
	WebRTC *WebRTCConfig

	// Reconnect redials with backoff after a restart (1012), a lost
	// connection or an internal error, and resumes the session.
	Reconnect bool
	// MaxBackoff caps the backoff between redials. Default 8s.
	MaxBackoff time.Duration
	// HandshakeTimeout bounds a dial. Default 10s.
	HandshakeTimeout time.Duration

	Logger *slog.Logger
}

// Event is something that happened: a server message (Type is the message
// type and Msg the message), or a local event (the Type constants below).
type Event struct {
	Type string
	Msg  *proto.Outbound
	Text string // EventText: the text received over the data channel
	Code int    // EventClosed: the close code
	Peer string // EventOpen, EventText, EventFailed: whose connection (v2 peer id)
}

// Local event types.
const (
	EventOpen        = "dc-open"     // the data channel is open
	EventText        = "text"        // a text arrived over the data channel
	EventClosed      = "closed"      // the socket closed and will not be redialled
	EventReconnected = "reconnected" // the socket was redialled and welcomed again
	EventFailed      = "pc-failed"   // the PeerConnection failed
)

// Client is one person's connection to parley. Its methods are safe for
// concurrent use.
type Client struct {
	cfg    Config
	log    *slog.Logger
	events *mailbox
	done   chan struct{}

	writeMu sync.Mutex // serialises writes to ws

	mu         sync.Mutex // guards the fields below
	ws         *websocket.Conn
	token      string
	cookieName string
	welcome    *proto.Outbound
	closed     bool
	you        string            // this client's peer id in the current chat
	hideInChat bool              // the current chat hides this client's address
	peers      map[string]*peer  // the PeerConnections of the current chat, by peer id
	chats      map[string]string // a volunteer's helpline chats: chat id -> peer id (helpline.go)
	pow        powState
}

// Dial connects, says hello and waits for welcome.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 8 * time.Second
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Version == 0 {
		cfg.Version = proto.Version
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, events: newMailbox(), done: make(chan struct{}), token: cfg.Token,
		cookieName: proto.CookieName, peers: make(map[string]*peer), chats: make(map[string]string)}
	if strings.HasPrefix(cfg.URL, "wss:") {
		c.cookieName = proto.SecureCookieName
	}
	ws, welcome, err := c.connect(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	c.ws, c.welcome = ws, welcome
	c.pow.challenge = welcome.Pow
	go c.readLoop(ws)
	return c, nil
}

// ErrClosed is returned after Close or once the server closed for good.
var ErrClosed = errors.New("client: closed")

// CloseError is a close code the server sent during the handshake.
type CloseError struct{ Code int }

func (e *CloseError) Error() string {
	return fmt.Sprintf("client: closed by the server with %d", e.Code)
}

// target is the URL of a redial attempt: the first URL, then in turn the
// fallbacks, from the second attempt on.
func (c *Client) target(attempt int) string {
	urls := append([]string{c.cfg.URL}, c.cfg.Fallback...)
	return urls[attempt%len(urls)]
}

func (c *Client) connect(ctx context.Context, url string) (*websocket.Conn, *proto.Outbound, error) {
	d := websocket.Dialer{HandshakeTimeout: c.cfg.HandshakeTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024, TLSClientConfig: c.cfg.TLS}
	if c.cfg.LocalAddr.IsValid() {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: c.cfg.LocalAddr.AsSlice()}}
		d.NetDialContext = nd.DialContext
	}
	h := http.Header{}
	for k, v := range c.cfg.Header {
		h[k] = v
	}
	if c.cfg.Origin != "" {
		h.Set("Origin", c.cfg.Origin)
	}
	c.mu.Lock()
	token, name := c.token, c.cookieName
	c.mu.Unlock()
	if token != "" {
		// Beside any cookies of Header (the helpline's visitor or staff
		// cookie in tests).
		if old := h.Get("Cookie"); old != "" {
			h.Set("Cookie", old+"; "+name+"="+token)
		} else {
			h.Set("Cookie", name+"="+token)
		}
	}
	ws, resp, err := d.DialContext(ctx, url, h)
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("client: dial: %s: %w", resp.Status, err)
		}
		return nil, nil, fmt.Errorf("client: dial: %w", err)
	}
	for _, ck := range resp.Cookies() {
		if (ck.Name == proto.CookieName || ck.Name == proto.SecureCookieName) && ck.Value != "" {
			c.mu.Lock()
			c.token, c.cookieName = ck.Value, ck.Name
			c.mu.Unlock()
		}
	}
	if err := writeJSON(ws, &proto.Inbound{Type: proto.TypeHello, V: c.cfg.Version}); err != nil {
		ws.Close()
		return nil, nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return nil, nil, &CloseError{Code: ce.Code}
			}
			return nil, nil, fmt.Errorf("client: waiting for welcome: %w", err)
		}
		var m proto.Outbound
		if err := json.Unmarshal(frame, &m); err != nil {
			ws.Close()
			return nil, nil, fmt.Errorf("client: bad frame from server: %w", err)
		}
		if m.Type == proto.TypeWelcome {
			_ = ws.SetReadDeadline(time.Time{})
			return ws, &m, nil
		}
		// A banned message comes before the close.
		c.events.put(Event{Type: m.Type, Msg: &m})
	}
}

// Token is the session token (the cookie value), to resume elsewhere.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// Welcome is the last welcome message.
func (c *Client) Welcome() *proto.Outbound {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Join is a join request.
type Join struct {
	Mode       string
	Media      string
	Name       string
	Preference string
	Interests  []string
	HideIP     bool
	Language   string // one of welcome's Languages, or empty
}

// Join enters the queue (with consent and the adult confirmation given).
// The first join of a session solves the proof of work of welcome first,
// which takes a moment at the server's difficulty.
func (c *Client) Join(j Join) error {
	if j.Mode == "" {
		j.Mode = proto.ModeRandom
	}
	if j.Media == "" {
		j.Media = proto.MediaText
	}
	m := &proto.Inbound{
		Type: proto.TypeJoin, Mode: j.Mode, Media: j.Media, Name: j.Name, Consent: true, Adult: true,
		HideIP: proto.Bool(j.HideIP), Interests: j.Interests, Language: j.Language,
	}
	if j.Mode == proto.ModeOpposite {
		m.Preference, m.PreferenceConsent = j.Preference, true
	}
	return c.sendJoin(m)
}

// Next ends the chat and queues again.
func (c *Client) Next() error { return c.SendJSON(&proto.Inbound{Type: proto.TypeNext}) }

// Leave ends the chat or leaves the queue.
func (c *Client) Leave() error { return c.SendJSON(&proto.Inbound{Type: proto.TypeLeave}) }

// LeaveFailed ends the chat because this side could not connect to the
// partner, who is told so.
func (c *Client) LeaveFailed() error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeLeave, Reason: proto.ReasonFailed})
}

// Bye says the page is closing: unless this session comes back within the
// bye window, the partner is told the chat was closed.
func (c *Client) Bye() error { return c.SendJSON(&proto.Inbound{Type: proto.TypeBye}) }

// Room is a group room to create.
type Room struct {
	Name       string // the room's name
	MemberName string // this client's name in it
	Media      string // text (default) or video
	Max        int
	HideIP     bool
}

// CreateRoom creates a group room; room-created brings its secret (the
// link's fragment) and room-joined its state.
func (c *Client) CreateRoom(r Room) error {
	if r.Media == "" {
		r.Media = proto.MediaText
	}
	return c.SendJSON(&proto.Inbound{Type: proto.TypeRoomCreate, Name: r.Name, MemberName: r.MemberName, Media: r.Media,
		Max: r.Max, HideIP: proto.Bool(r.HideIP), Consent: true, Adult: true})
}

// JoinRoom joins the room a secret opens.
func (c *Client) JoinRoom(secret, name string, hideIP bool) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeRoomJoin, Secret: secret, Name: name, HideIP: proto.Bool(hideIP), Consent: true, Adult: true})
}

// Kick removes a member of the room this client owns; with ban they
// cannot come back while the room lives.
func (c *Client) Kick(peer string, ban bool) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeRoomKick, Peer: peer, Ban: ban})
}

// Lock closes the room this client owns to newcomers, or opens it again.
func (c *Client) Lock(locked bool) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeRoomLock, Locked: proto.Bool(locked)})
}

// ReportMember reports one member of a group room.
func (c *Client) ReportMember(peer, reason string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeReport, Peer: peer, Reason: reason})
}

// Peers are the ids of the members this client has a connection to.
func (c *Client) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.peers))
	for id := range c.peers {
		out = append(out, id)
	}
	return out
}

// RemoteDescriptionOf is the description member peer sent, as received.
func (c *Client) RemoteDescriptionOf(peer string) string {
	c.mu.Lock()
	p := c.peers[peer]
	c.mu.Unlock()
	if p == nil || p.pc.RemoteDescription() == nil {
		return ""
	}
	return p.pc.RemoteDescription().SDP
}

// Report reports the partner.
func (c *Client) Report(reason string) error {
	return c.SendJSON(&proto.Inbound{Type: proto.TypeReport, Reason: reason})
}

// Block ends the chat, or picks the last partner of the last minutes, and
// keeps the two apart for the rest of the session. It is not a report.
func (c *Client) Block() error { return c.SendJSON(&proto.Inbound{Type: proto.TypeBlock}) }

// SendJSON sends any message; tests use it to send what a real client would
// not.
func (c *Client) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendFrame(b)
}

// SendFrame sends one raw text frame.
func (c *Client) SendFrame(b []byte) error {
	c.mu.Lock()
	ws, closed := c.ws, c.closed
	c.mu.Unlock()
	if closed || ws == nil {
		return ErrClosed
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteMessage(websocket.TextMessage, b)
}

func writeJSON(ws *websocket.Conn, v any) error {
	_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteJSON(v)
}

// Event returns the next event, or an error when ctx ends or the client is
// closed with nothing left to read.
func (c *Client) Event(ctx context.Context) (Event, error) { return c.events.get(ctx) }

// WaitFor returns the first event of one of the given types, dropping the
// events before it.
func (c *Client) WaitFor(ctx context.Context, types ...string) (Event, error) {
	for {
		ev, err := c.events.get(ctx)
		if err != nil {
			return ev, fmt.Errorf("client: waiting for %s: %w", strings.Join(types, " or "), err)
		}
		for _, t := range types {
			if ev.Type == t {
				return ev, nil
			}
		}
	}
}

// Close ends the client: the PeerConnection and the socket.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ws, peers := c.ws, c.peers
	c.peers = map[string]*peer{}
	c.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	var err error
	if ws != nil {
		c.writeMu.Lock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.writeMu.Unlock()
		err = ws.Close()
	}
	<-c.done
	return err
}

// Drop closes the socket without a close frame, as a lost network would.
func (c *Client) Drop() {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.UnderlyingConn().Close()
	}
}

func (c *Client) readLoop(ws *websocket.Conn) {
	defer close(c.done)
	for {
		code := c.read(ws)
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed || !c.cfg.Reconnect || !retryable(code) {
			c.events.put(Event{Type: EventClosed, Code: code})
			c.events.close()
			return
		}
		var err error
		ws, err = c.redial()
		if err != nil {
			c.events.put(Event{Type: EventClosed, Code: code})
			c.events.close()
			return
		}
		c.events.put(Event{Type: EventReconnected})
	}
}

func retryable(code int) bool {
	switch code {
	case websocket.CloseGoingAway, websocket.CloseAbnormalClosure, websocket.CloseInternalServerErr,
		websocket.CloseServiceRestart, websocket.CloseTryAgainLater:
		return true
	}
	return false
}

// redial reconnects with exponential backoff and jitter until it gets a
// welcome, the client is closed, or the server says no for good.
func (c *Client) redial() (*websocket.Conn, error) {
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 60; attempt++ {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.HandshakeTimeout)
		ws, welcome, err := c.connect(ctx, c.target(attempt))
		cancel()
		if err == nil {
			c.mu.Lock()
			c.ws, c.welcome = ws, welcome
			if welcome.Pow != nil { // a new process that does not know the session did the work
				c.pow = powState{challenge: welcome.Pow, last: c.pow.last}
			}
			c.mu.Unlock()
			return ws, nil
		}
		var ce *CloseError
		if errors.As(err, &ce) && !retryable(ce.Code) {
			return nil, err
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		time.Sleep(sleep)
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
	return nil, errors.New("client: gave up reconnecting")
}

// read handles frames until the socket closes and returns the close code.
func (c *Client) read(ws *websocket.Conn) int {
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return websocket.CloseAbnormalClosure
		}
		var m proto.Outbound
		if err := json.Unmarshal(frame, &m); err != nil {
			c.log.Warn("bad frame from server", "err", err)
			continue
		}
		c.handle(&m)
	}
}

func (c *Client) handle(m *proto.Outbound) {
	switch m.Type {
	case proto.TypeQueued, proto.TypeMatched:
		c.powDone()
	case proto.TypeError:
		if m.Pow != nil && (m.Code == proto.CodePowRequired || m.Code == proto.CodeBadPow) {
			go c.retryJoin(m.Pow)
		}
	}
	switch m.Type {
	case proto.TypeMatched:
		c.stopPeers()
		c.mu.Lock()
		c.you = m.You
		c.mu.Unlock()
		if c.cfg.WebRTC != nil {
			c.startPeer(m.Peer, m.Role == proto.RoleOfferer, m.HideIP != nil && *m.HideIP)
		}
	case proto.TypeSignal:
		if p := c.peerFor(m.From); p != nil && m.Data != nil {
			p.signal(m.Data)
		}
	case proto.TypePartnerLeft, proto.TypeBanned, proto.TypeLeft, proto.TypeKicked:
		c.stopPeers()
	case proto.TypeRoomJoined:
		// A newcomer (or a member back after a drop) offers to everyone
		// already in the room; they answer.
		c.stopPeers()
		c.mu.Lock()
		c.you, c.hideInChat = m.You, m.HideIP != nil && *m.HideIP
		c.mu.Unlock()
		if c.cfg.WebRTC != nil {
			for _, p := range m.Peers {
				c.startPeer(p.Peer, true, c.hideInChat)
			}
		}
	case proto.TypePeerJoined:
		if c.cfg.WebRTC != nil {
			c.mu.Lock()
			hide := c.hideInChat
			c.mu.Unlock()
			c.startPeer(m.Peer, false, hide)
		}
	case proto.TypePeerLeft:
		c.stopPeer(m.Peer)
	case proto.TypeChat, proto.TypeChatEnded:
		c.handleHelpline(m)
	}
	c.events.put(Event{Type: m.Type, Msg: m})
}

// peerFor finds the connection a signal is for: by the sender's peer id,
// or the only one (a v1 server stamps no sender).
func (c *Client) peerFor(from string) *peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[from]; p != nil {
		return p
	}
	if from == "" && len(c.peers) == 1 {
		for _, p := range c.peers {
			return p
		}
	}
	return nil
}

// mailbox is an unbounded event queue, so a slow test never blocks pion's
// callbacks or the read loop.
type mailbox struct {
	mu     sync.Mutex
	items  []Event
	closed bool
	ready  chan struct{}
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (m *mailbox) put(ev Event) {
	m.mu.Lock()
	if !m.closed {
		m.items = append(m.items, ev)
	}
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *mailbox) get(ctx context.Context) (Event, error) {
	for {
		m.mu.Lock()
		if len(m.items) > 0 {
			ev := m.items[0]
			m.items = m.items[1:]
			more := len(m.items) > 0 || m.closed
			m.mu.Unlock()
			if more {
				select {
				case m.ready <- struct{}{}:
				default:
				}
			}
			return ev, nil
		}
		closed := m.closed
		m.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		select {
		case <-m.ready:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
