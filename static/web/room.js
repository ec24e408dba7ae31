// room.js: parley's group room page (/r): create a room, join one from its link, and talk in it over
// a mesh of peer connections, one to each member. The server only introduces the browsers.
'use strict';

import './room-i18n.js'; // the room's strings, before anything is labelled
import { Connection, VERSION_ROOMS, CLOSE_BANNED, CLOSE_TAKEN_OVER } from './protocol.js';
import { getMedia, MAX_TEXT } from './rtc.js';
import { Mesh } from './mesh.js';
import { t, detect, setLang, lang, errorMessage, has } from './i18n.js';
import * as ui from './ui.js';
import * as view from './room-view.js';
import * as transcript from './transcript.js';
import { readCreate, readJoin, fillSizes, secretFrom } from './room-form.js';
import { hasWebRTC, cameraProblem } from './support.js';

const { $ } = ui;

// A member whose data channel is not open this long after we started is shown as not connected.
const CONNECT_BOUND_MS = 30000;
// What this tab remembers of its room for a reload: its id, media, name and who we are in it. Never
// the secret: that stays in the address's fragment.
const roomKey = 'parley.room';

const state = {
  phase: 'form', // form | pending | room | ended | banned | closed
  pending: null, // a create or join sent and not answered yet: {kind, msg}
  secret: secretFrom(location.hash),
  room: null, // {id, you, owner, max, name, media, locked, hideIP}
  me: { name: '' },
  members: new Map(), // peer -> {peer, name, state, open, away, typing, muted, hidden, ...}
  stream: null,
  media: null, // the promise of the camera, once asked
  leavesPending: 0,
  resumeTimer: 0,
  typingOn: false,
  typingTimer: 0,
  hideIPTouched: false,
};

const conn = new Connection(undefined, VERSION_ROOMS);
const mesh = new Mesh({
  iceServers: () => (conn.welcome && conn.welcome.iceServers) || [],
  hideIP: () => !!(state.room && state.room.hideIP),
  stream: () => state.stream,
  video: () => isVideo(),
  onSignal: (peer, data) => conn.signal(data, peer),
});

function isVideo() { return !!state.room && state.room.media === 'video'; }

function link() {
  return state.secret ? location.origin + '/r#' + state.secret : '';
}

function saveRoom() {
  try {
    if (state.room) {
      const { id, media, name, you } = state.room;
      sessionStorage.setItem(roomKey, JSON.stringify({ id, media, name, you, me: state.me.name }));
    } else {
      sessionStorage.removeItem(roomKey);
    }
  } catch { /* storage disabled: a reload shows the form, and the server still resumes */ }
}

function loadRoom() {
  try {
    const r = JSON.parse(sessionStorage.getItem(roomKey) || 'null');
    return r && typeof r === 'object' && typeof r.id === 'string' ? r : null;
  } catch {
    return null;
  }
}

// ---- server messages ----

conn.addEventListener('welcome', (ev) => {
  const w = ev.detail;
  state.leavesPending = 0;
  ui.clearAlert();
  if (!state.hideIPTouched) $('create-hide-ip').checked = $('join-hide-ip').checked = !!w.hideIPDefault;
  fillSizes(w.limits);
  $('create-button').disabled = $('join-button').disabled = !hasWebRTC();
  clearTimeout(state.resumeTimer);
  const where = w.resumed ? w.state : 'idle';
  if (state.phase === 'room') {
    // room-joined follows at once when the server still has us in the room.
    if (where === 'paired') state.resumeTimer = setTimeout(() => endRoom('gone'), 5000);
    else endRoom(w.resumed ? 'over' : 'gone');
  } else if (state.phase === 'pending' && where !== 'paired') {
    // The socket dropped before the answer: ask again.
    send(state.pending);
  }
});

conn.addEventListener('room-created', (ev) => {
  const secret = secretFrom(ev.detail.secret);
  if (!secret) return;
  state.secret = secret;
  // The link is the address of this page from now on, so a reload keeps it; the fragment never
  // leaves the browser.
  history.replaceState(null, '', '/r#' + secret);
});

