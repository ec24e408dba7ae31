//go:build e2e

package proto

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Two Chromium tabs that signal only through Clean, with no parley server
// in between: audio, video and a data channel, a renegotiation adding a
// video track in a stream of its own, an ICE restart; and with hide-IP on
// both sides through a TURN relay. The lead's e2e tests prove the same
// through the whole server.

const chromiumPath = "/usr/bin/chromium"

// peerPage is the page each tab runs: one RTCPeerConnection whose signals
// queue in window.out for the test to take, clean and apply on the other
// tab with window.apply.
const peerPage = `<!doctype html><html><body><script>
'use strict';
window.out = [];
window.seen = { open: false, messages: [], streams: [] };
let pc, dc, pending = null;
function use(ch) {
  dc = ch;
  ch.onopen = () => { window.seen.open = true; };
  ch.onmessage = (e) => { window.seen.messages.push(e.data); if (!e.data.startsWith('echo:')) ch.send('echo:' + e.data); };
}
window.setup = async (role, relayURL) => {
  const conf = { bundlePolicy: 'max-bundle' };
  if (relayURL) { conf.iceServers = [{ urls: relayURL, username: 'u', credential: 'p' }]; conf.iceTransportPolicy = 'relay'; }
  pc = new RTCPeerConnection(conf);
  pc.onicecandidate = (e) => { if (e.candidate) window.out.push({ candidate: e.candidate.toJSON() }); };
  pc.ontrack = (e) => {
    const s = e.streams[0];
    if (!s || window.seen.streams.includes(s.id)) return;
    window.seen.streams.push(s.id);
    const v = document.createElement('video');
    v.autoplay = true; v.muted = true; v.playsInline = true; v.srcObject = s;
    document.body.appendChild(v);
  };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  if (role === 'offerer') {
    for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendrecv', streams: [stream] });
    use(pc.createDataChannel('chat'));
  } else {
    pc.ondatachannel = (e) => use(e.channel);
    pending = stream;
  }
  return true;
};
window.offer = async (iceRestart) => {
  await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
  window.out.push({ sdp: { type: 'offer', sdp: pc.localDescription.sdp } });
  return true;
};
window.addVideo = async () => {
  const s = await navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120 } });
  pc.addTrack(s.getVideoTracks()[0], s);
  return true;
};
window.apply = async (d) => {
  if (d.candidate) { await pc.addIceCandidate(d.candidate); return true; }
  await pc.setRemoteDescription(d.sdp);
  if (d.sdp.type !== 'offer') return true;
  if (pending) {
    for (const t of pending.getTracks()) {
      const tr = pc.getTransceivers().find((x) => x.receiver.track.kind === t.kind && !x.sender.track);
      if (tr) { await tr.sender.replaceTrack(t); tr.sender.setStreams(pending); tr.direction = 'sendrecv'; }
    }
    pending = null;
  }
  await pc.setLocalDescription(await pc.createAnswer());
  window.out.push({ sdp: { type: 'answer', sdp: pc.localDescription.sdp } });
  return true;
};
window.take = () => JSON.stringify(window.out.splice(0));
window.send = (m) => { dc.send(m); return true; };
window.report = async () => {
  const st = { open: window.seen.open, messages: window.seen.messages, streams: window.seen.streams.length,
    ice: pc.iceConnectionState, signaling: pc.signalingState, videoReceivers: 0, framesDecoded: [],
    remoteUfrag: '', localType: '', remoteType: '' };
  const m = /a=ice-ufrag:(\S+)/.exec(pc.remoteDescription ? pc.remoteDescription.sdp : '');
  if (m) st.remoteUfrag = m[1];
  const stats = await pc.getStats();
  stats.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') st.framesDecoded.push(r.framesDecoded || 0);
    if (r.type === 'inbound-rtp') st.debug = (st.debug || '') + ' in:' + r.kind + ':' + r.ssrc + ':p' + r.packetsReceived + ':fr' + (r.framesReceived||0) + ':dec' + (r.framesDecoded||0) + ':' + ((stats.get(r.codecId)||{}).mimeType||'');
    if (r.type === 'outbound-rtp') st.debug = (st.debug || '') + ' out:' + r.kind + ':' + r.ssrc + ':p' + r.packetsSent + ':' + ((stats.get(r.codecId)||{}).mimeType||'') + ':' + (r.qualityLimitationReason||'');
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      const p = stats.get(r.selectedCandidatePairId);
      st.localType = (stats.get(p.localCandidateId) || {}).candidateType || '';
      st.remoteType = (stats.get(p.remoteCandidateId) || {}).candidateType || '';
    }
  });
  return JSON.stringify(st);
};
</script></body></html>`

type pageStatus struct {
	Open          bool     `json:"open"`
	Messages      []string `json:"messages"`
	Streams       int      `json:"streams"`
	ICE           string   `json:"ice"`
	Signaling     string   `json:"signaling"`
	FramesDecoded []int    `json:"framesDecoded"`
	RemoteUfrag   string   `json:"remoteUfrag"`
	LocalType     string   `json:"localType"`
	RemoteType    string   `json:"remoteType"`
	Debug         string   `json:"debug"` // the RTP streams, for failure messages
}

