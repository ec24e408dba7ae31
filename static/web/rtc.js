// rtc.js: one RTCPeerConnection between two browsers: the "chat" data channel, media, state. A
// one-to-one chat has one Call; a room has one per member (mesh.js holds them).
'use strict';

import { safetyCode } from './safety.js';
import { randomID } from './ids.js';

export const MAX_TEXT = 2000;

/**
 * Call is one negotiation with the partner. Chat text and media go over it, browser to browser; the
 * server only carries the offer, the answer and the candidates (through onSignal).
 *
 * Events (DOM events, detail as noted): "message" {id, text, ts, priv}, "typing" {on}, "open", "close",
 * "state" {state: connecting|direct|relay|reconnecting|failed}, "track" {stream}, "safety" {code}.
 */
export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {'offerer'|'answerer'} o.role
   * @param {Array} o.iceServers from welcome
   * @param {boolean} o.hideIP only relay candidates (iceTransportPolicy "relay")
   * @param {MediaStream|null} o.stream local camera and microphone (video), or microphone (audio)
   * @param {boolean} o.video video mode (receive video even without a local camera)
   * @param {boolean} o.audio voice only: sound both ways, no video at all
   * @param {(data: object) => void} o.onSignal sends {sdp} or {candidate} to the partner
   */
  constructor(o) {
    super();
    this.role = o.role;
    this.onSignal = o.onSignal;
    this.closed = false;
    this.pendingCandidates = [];
    this.channel = null;
    this.state = '';
    this.statsTimer = 0;
    this.pc = new RTCPeerConnection({
      iceServers: o.iceServers || [],
      iceTransportPolicy: o.hideIP ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    const pc = this.pc;
    pc.addEventListener('icecandidate', (ev) => {
      if (!ev.candidate || this.closed) return; // null: end of candidates, nothing to send
      const c = ev.candidate;
      this.onSignal({
        candidate: {
          candidate: c.candidate,
          sdpMid: c.sdpMid,
          sdpMLineIndex: c.sdpMLineIndex,
          usernameFragment: c.usernameFragment,
        },
      });
    });
    pc.addEventListener('track', (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      this.emit('track', { stream });
    });
    pc.addEventListener('connectionstatechange', () => this.updateState());
    pc.addEventListener('iceconnectionstatechange', () => this.updateState());
    pc.addEventListener('datachannel', (ev) => {
      if (ev.channel.label === 'chat') this.useChannel(ev.channel);
    });

    if (o.video || o.audio) {
      const tracks = o.stream ? o.stream.getTracks() : [];
      for (const kind of o.video ? ['audio', 'video'] : ['audio']) {
        const track = tracks.find((tr) => tr.kind === kind);
        if (this.role === 'offerer') {
          if (track) pc.addTransceiver(track, { direction: 'sendrecv', streams: [o.stream] });
          else pc.addTransceiver(kind, { direction: 'recvonly' });
        } else if (track) {
          this.pendingTracks = this.pendingTracks || [];
          this.pendingTracks.push({ track, stream: o.stream });
        }
      }
    }
    if (this.role === 'offerer') {
      this.useChannel(pc.createDataChannel('chat', { ordered: true }));
    }
    this.setState('connecting');
  }

  /** start sends the offer (offerer); the answerer waits for it. */
  async start() {
    if (this.role !== 'offerer') return;
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.onSignal({ sdp: { type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp } });
  }

  /** handleSignal applies what the partner sent: {sdp} or {candidate}, one at a time and in order. */
  handleSignal(data) {
    this.chain = (this.chain || Promise.resolve())
      .then(() => this.applySignal(data))
      .catch((err) => {
        console.warn('parley: signal failed', err && err.name);
        this.setState('failed');
      });
    return this.chain;
  }

  async applySignal(data) {
    if (this.closed || !data || typeof data !== 'object') return;
    const pc = this.pc;
    if (data.sdp && typeof data.sdp.sdp === 'string') {
      const { type, sdp } = data.sdp;
      if (type === 'offer' && this.role === 'answerer') {
        await pc.setRemoteDescription({ type, sdp });
        // Our tracks go on the transceivers the offer created, so both sides send over one bundle.
        for (const { track, stream } of this.pendingTracks || []) {
          const tr = pc.getTransceivers().find((x) => x.receiver.track.kind === track.kind && !x.sender.track);
          if (tr) {
            await tr.sender.replaceTrack(track);
            tr.sender.setStreams(stream);
            tr.direction = 'sendrecv';
          }
        }
        this.pendingTracks = [];
        await pc.setLocalDescription(await pc.createAnswer());
        this.onSignal({ sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      } else if (type === 'answer' && this.role === 'offerer') {
        await pc.setRemoteDescription({ type, sdp });
      } else {
        return;
      }
      for (const c of this.pendingCandidates.splice(0)) await this.addCandidate(c);
      this.computeSafety();
    } else if (data.candidate && typeof data.candidate === 'object') {
      if (!pc.remoteDescription) this.pendingCandidates.push(data.candidate);
      else await this.addCandidate(data.candidate);
    }
  }

  async addCandidate(c) {
    try {
      await this.pc.addIceCandidate(c);
    } catch (err) {
      // A candidate the browser cannot use is not fatal: the others may still connect.
      console.debug('parley: candidate ignored', err && err.name);
    }
  }

  async computeSafety() {
    const l = this.pc.localDescription;
    const r = this.pc.remoteDescription;
    if (!l || !r) return;
    const code = await safetyCode(l.sdp, r.sdp);
    if (code && !this.closed) this.emit('safety', { code });
  }

  useChannel(ch) {
    this.channel = ch;
    ch.addEventListener('open', () => this.emit('open', {}));
    ch.addEventListener('close', () => this.emit('close', {}));
    ch.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string' || ev.data.length > MAX_TEXT * 4 + 200) return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!m || typeof m !== 'object') return;
      if (m.t === 'msg' && typeof m.text === 'string' && m.text.length > 0 && m.text.length <= MAX_TEXT) {
        this.emit('message', {
          id: typeof m.id === 'string' ? m.id.slice(0, 64) : '',
          text: m.text,
          ts: Number.isFinite(m.ts) ? m.ts : Date.now(),
          // In a room: sent to this member alone, over this channel only.
          priv: m.priv === true,
        });
      } else if (m.t === 'typing') {
        this.emit('typing', { on: m.on === true });
      }
    });
  }

  get open() { return !!this.channel && this.channel.readyState === 'open'; }

  /**
   * send puts one chat message on the data channel; it returns the message or null if not open.
   * priv marks a room's private message (it goes over this channel alone either way); id gives a
   * message sent to every member of a room one id on every channel.
   */
  send(text, { priv = false, id = '' } = {}) {
    if (!this.open || !text || text.length > MAX_TEXT) return null;
    const m = { t: 'msg', id: id || randomID(), text, ts: Date.now() };
    if (priv) m.priv = true;
    this.channel.send(JSON.stringify(m));
    return m;
  }

  typing(on) {
    if (this.open) this.channel.send(JSON.stringify({ t: 'typing', on: !!on }));
  }

  // The words shown follow the ICE state; which path is used comes from the selected candidate pair.
  updateState() {
    if (this.closed) return;
    const pc = this.pc;
    const s = pc.connectionState;
    if (s === 'failed') {
      this.setState('failed');
    } else if (s === 'disconnected' || pc.iceConnectionState === 'disconnected') {
      this.setState('reconnecting');
    } else if (s === 'connected') {
      this.refreshPath();
      // The path can change (e.g. a relay pair is replaced by a direct one): look again now and then.
      clearInterval(this.statsTimer);
      this.statsTimer = setInterval(() => this.refreshPath(), 5000);
    } else if (s === 'new' || s === 'connecting') {
      this.setState('connecting');
    }
  }

  async refreshPath() {
    const path = await this.selectedPath();
    if (path && !this.closed && this.pc.connectionState === 'connected') this.setState(path);
  }

  /** selectedPath is "relay" if either candidate of the selected pair is a relay candidate, else "direct". */
  async selectedPath() {
    let stats;
    try {
      stats = await this.pc.getStats();
    } catch {
      return null;
    }
    let pair = null;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId) || pair;
    });
    if (!pair) {
      stats.forEach((r) => {
        if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated && !pair) pair = r;
      });
    }
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    if (!local || !remote) return null;
    return local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'relay' : 'direct';
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', { state });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.statsTimer);
    try { if (this.channel) this.channel.close(); } catch { /* already closed */ }
    try { this.pc.close(); } catch { /* already closed */ }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** getMedia asks for the camera and microphone, or the microphone alone for audio; null if refused or absent. */
export async function getMedia(media = 'video') {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return null;
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: media === 'video' ? { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' } : false,
    });
  } catch {
    return null;
  }
}
