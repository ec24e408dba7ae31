// mesh.js: a room's connections: one Call (rtc.js) to each other member, addressed by peer id.
'use strict';

import { Call } from './rtc.js';
import { randomID } from './ids.js';

// Signals that come for a member before its Call exists (the camera is still opening): kept, up to
// this many per member, and applied when the Call is built.
const MAX_PENDING = 200;

/**
 * Mesh holds several Calls. Each Call's events are passed on with the member's peer id in the
 * detail: "message" {peer, id, text, ts, priv}, "typing" {peer, on}, "open" {peer}, "close" {peer},
 * "state" {peer, state}, "track" {peer, stream}, "safety" {peer, code}. Events of a Call that was
 * replaced or closed are dropped, so a member back after a drop is never confused with its old
 * connection.
 */
export class Mesh extends EventTarget {
  /**
   * @param {object} o
   * @param {() => Array} o.iceServers the current welcome's servers
   * @param {() => boolean} o.hideIP relay only, to every member
   * @param {() => MediaStream|null} o.stream local camera and microphone (video rooms)
   * @param {() => boolean} o.video a video room
   * @param {(peer: string, data: object) => void} o.onSignal sends a signal to one member
   */
  constructor(o) {
    super();
    this.o = o;
    this.calls = new Map(); // peer -> Call
    this.pending = new Map(); // peer -> [signal data]
  }

  /** connect starts a fresh Call with member peer; the newcomer offers, the members answer. */
  connect(peer, role) {
    this.close(peer);
    const video = this.o.video();
    const call = new Call({
      role,
      iceServers: this.o.iceServers(),
      hideIP: this.o.hideIP(),
      stream: video ? this.o.stream() : null,
      video,
      onSignal: (data) => { if (this.calls.get(peer) === call) this.o.onSignal(peer, data); },
    });
    this.calls.set(peer, call);
    for (const type of ['message', 'typing', 'open', 'close', 'state', 'track', 'safety']) {
      call.addEventListener(type, (ev) => {
        if (this.calls.get(peer) !== call) return;
        this.dispatchEvent(new CustomEvent(type, { detail: { ...ev.detail, peer } }));
      });
    }
    call.start().catch((err) => {
      console.warn('parley: offer failed', err && err.name);
      if (this.calls.get(peer) === call) call.setState('failed');
    });
    for (const data of this.pending.get(peer) || []) call.handleSignal(data);
    this.pending.delete(peer);
    return call;
  }

  /** handleSignal gives a member's signal to its Call, or keeps it until the Call is built. */
  handleSignal(from, data) {
    if (!from || !data) return;
    const call = this.calls.get(from);
    if (call) {
      call.handleSignal(data);
      return;
    }
    const list = this.pending.get(from) || [];
    if (list.length < MAX_PENDING) list.push(data);
    this.pending.set(from, list);
  }

  /** close ends the connection with member peer. */
  close(peer) {
    const call = this.calls.get(peer);
    this.calls.delete(peer);
    this.pending.delete(peer);
    if (call) call.close();
  }

  closeAll() {
    for (const peer of [...this.calls.keys()]) this.close(peer);
    this.pending.clear();
  }

  get(peer) { return this.calls.get(peer) || null; }

  /** send puts text on every open channel; it returns the message, or null if no channel is open. */
  send(text) {
    const id = randomID();
    let sent = null;
    for (const call of this.calls.values()) sent = call.send(text, { id }) || sent;
    return sent;
  }

  /** sendTo puts a private message on member peer's channel alone. */
  sendTo(peer, text) {
    const call = this.calls.get(peer);
    return call ? call.send(text, { priv: true }) : null;
  }

  typing(on) {
    for (const call of this.calls.values()) call.typing(on);
  }

  /** openCount is how many members this browser can talk to now. */
  openCount() {
    let n = 0;
    for (const call of this.calls.values()) if (call.open) n++;
    return n;
  }
}