conn.addEventListener('room-joined', async (ev) => {
  const m = ev.detail;
  clearTimeout(state.resumeTimer);
  const fresh = !state.room || state.room.id !== m.room;
  state.pending = null;
  state.phase = 'room';
  state.room = {
    id: String(m.room || ''),
    you: String(m.you || ''),
    owner: String(m.owner || ''),
    max: Number(m.max) || 0,
    name: typeof m.roomName === 'string' ? m.roomName.slice(0, 48) : '',
    media: m.media === 'video' ? 'video' : 'text',
    locked: m.locked === true,
    hideIP: m.hideIP === true,
  };
  // Everyone listed gets a fresh connection, offered by us (the newcomer, or the one back after a
  // drop); the others start afresh with us when the server tells them.
  mesh.closeAll();
  const old = state.members;
  state.members = new Map();
  for (const p of Array.isArray(m.peers) ? m.peers : []) {
    if (p && typeof p.peer === 'string') state.members.set(p.peer, newMember(p, old.get(p.peer)));
  }
  for (const peer of old.keys()) if (!state.members.has(peer)) view.removeTile(peer);
  saveRoom();
  if (fresh) {
    view.clearTranscript();
    view.clearTiles();
    transcript.forgetOthers(state.room.id);
    for (const msg of transcript.load(state.room.id)) view.addMessage(msg);
    if (!state.members.size) view.addSystem('room.created');
  }
  render();
  view.showScreen('room', { focus: fresh });
  const room = state.room;
  await ensureMedia();
  if (state.room !== room) return;
  for (const peer of state.members.keys()) connectTo(peer, 'offerer');
});

conn.addEventListener('peer-joined', async (ev) => {
  const m = ev.detail;
  if (state.phase !== 'room' || typeof m.peer !== 'string') return;
  const prev = state.members.get(m.peer);
  mesh.close(m.peer); // back after a drop: its old connection is gone
  const member = newMember(m, prev);
  state.members.set(m.peer, member);
  view.addSystem(prev || m.resumed ? 'room.back' : 'room.joined', { name: view.memberName(member) });
  if (!prev) ui.announce(t('room.joined', { name: view.memberName(member) }));
  render();
  await ensureMedia();
  if (state.members.get(m.peer) === member) connectTo(m.peer, 'answerer');
});

conn.addEventListener('peer-left', (ev) => {
  const m = ev.detail;
  if (!state.room) return;
  const member = state.members.get(m.peer);
  mesh.close(m.peer);
  state.members.delete(m.peer);
  view.removeTile(m.peer);
  const reasons = ['leave', 'kicked', 'gone', 'closed', 'banned'];
  const reason = reasons.includes(m.reason) ? m.reason : 'leave';
  if (member) view.addSystem('room.left.' + reason, { name: view.memberName(member) });
  if (typeof m.owner === 'string' && m.owner && m.owner !== state.room.owner) {
    state.room.owner = m.owner;
    const owner = state.members.get(m.owner);
    if (m.owner === state.room.you) view.addSystem('room.nowOwner');
    else if (owner) view.addSystem('room.ownerIs', { name: view.memberName(owner) });
  }
  render();
});

conn.addEventListener('partner-reconnecting', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (!member || member.away) return;
  member.away = true;
  member.state = 'away';
  view.addSystem('room.away', { name: view.memberName(member) });
  render();
});

conn.addEventListener('kicked', (ev) => endRoom(ev.detail.ban === true ? 'kickedBan' : 'kicked'));

conn.addEventListener('room-lock', (ev) => {
  if (!state.room) return;
  state.room.locked = ev.detail.locked === true;
  view.addSystem(state.room.locked ? 'room.locked' : 'room.unlocked');
  render();
});

conn.addEventListener('signal', (ev) => {
  const m = ev.detail;
  if (state.phase === 'room' && typeof m.from === 'string' && m.data) mesh.handleSignal(m.from, m.data);
});

conn.addEventListener('left', () => { if (state.leavesPending > 0) state.leavesPending--; });

conn.addEventListener('banned', (ev) => showBanned(ev.detail.until));