// videoFrames reports whether at least n inbound video streams decoded frames.
func (s pageStatus) videoFrames(n int) bool {
	ok := 0
	for _, f := range s.FramesDecoded {
		if f > 0 {
			ok++
		}
	}
	return ok >= n
}

type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	hide bool
	sent int
}

func (p *tab) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, expr[:min(len(expr), 60)], err)
	}
	s, _ := v.(string)
	return s
}

func (p *tab) status() pageStatus {
	p.t.Helper()
	var st pageStatus
	if err := json.Unmarshal([]byte(p.eval(`window.report()`)), &st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// pump carries what from has queued to to, through Clean as the server does.
func pump(t *testing.T, from, to *tab) {
	t.Helper()
	var signals []SignalData
	if err := json.Unmarshal([]byte(from.eval(`window.take()`)), &signals); err != nil {
		t.Fatal(err)
	}
	for _, d := range signals {
		out, ok, err := d.Clean(from.hide)
		if err != nil {
			t.Fatalf("%s: Clean refused a signal of Chromium: %v\n%+v", from.name, err, d)
		}
		if !ok {
			continue
		}
		if out.Candidate != nil && from.hide && !strings.Contains(out.Candidate.Candidate, " typ relay ") {
			t.Fatalf("%s: a non-relay candidate passed under hide", from.name)
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		to.eval(`window.apply(` + string(b) + `)`)
		from.sent++
	}
}

// until pumps both ways until cond holds for both tabs.
func until(t *testing.T, a, b *tab, what string, cond func(a, b pageStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		pump(t, a, b)
		pump(t, b, a)
		sa, sb := a.status(), b.status()
		if cond(sa, sb) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s %+v\n%s %+v", what, a.name, sa, b.name, sb)
		}
		time.Sleep(50 * time.Millisecond) // polling two browsers; there is no event to wait on from Go
	}
}

func newTabs(t *testing.T) (*tab, *tab) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is required at %s: %v", chromiumPath, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(peerPage))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-background-networking", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	first, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	var tabs [2]*tab
	for i, name := range []string{"offerer", "answerer"} {
		ctx := first
		if i > 0 {
			var c context.CancelFunc
			ctx, c = chromedp.NewContext(first)
			t.Cleanup(c)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tabs[i] = &tab{t: t, name: name, ctx: ctx}
	}
	return tabs[0], tabs[1]
}

func TestChromiumConnectsThroughClean(t *testing.T) {
	a, b := newTabs(t)
	a.eval(`window.setup('offerer')`)
	b.eval(`window.setup('answerer')`)
	a.eval(`window.offer(false)`)
	until(t, a, b, "the data channel and video both ways", func(sa, sb pageStatus) bool {
		return sa.Open && sb.Open && sa.videoFrames(1) && sb.videoFrames(1)
	})
	a.eval(`window.send('hello')`)
	until(t, a, b, "a message and its echo", func(sa, sb pageStatus) bool {
		return strings.Contains(strings.Join(sb.Messages, ","), "hello") && strings.Contains(strings.Join(sa.Messages, ","), "echo:hello")
	})

	// Renegotiation: a second video track in a stream of its own.
	a.eval(`window.addVideo()`)
	a.eval(`window.offer(false)`)
	until(t, a, b, "the second video", func(_, sb pageStatus) bool {
		return sb.Streams == 2 && sb.videoFrames(2) && sb.Signaling == "stable"
	})

	// ICE restart: new credentials, the connection recovers and carries data.
	ufrag := b.status().RemoteUfrag
	a.eval(`window.offer(true)`)
	until(t, a, b, "the ICE restart", func(sa, sb pageStatus) bool {
		return sb.RemoteUfrag != ufrag && sa.Signaling == "stable" && sa.ICE == "connected" && sb.ICE == "connected"
	})
	a.eval(`window.send('after restart')`)
	until(t, a, b, "a message after the restart", func(sa, _ pageStatus) bool {
		return strings.Contains(strings.Join(sa.Messages, ","), "echo:after restart")
	})
	t.Logf("offerer sent %d signals, answerer %d, all through Clean", a.sent, b.sent)
}

func TestChromiumConnectsThroughCleanHidden(t *testing.T) {
	turnURL := startTURN(t)
	a, b := newTabs(t)
	a.hide, b.hide = true, true
	a.eval(`window.setup('offerer', '` + turnURL + `')`)
	b.eval(`window.setup('answerer', '` + turnURL + `')`)
	a.eval(`window.offer(false)`)
	until(t, a, b, "the data channel and video through the relay", func(sa, sb pageStatus) bool {
		return sa.Open && sb.Open && sa.videoFrames(1) && sb.videoFrames(1)
	})
	if st := a.status(); st.LocalType != "relay" || st.RemoteType != "relay" {
		t.Errorf("the selected pair is %s-%s, not relay-relay", st.LocalType, st.RemoteType)
	}
}
