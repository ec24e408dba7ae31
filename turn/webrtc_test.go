package turn

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// newRelayOnlyPeer is a pion PeerConnection that may only use relay
// candidates, from the ICE servers the relay hands to a session, and that
// touches nothing but loopback.
func newRelayOnlyPeer(t *testing.T, servers []ICEServer) *webrtc.PeerConnection {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.LoggerFactory = quietLogs{}
	var ice []webrtc.ICEServer
	for _, s := range servers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{
		ICEServers:         ice,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// localDescription waits for ICE gathering to finish, so that the
// description carries every candidate (no trickle needed in-process).
func localDescription(t *testing.T, pc *webrtc.PeerConnection, sdp webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(sdp); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("ICE gathering did not complete")
	}
	return *pc.LocalDescription()
}

// Two pion peers forced onto the relay exchange a canary over a data
// channel; both select a relay pair, and no datagram the relay read or
// wrote holds the canary in clear (DTLS encrypts it end to end).
func TestWebRTCThroughRelay(t *testing.T) {
	var cap capture
	ts := newTestServer(t, func(c *Config) { c.WrapPacketConn = cap.wrap })
	now := time.Now()
	alice := newRelayOnlyPeer(t, ts.ICEServers(ts.live("alice"), now))
	bob := newRelayOnlyPeer(t, ts.ICEServers(ts.live("bob"), now))
	for _, s := range [][]ICEServer{ts.ICEServers("alice-sid", now), ts.ICEServers("bob-sid", now)} {
		ts.secrets = append(ts.secrets, s[0].Credential)
	}

	canary := []byte("CANARY-7f3a9c-never-in-clear")
	echoed := make(chan []byte, 1)
	bob.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.Send(m.Data) })
	})
	dc, err := alice.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() { _ = dc.Send(canary) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case echoed <- m.Data:
		default:
		}
	})

	offer, err := alice.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SetRemoteDescription(localDescription(t, alice, offer)); err != nil {
		t.Fatal(err)
	}
	answer, err := bob.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SetRemoteDescription(localDescription(t, bob, answer)); err != nil {
		t.Fatal(err)
	}

	select {
	case got := <-echoed:
		if !bytes.Equal(got, canary) {
			t.Fatalf("echo %q, want the canary", got)
		}
	case <-time.After(waitFor):
		t.Fatal("the data channel carried nothing")
	}

	for name, pc := range map[string]*webrtc.PeerConnection{"alice": alice, "bob": bob} {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected pair: %v", name, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: selected pair %s -> %s, want relay -> relay", name, pair.Local.Typ, pair.Remote.Typ)
		}
	}

	found, packets := cap.contains(canary)
	if packets == 0 {
		t.Fatal("the capture saw nothing: the relay did not carry the call")
	}
	if found {
		t.Error("the canary crossed the relay in clear")
	}
	if st := ts.Stats(); st.PacketsRelayed == 0 || st.BytesRelayed == 0 || st.AllocationsTotal < 2 {
		t.Errorf("stats %+v", st)
	}
}