conn.addEventListener('error', (ev) => {
  const code = String(ev.detail.code || 'internal');
  if (state.pending) {
    const kind = state.pending.kind;
    state.pending = null;
    state.phase = 'form';
    view.showScreen(kind);
    return formError(kind, has('error.' + code) ? 'error.' + code : '', errorMessage(code));
  }
  if (code === 'banned') return showBanned(null);
  // A signal or a leave that crossed a member's departure on the way is harmless.
  if (['not_paired', 'not_queued', 'no_such_peer'].includes(code) && state.phase !== 'room') return;
  if (['bad_signal', 'bad_sdp', 'bad_candidate', 'not_paired'].includes(code)) return;
  ui.showAlert(errorMessage(code), { timeout: 10000 });
});

conn.addEventListener('reconnecting', () => {
  // The browsers stay connected to each other meanwhile: only the server is away.
  if (state.phase === 'room' || state.phase === 'pending') ui.showAlert(t('state.server'));
});

conn.addEventListener('closed', (ev) => {
  const { code } = ev.detail;
  leaveMesh();
  if (state.phase === 'banned') return;
  if (code === CLOSE_BANNED) return showBanned(null);
  let key = 'closed.gone';
  if (code === CLOSE_TAKEN_OVER) key = 'closed.takenOver';
  else if (code === 1008) key = 'closed.policy';
  else if (code === 1009) key = 'closed.tooLarge';
  state.phase = 'closed';
  ui.clearAlert();
  ui.setText($('closed-title'), code === CLOSE_TAKEN_OVER ? 'closed.takenOverTitle' : 'closed.title');
  ui.setText($('closed-text'), key);
  view.showScreen('closed');
});

// ---- the mesh ----

function newMember(p, prev) {
  return {
    peer: p.peer,
    name: typeof p.name === 'string' ? p.name.slice(0, 32) : '',
    state: 'connecting',
    open: false,
    away: false,
    typing: false,
    typingTimer: 0,
    boundTimer: 0,
    // What this person chose for that member stays across the member's reconnects.
    muted: !!(prev && prev.muted),
    hidden: !!(prev && prev.hidden),
  };
}

function connectTo(peer, role) {
  const member = state.members.get(peer);
  if (!member) return;
  clearTimeout(member.boundTimer);
  try {
    mesh.connect(peer, role);
  } catch (err) {
    console.warn('parley: no peer connection', err && err.name);
    member.state = 'failed';
    render();
    return;
  }
  member.boundTimer = setTimeout(() => {
    if (state.members.get(peer) === member && !member.open && !member.away) {
      member.state = 'failed';
      render();
    }
  }, CONNECT_BOUND_MS);
  if (isVideo()) {
    const el = view.tile(peer, view.memberName(member));
    view.setTileHidden(el, member.hidden);
    el.querySelector('video').muted = member.muted;
  }
}

mesh.addEventListener('state', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (!member || member.away) return;
  const s = ev.detail.state;
  member.state = s === 'reconnecting' ? 'interrupted' : s;
  render();
});

mesh.addEventListener('open', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (!member) return;
  clearTimeout(member.boundTimer);
  member.open = true;
  member.away = false;
  if (member.state === 'away' || member.state === 'failed') member.state = 'connecting';
  render();
});

mesh.addEventListener('close', (ev) => {
  // The member's side closed the channel: their page went (closed, reloading). The server says
  // which soon (peer-joined again, or peer-left).
  const member = state.members.get(ev.detail.peer);
  if (!member) return;
  member.open = false;
  member.away = true;
  member.state = 'away';
  setMemberTyping(member, false);
  render();
});

mesh.addEventListener('message', (ev) => {
  const m = ev.detail;
  const member = state.members.get(m.peer);
  if (!member || !state.room) return;
  const msg = { from: 'them', name: member.name, priv: m.priv, id: m.id, text: m.text, ts: m.ts };
  transcript.append(state.room.id, msg);
  setMemberTyping(member, false);
  view.addMessage(msg);
});

mesh.addEventListener('typing', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (member) setMemberTyping(member, ev.detail.on);
});

mesh.addEventListener('track', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (!member || !isVideo()) return;
  const v = view.tile(ev.detail.peer, view.memberName(member)).querySelector('video');
  if (v.srcObject !== ev.detail.stream) {
    v.srcObject = ev.detail.stream;
    play(v);
  }
});

mesh.addEventListener('safety', (ev) => {
  const member = state.members.get(ev.detail.peer);
  if (member) member.safety = ev.detail.code;
});

