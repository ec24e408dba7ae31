package proto

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Two pion PeerConnections on loopback that signal only through Clean, as
// the server forwards: audio, video and a data channel, then a renegotiation
// that adds a track, then an ICE restart; and the same through a TURN relay
// with the hide-IP policy on both sides.

const pionWait = 20 * time.Second

func TestPionConnectsThroughClean(t *testing.T) {
	a, b := newPionPair(t, false, nil)
	a.addTracks(t, "camera-a")
	b.addTracks(t, "camera-b")
	a.negotiate(t, nil)
	a.expectOpen(t)
	b.expectOpen(t)
	a.roundTrip(t, b, "hello")

	// Each side receives the other's audio and video, in one stream (the
	// derived stream ID), with IDs that are not the sender's own.
	for _, p := range []*pionPeer{a, b} {
		audio, video := p.waitTrack(t, "audio"), p.waitTrack(t, "video")
		if audio.StreamID() != video.StreamID() {
			t.Errorf("%s: audio and video arrived in different streams %q %q", p.name, audio.StreamID(), video.StreamID())
		}
		if strings.HasPrefix(audio.StreamID(), "camera-") || audio.ID() == "audio" || video.ID() == "video" {
			t.Errorf("%s: the sender's own IDs passed: %q %q %q", p.name, audio.StreamID(), audio.ID(), video.ID())
		}
	}

	// Renegotiation: a screen share, a video track in a stream of its own.
	before := b.remoteVersion(t)
	screen := a.addVideo(t, "screen", "share-a")
	a.negotiate(t, nil)
	got := b.waitTrack(t, "screen")
	if first := b.waitTrack(t, "video"); got.StreamID() == first.StreamID() {
		t.Errorf("the second stream was merged into the first: %q", got.StreamID())
	}
	if after := b.remoteVersion(t); after <= before {
		t.Errorf("the session version did not grow across renegotiation: %d then %d", before, after)
	}
	_ = screen

	// ICE restart: new credentials reach the other side and the
	// connection keeps carrying data.
	oldUfrag := b.remoteUfrag(t)
	a.negotiate(t, &webrtc.OfferOptions{ICERestart: true})
	if newUfrag := b.remoteUfrag(t); newUfrag == oldUfrag {
		t.Errorf("the ICE restart kept the ufrag %q", oldUfrag)
	}
	a.waitICEConnected(t)
	a.roundTrip(t, b, "after restart")
	a.checkSignals(t)
	b.checkSignals(t)
}

func TestPionConnectsThroughCleanHidden(t *testing.T) {
	turnURL := startTURN(t)
	a, b := newPionPair(t, true, []webrtc.ICEServer{{URLs: []string{turnURL}, Username: "u", Credential: "p"}})
	a.addTracks(t, "camera-a")
	a.negotiate(t, nil)
	a.expectOpen(t)
	b.expectOpen(t)
	a.roundTrip(t, b, "hidden hello")
	b.waitTrack(t, "video")
	for _, p := range []*pionPeer{a, b} {
		p.mu.Lock()
		for _, c := range p.sentCandidates {
			if !strings.Contains(c, " typ relay ") || !strings.Contains(c, "raddr 0.0.0.0 rport 0") {
				t.Errorf("%s forwarded %q under hide", p.name, c)
			}
		}
		if len(p.sentCandidates) == 0 {
			t.Errorf("%s forwarded no candidate", p.name)
		}
		p.mu.Unlock()
	}
	a.checkSignals(t)
	b.checkSignals(t)
}

// pionPeer is one side. What it sends goes through Clean to the other
// side's inbox, which a goroutine applies in order, as a browser would.
type pionPeer struct {
	name  string
	pc    *webrtc.PeerConnection
	hide  bool
	other *pionPeer
	inbox chan SignalData

	open     chan struct{}
	answered chan struct{}
	messages chan string

	mu             sync.Mutex // guards the fields below
	channel        *webrtc.DataChannel
	tracks         map[string]*webrtc.TrackRemote
	trackAdded     chan struct{}
	sentSDPs       []string
	sentCandidates []string
	errs           []error
}

func newPionPair(t *testing.T, hide bool, servers []webrtc.ICEServer) (*pionPeer, *pionPeer) {
	t.Helper()
	a := newPionPeer(t, "offerer", hide, servers)
	b := newPionPeer(t, "answerer", hide, servers)
	a.other, b.other = b, a
	dc, err := a.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	a.useChannel(dc)
	b.pc.OnDataChannel(b.useChannel)
	return a, b
}

