// protocol.js: parley's signaling WebSocket (wire protocol v1, and v2 for rooms), with reconnect and
// resume. No UI here.
'use strict';

export const VERSION = 1;
// VERSION_ROOMS is the protocol of the room page: signals name their member (peer) and come stamped
// with the sender (from).
export const VERSION_ROOMS = 2;

// Close codes after which the client reconnects and the cookie resumes the session: going away
// (idle/pong timeout), abnormal closure (network drop), internal error and service restart.
const RESUMABLE = new Set([1001, 1005, 1006, 1011, 1012]);

export const CLOSE_TAKEN_OVER = 4001;
export const CLOSE_BANNED = 4003;

/**
 * Connection speaks the protocol and emits one DOM event per server message type ("welcome",
 * "matched", "signal", ...; event.detail is the message) plus "open", "reconnecting" (detail:
 * {attempt, delay}) and "closed" (detail: {code, reason}) when it stops for good.
 */
export class Connection extends EventTarget {
  constructor(url = defaultURL(), version = VERSION) {
    super();
    this.url = url;
    this.version = version;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = false;
    this.welcome = null;
    this.ready = false; // welcome received on the current socket
  }

  /** connect opens the socket and says hello; it reconnects on its own after a resumable close. */
  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.addEventListener('open', () => {
      this.sendRaw({ type: 'hello', v: this.version });
      this.emit('open', {});
    });
    ws.addEventListener('message', (ev) => this.onMessage(ev));
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.stopped) return;
      if (RESUMABLE.has(ev.code)) {
        this.scheduleReconnect();
      } else {
        this.stopped = true;
        this.emit('closed', { code: ev.code, reason: ev.reason });
      }
    });
  }

  /** close ends the connection for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  onMessage(ev) {
    if (typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
    if (msg.type === 'welcome') {
      this.welcome = msg;
      this.ready = true;
      this.attempt = 0;
    }
    this.emit(msg.type, msg);
  }

  // Backoff: 0.5 s doubling to 8 s, with up to 50 % jitter so a restarted server is not hit by every
  // client in the same instant.
  scheduleReconnect() {
    const base = Math.min(8000, 500 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  sendRaw(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * join enters the queue. j: {mode, media, name, preference, interests, language, consent, adult,
   * preferenceConsent, hideIP, pow}; pow is the solution of the session's proof of work (pow.js).
   */
  join(j) {
    const msg = {
      type: 'join',
      mode: j.mode,
      media: j.media,
      consent: !!j.consent,
      adult: !!j.adult,
      hideIP: !!j.hideIP,
    };
    if (j.name) msg.name = j.name;
    if (j.mode === 'opposite') {
      msg.preference = j.preference;
      msg.preferenceConsent = !!j.preferenceConsent;
    }
    if (j.mode === 'interests') msg.interests = j.interests;
    if (j.language) msg.language = j.language;
    if (j.pow) msg.pow = j.pow;
    return this.sendRaw(msg);
  }

  /** signal passes {sdp} or {candidate} to the partner (or, in a room, to member peer) through the server. */
  signal(data, peer) { return this.sendRaw(peer ? { type: 'signal', peer, data } : { type: 'signal', data }); }
  next() { return this.sendRaw({ type: 'next' }); }

  /** leave ends the chat or leaves the queue; reason "failed" tells the partner this browser could not connect. */
  leave(reason) { return this.sendRaw(reason === 'failed' ? { type: 'leave', reason } : { type: 'leave' }); }

  /**
   * bye says the page is going away (closed or reloaded: the page cannot tell which). If the socket
   * closes soon after, the server holds the chat for the short bye window instead of the resume window.
   */
  bye() { return this.sendRaw({ type: 'bye' }); }
  report(reason) { return this.sendRaw({ type: 'report', reason }); }

  /** block ends the chat (or picks the last partner) and keeps the two apart; it is not a report. */
  block() { return this.sendRaw({ type: 'block' }); }

  // ---- group rooms (v2) ----

  /** roomCreate asks for a room. r: {name (the room's), memberName, media, max, hideIP, consent, adult} */
  roomCreate(r) {
    const msg = {
      type: 'room-create', media: r.media, consent: !!r.consent, adult: !!r.adult, hideIP: !!r.hideIP,
    };
    if (r.name) msg.name = r.name;
    if (r.memberName) msg.memberName = r.memberName;
    if (r.max) msg.max = r.max;
    return this.sendRaw(msg);
  }

  /** roomJoin enters the room that secret (the link's fragment) opens. */
  roomJoin(j) {
    const msg = { type: 'room-join', secret: j.secret, consent: !!j.consent, adult: !!j.adult, hideIP: !!j.hideIP };
    if (j.name) msg.name = j.name;
    return this.sendRaw(msg);
  }

  /** kick removes member peer (owner only); with ban they cannot come back while the room lives. */
  kick(peer, ban) { return this.sendRaw(ban ? { type: 'room-kick', peer, ban: true } : { type: 'room-kick', peer }); }
  lock(locked) { return this.sendRaw({ type: 'room-lock', locked: !!locked }); }
  reportMember(peer, reason) { return this.sendRaw({ type: 'report', peer, reason }); }
}

export function defaultURL(loc = location) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/ws';
}