function setMemberTyping(member, on) {
  clearTimeout(member.typingTimer);
  const changed = member.typing !== !!on;
  member.typing = !!on;
  // A lost "off" must not leave the indicator on for ever.
  if (on) member.typingTimer = setTimeout(() => setMemberTyping(member, false), 6000);
  if (changed) render();
}

/** play starts a member's video; a browser that refuses autoplay gets a button to tap. */
function play(v) {
  let p = null;
  try {
    p = v.play();
  } catch { /* no promise */ }
  if (!p || typeof p.then !== 'function') return;
  p.then(() => {}, (err) => {
    if (err && err.name === 'NotAllowedError' && v.srcObject) $('room-play').hidden = false;
  });
}

/** ensureMedia opens the camera once for a video room; the page goes on without it if refused. */
function ensureMedia() {
  if (!isVideo() || cameraProblem()) return Promise.resolve();
  if (!state.media) {
    state.media = state.stream ? Promise.resolve(state.stream) : getMedia();
    state.media.then((s) => {
      state.stream = s;
      if (!s) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
      showSelf();
    });
  }
  return state.media;
}

function showSelf() {
  if (!isVideo()) return;
  const el = view.tile('', '');
  const v = el.querySelector('video');
  // Assigning a stream, even the same one, restarts the element: only when it changed.
  if (v.srcObject !== state.stream) v.srcObject = state.stream;
  view.setTileHidden(el, !state.stream);
  $('room-mute').disabled = $('room-camera').disabled = !state.stream;
}

function stopMedia() {
  if (state.stream) for (const tr of state.stream.getTracks()) tr.stop();
  state.stream = null;
  state.media = null;
}

function leaveMesh() {
  mesh.closeAll();
  for (const m of state.members.values()) {
    clearTimeout(m.boundTimer);
    clearTimeout(m.typingTimer);
  }
}

// ---- drawing ----

function render() {
  if (!state.room) return;
  const members = [...state.members.values()];
  view.renderRoom(state.room, members.length + 1, link());
  view.renderMembers(state.me, members, state.room, isVideo());
  view.renderRecipients(members);
  view.renderTyping(members.filter((m) => m.typing).map((m) => view.memberName(m)));
  if (isVideo()) {
    showSelf();
    for (const m of members) if (mesh.get(m.peer)) view.tile(m.peer, view.memberName(m));
  }
  updateInput();
}

/** updateInput allows typing when the chosen recipient (or anyone, for everyone) can be reached. */
function updateInput() {
  const box = $('room-message');
  const to = $('room-to').value;
  const target = to ? state.members.get(to) : null;
  const on = state.phase === 'room' && (target ? target.open : mesh.openCount() > 0);
  box.disabled = !on;
  $('room-send').disabled = !on;
  delete box.dataset.i18nPlaceholder;
  if (!on) box.placeholder = t('room.waitAlone');
  else if (target) box.placeholder = t('room.placeholderTo', { name: view.memberName(target) });
  else box.placeholder = t('room.placeholder');
}

// ---- the end ----

/** endRoom leaves the room's screen and says why; the people can join again unless banned. */
function endRoom(reason) {
  clearTimeout(state.resumeTimer);
  leaveMesh();
  state.members.clear();
  view.clearTiles();
  stopMedia();
  state.room = null;
  saveRoom();
  state.phase = 'ended';
  setTyping(false);
  ui.clearAlert();
  ui.setText($('room-ended-text'), 'room.ended.' + reason);
  $('rejoin').hidden = !state.secret || reason === 'kickedBan';
  view.showScreen('ended');
  ui.announce(t('room.ended.' + reason));
}

function showBanned(until) {
  leaveMesh();
  stopMedia();
  state.room = null;
  saveRoom();
  state.phase = 'banned';
  const d = until ? new Date(until) : null;
  const ok = d && !Number.isNaN(d.getTime());
  $('banned-text').textContent = ok ? t('banned.until', { date: ui.formatDate(d) }) : t('error.banned');
  ui.clearAlert();
  view.showScreen('banned');
}

// ---- what the person does ----

function send(p) {
  if (!p) return false;
  return p.kind === 'create' ? conn.roomCreate(p.msg) : conn.roomJoin(p.msg);
}