func newPionPeer(t *testing.T, name string, hide bool, servers []webrtc.ICEServer) *pionPeer {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetRelayAcceptanceMinWait(0)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	conf := webrtc.Configuration{ICEServers: servers}
	if hide {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		t.Fatal(err)
	}
	p := &pionPeer{
		name: name, pc: pc, hide: hide,
		inbox:      make(chan SignalData, 256),
		open:       make(chan struct{}),
		answered:   make(chan struct{}, 1),
		messages:   make(chan string, 16),
		tracks:     map[string]*webrtc.TrackRemote{},
		trackAdded: make(chan struct{}, 16),
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		p.send(SignalData{Candidate: &Candidate{
			Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex,
			UsernameFragment: init.UsernameFragment,
		}})
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		// A track counts once a packet of it has arrived.
		go func() {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			p.mu.Lock()
			p.tracks[trackKey(tr)] = tr
			p.mu.Unlock()
			p.trackAdded <- struct{}{}
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}()
	})
	done := make(chan struct{})
	go p.apply(done)
	t.Cleanup(func() {
		close(p.inbox)
		<-done
		_ = pc.Close()
	})
	return p
}

// trackKey names a received track by what it carries: "audio", "video",
// or "screen" for a video track that is not in the first video's stream.
func trackKey(tr *webrtc.TrackRemote) string {
	return tr.Kind().String() + "/" + tr.StreamID()
}

// send cleans a signal as the server does and delivers it.
func (p *pionPeer) send(d SignalData) {
	out, ok, err := d.Clean(p.hide)
	if err != nil {
		p.fail(err)
		return
	}
	if !ok {
		return
	}
	p.mu.Lock()
	if out.SDP != nil {
		p.sentSDPs = append(p.sentSDPs, out.SDP.SDP)
	} else if out.Candidate.Candidate != "" {
		p.sentCandidates = append(p.sentCandidates, out.Candidate.Candidate)
	}
	p.mu.Unlock()
	p.other.inbox <- *out
}

func (p *pionPeer) fail(err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

// apply applies what the other side sent, in order; an offer is answered.
func (p *pionPeer) apply(done chan struct{}) {
	defer close(done)
	for d := range p.inbox {
		if d.Candidate != nil {
			c := d.Candidate
			if err := p.pc.AddICECandidate(webrtc.ICECandidateInit{
				Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
			}); err != nil {
				p.fail(err)
			}
			continue
		}
		typ := webrtc.SDPTypeOffer
		if d.SDP.Type == "answer" {
			typ = webrtc.SDPTypeAnswer
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: d.SDP.SDP}); err != nil {
			p.fail(err)
			continue
		}
		if typ == webrtc.SDPTypeAnswer {
			p.answered <- struct{}{}
		} else {
			ans, err := p.pc.CreateAnswer(nil)
			if err != nil {
				p.fail(err)
				continue
			}
			// Sent before it is set, so that it leaves before the
			// candidates setting it gathers.
			p.send(SignalData{SDP: &SessionDescription{Type: "answer", SDP: ans.SDP}})
			if err := p.pc.SetLocalDescription(ans); err != nil {
				p.fail(err)
			}
		}
	}
}

// negotiate sends an offer; the other side answers through its inbox.
func (p *pionPeer) negotiate(t *testing.T, opts *webrtc.OfferOptions) {
	t.Helper()
	offer, err := p.pc.CreateOffer(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.send(SignalData{SDP: &SessionDescription{Type: "offer", SDP: offer.SDP}})
	if err := p.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.answered:
	case <-time.After(pionWait):
		t.Fatalf("%s: no answer; errors: %v", p.name, p.errors())
	}
}

func (p *pionPeer) addTracks(t *testing.T, stream string) {
	t.Helper()
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.pc.AddTrack(audio); err != nil {
		t.Fatal(err)
	}
	feed(t, audio)
	p.addVideo(t, "video", stream)
}

func (p *pionPeer) addVideo(t *testing.T, id, stream string) *webrtc.TrackLocalStaticSample {
	t.Helper()
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, id, stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.pc.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	feed(t, video)
	return video
}

// feed writes a sample every 20 ms until the test ends.
func feed(t *testing.T, tr *webrtc.TrackLocalStaticSample) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = tr.WriteSample(media.Sample{Data: []byte{0x10, 0x02, 0x03, 0x04}, Duration: 20 * time.Millisecond})
			}
		}
	}()
}

func (p *pionPeer) useChannel(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { close(p.open) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if string(m.Data) == "" {
			return
		}
		if !strings.HasPrefix(string(m.Data), "echo:") {
			_ = dc.SendText("echo:" + string(m.Data))
		}
		p.messages <- string(m.Data)
	})
	p.mu.Lock()
	p.channel = dc
	p.mu.Unlock()
}

func (p *pionPeer) expectOpen(t *testing.T) {
	t.Helper()
	select {
	case <-p.open:
	case <-time.After(pionWait):
		t.Fatalf("%s: the data channel did not open; errors: %v", p.name, p.errors())
	}
}

// roundTrip sends a message from p and waits for the other side's echo.
func (p *pionPeer) roundTrip(t *testing.T, other *pionPeer, msg string) {
	t.Helper()
	p.mu.Lock()
	dc := p.channel
	p.mu.Unlock()
	if err := dc.SendText(msg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		who *pionPeer
		msg string
	}{{other, msg}, {p, "echo:" + msg}} {
		select {
		case got := <-want.who.messages:
			if got != want.msg {
				t.Fatalf("%s got %q, want %q", want.who.name, got, want.msg)
			}
		case <-time.After(pionWait):
			t.Fatalf("%s: no %q; errors: %v", want.who.name, want.msg, p.errors())
		}
	}
}

// waitTrack waits until a track has delivered a packet: "audio", "video"
// (in the stream of the audio) or "screen" (a video track in a stream
// without audio).
func (p *pionPeer) waitTrack(t *testing.T, what string) *webrtc.TrackRemote {
	t.Helper()
	deadline := time.After(pionWait)
	for {
		if tr := p.findTrack(what); tr != nil {
			return tr
		}
		select {
		case <-p.trackAdded:
		case <-deadline:
			t.Fatalf("%s: no %s track; errors: %v", p.name, what, p.errors())
		}
	}
}

func (p *pionPeer) findTrack(what string) *webrtc.TrackRemote {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.tracks {
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		switch {
		case what == "audio" && !video,
			what == "video" && video && p.hasAudioStream(tr.StreamID()),
			what == "screen" && video && !p.hasAudioStream(tr.StreamID()):
			return tr
		}
	}
	return nil
}

func (p *pionPeer) hasAudioStream(stream string) bool {
	for _, tr := range p.tracks {
		if tr.Kind() == webrtc.RTPCodecTypeAudio && tr.StreamID() == stream {
			return true
		}
	}
	return false
}

func (p *pionPeer) remoteDescription(t *testing.T) *sdp.SessionDescription {
	t.Helper()
	rd := p.pc.CurrentRemoteDescription()
	if rd == nil {
		t.Fatalf("%s: no remote description", p.name)
	}
	// Parsed here: pion's own Unmarshal caches into the description it
	// shares with its goroutines.
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(rd.SDP); err != nil {
		t.Fatal(err)
	}
	return &parsed
}

func (p *pionPeer) remoteVersion(t *testing.T) uint64 {
	return p.remoteDescription(t).Origin.SessionVersion
}

func (p *pionPeer) remoteUfrag(t *testing.T) string {
	u, _ := p.remoteDescription(t).MediaDescriptions[0].Attribute("ice-ufrag")
	return u
}

func (p *pionPeer) waitICEConnected(t *testing.T) {
	t.Helper()
	waitUntil(t, p.name+" ICE connected", func() bool {
		s := p.pc.ICEConnectionState()
		return s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted
	})
}

func (p *pionPeer) errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}

// checkSignals fails on any error of the exchange, and checks that what
// was forwarded parses with pion's parser and cleans again to itself.
func (p *pionPeer) checkSignals(t *testing.T) {
	t.Helper()
	if errs := p.errors(); len(errs) > 0 {
		t.Errorf("%s: %v", p.name, errors.Join(errs...))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sentSDPs {
		checkCleanSDP(t, s, p.hide)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pionWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startTURN runs a pion TURN server on loopback and returns its URL.
func startTURN(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := turn.NewServer(turn.ServerConfig{
		Realm: "parley",
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			return turn.GenerateAuthKey(username, realm, "p"), username == "u"
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return "turn:" + conn.LocalAddr().String() + "?transport=udp"
}