function formError(kind, key, text = '') {
  const el = $(kind + '-error');
  if (key) ui.setText(el, key);
  else {
    delete el.dataset.i18n;
    el.textContent = text;
  }
  el.hidden = !key && !text;
}

/** begin sends a create or a join, after the camera for a video room (the others do not wait). */
async function begin(kind, msg, media) {
  if (!conn.ready) return formError(kind, 'form.connecting');
  state.me.name = msg.memberName || msg.name || '';
  if (media === 'video' && !cameraProblem()) {
    if (!state.stream) state.stream = await getMedia();
    if (!state.stream) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
    state.media = Promise.resolve(state.stream); // asked once: not again when the room opens
  }
  state.pending = { kind, msg };
  state.phase = 'pending';
  send(state.pending);
  view.showScreen('wait');
}

function onCreate(ev) {
  ev.preventDefault();
  formError('create', '');
  const r = readCreate(conn.welcome && conn.welcome.limits);
  if (r.error) {
    formError('create', r.error);
    return $(r.focus).focus();
  }
  if (r.create.media === 'video' && cameraProblem()) return formError('create', cameraProblem());
  state.secret = '';
  begin('create', r.create, r.create.media);
}

function onJoin(ev) {
  ev.preventDefault();
  formError('join', '');
  if (!state.secret) return formError('join', 'room.form.link');
  const r = readJoin(conn.welcome && conn.welcome.limits);
  if (r.error) {
    formError('join', r.error);
    return $(r.focus).focus();
  }
  // The room's media is not known before joining: the camera is asked for when it is a video room.
  begin('join', { ...r.join, secret: state.secret }, '');
}

function onLeave() {
  if (state.phase !== 'room') return;
  if (conn.leave()) state.leavesPending++;
  endRoom('you');
}

function onRejoin() {
  state.phase = 'form';
  $('join-name').value = state.me.name || $('join-name').value;
  $('join-note').hidden = true;
  view.showScreen('join');
}

function sendMessage() {
  const box = $('room-message');
  const text = box.value.trim();
  if (!text || box.disabled || !state.room) return;
  if (text.length > MAX_TEXT) return ui.showAlert(t('error.too_large'), { timeout: 5000 });
  const to = $('room-to').value;
  const target = to ? state.members.get(to) : null;
  const m = target ? mesh.sendTo(to, text) : mesh.send(text);
  if (!m) return;
  box.value = '';
  setTyping(false);
  const msg = { from: 'me', id: m.id, text: m.text, ts: m.ts };
  if (target) Object.assign(msg, { priv: true, to: view.memberName(target) });
  transcript.append(state.room.id, msg);
  view.addMessage(msg);
  box.focus();
}

function setTyping(on) {
  clearTimeout(state.typingTimer);
  if (on) state.typingTimer = setTimeout(() => setTyping(false), 3000);
  if (on === state.typingOn) return;
  state.typingOn = on;
  mesh.typing(on);
}

function onMemberAction(ev) {
  const b = ev.target.closest('button[data-action]');
  const li = b && b.closest('li[data-peer]');
  const member = li && state.members.get(li.dataset.peer);
  if (!member) return;
  const action = b.dataset.action;
  if (action === 'message') {
    $('room-to').value = member.open ? member.peer : '';
    updateInput();
    $('room-message').focus();
  } else if (action === 'mute' || action === 'hide') {
    // Only here, in this browser: the member still sends, this page does not play or show it.
    member[action === 'mute' ? 'muted' : 'hidden'] = !member[action === 'mute' ? 'muted' : 'hidden'];
    const el = view.tile(member.peer, view.memberName(member));
    el.querySelector('video').muted = member.muted;
    view.setTileHidden(el, member.hidden);
    render();
  } else if (action === 'kick') {
    const d = $('kick-dialog');
    d.dataset.peer = member.peer;
    $('kick-title').textContent = t('room.kickTitle', { name: view.memberName(member) });
    $('kick-ban').checked = false;
    d.returnValue = '';
    d.showModal();
  }
}

function onKickClose() {
  const d = $('kick-dialog');
  const peer = d.dataset.peer;
  delete d.dataset.peer;
  if (d.returnValue === 'kick' && peer && state.members.has(peer)) conn.kick(peer, $('kick-ban').checked);
}

function toggleTrack(kind, button, keyOn, keyOff) {
  if (!state.stream) return;
  const tracks = kind === 'audio' ? state.stream.getAudioTracks() : state.stream.getVideoTracks();
  const off = button.getAttribute('aria-pressed') !== 'true';
  for (const tr of tracks) tr.enabled = !off;
  ui.setToggle(button, off, keyOn, keyOff);
}

async function copyLink() {
  const input = $('room-link');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard (not a secure context, or refused): select it, so a person can copy it.
    input.select();
    return;
  }
  ui.announce(t('room.copied'));
  ui.setText($('copy-link'), 'room.copied');
  setTimeout(() => ui.setText($('copy-link'), 'room.copy'), 2000);
}

function updateCreateForm() {
  fillSizes(conn.welcome && conn.welcome.limits);
  const video = new FormData($('create-form')).get('media') === 'video';
  const problem = video ? cameraProblem() : '';
  $('create-camera').hidden = !problem;
  if (problem) ui.setText($('create-camera'), problem);
}

function switchLang(l) {
  setLang(l);
  for (const a of document.querySelectorAll('a[href^="/privacy"]')) a.href = '/privacy?lang=' + lang();
  fillSizes(conn.welcome && conn.welcome.limits);
  view.refresh();
  render();
}

function bind() {
  $('create-form').addEventListener('submit', onCreate);
  $('create-form').addEventListener('change', updateCreateForm);
  $('join-form').addEventListener('submit', onJoin);
  for (const id of ['create-hide-ip', 'join-hide-ip']) {
    $(id).addEventListener('change', () => { state.hideIPTouched = true; });
  }
  $('room-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendMessage(); });
  $('room-message').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendMessage();
    }
  });
  $('room-message').addEventListener('input', () => setTyping($('room-message').value.length > 0));
  $('room-to').addEventListener('change', updateInput);
  $('member-list').addEventListener('click', onMemberAction);
  $('kick-dialog').addEventListener('close', onKickClose);
  $('room-leave').addEventListener('click', onLeave);
  $('room-lock').addEventListener('click', () => { if (state.room) conn.lock(!state.room.locked); });
  $('room-mute').addEventListener('click', () => toggleTrack('audio', $('room-mute'), 'chat.unmute', 'chat.mute'));
  $('room-camera').addEventListener('click', () => toggleTrack('video', $('room-camera'), 'chat.cameraOn', 'chat.cameraOff'));
  $('copy-link').addEventListener('click', copyLink);
  $('room-play').addEventListener('click', () => {
    $('room-play').hidden = true;
    for (const v of document.querySelectorAll('#room-grid video')) play(v);
  });
  $('rejoin').addEventListener('click', onRejoin);
  $('reload').addEventListener('click', () => location.reload());
  for (const b of document.querySelectorAll('button[data-lang]')) b.addEventListener('click', () => switchLang(b.dataset.lang));
  // Another link pasted into this tab: join that room instead (unless in one).
  window.addEventListener('hashchange', () => {
    if (state.phase !== 'form') return;
    state.secret = secretFrom(location.hash);
    view.showScreen(state.secret ? 'join' : 'create');
  });
  // As the chat page: a page going away says so, and the server holds the place a few seconds only.
  window.addEventListener('pagehide', () => { if (conn.ready) conn.bye(); });
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && !conn.ws && !conn.stopped) conn.connect();
  });
}

function init() {
  switchLang(detect());
  bind();
  updateCreateForm();
  $('create-webrtc').hidden = $('join-webrtc').hidden = hasWebRTC();
  const saved = loadRoom();
  if (saved) {
    // A reload in a room: show it as it was while the cookie brings the session back.
    state.me.name = typeof saved.me === 'string' ? saved.me : '';
    state.phase = 'room';
    state.room = { id: saved.id, you: String(saved.you || ''), owner: '', max: 0, name: String(saved.name || ''),
      media: saved.media === 'video' ? 'video' : 'text', locked: false, hideIP: false };
    for (const msg of transcript.load(saved.id)) view.addMessage(msg);
    render();
    ui.showAlert(t('state.server'));
    view.showScreen('room', { focus: false });
    ensureMedia();
  } else {
    view.showScreen(state.secret ? 'join' : 'create', { focus: false });
  }
  conn.connect();
}

init();
