// app.js: parley's browser client: wires the protocol, the peer connection and the page together.
'use strict';

import { Connection, CLOSE_BANNED, CLOSE_TAKEN_OVER } from './protocol.js';
import { Call, getMedia, MAX_TEXT } from './rtc.js';
import { t, detect, setLang, lang, errorMessage, has } from './i18n.js';
import * as ui from './ui.js';
import * as transcript from './transcript.js';
import * as notice from './notice.js';
import { readForm, fillPreferences, fillLanguages, languageName } from './form.js';
import { hasWebRTC, mediaProblem, canNotify } from './support.js';
import * as pow from './pow.js';
import * as online from './online.js';
import * as keys from './keys.js';

const { $ } = ui;

// A chat whose data channel is not open this long after matched is ended for both, as failed: a
// person must not sit on "Connecting…" for ever, nor leave the partner there.
const CONNECT_BOUND_MS = 30000;

// What this tab is doing. The server is the authority; this is only what the page shows.
const state = {
  phase: 'idle', // idle | queued | chat | ended | banned | closed
  joinPending: false, // a join was sent and neither queued, matched nor an error came back yet
  lastJoin: null, // the last join, to queue again after "find someone new" or a reconnect
  chat: null, // {pair, name, mode, media, statement, shared, hideIP}
  shown: null, // the chat on screen: state.chat, or the one that ended and is still shown
  call: null, // the current Call
  stream: null, // camera and microphone, video mode only
  banned: false,
  typingOn: false,
  typingTimer: 0,
  theirTypingTimer: 0,
  hideIPTouched: false,
  pendingSignals: [], // signals that came before the call was built
  resumeTimer: 0, // ends a chat the server did not bring back after a resume
  // The partner is away: the server said partner-reconnecting (partnerAway), or their side closed
  // the data channel (channelGone). What goes wrong with the connection meanwhile is theirs, not
  // ours: the page says they are away, and waits for the server (matched again, or partner-left).
  partnerAway: false,
  channelGone: false,
  path: 'connecting', // connecting | direct | relay: what the chat's opening lines say
  connectTimer: 0,
  // leaves sent on this socket and not yet answered: their "left" is only the answer, not news
  // (a quick "find someone new" after "end" must not be undone by it).
  leavesPending: 0,
  powRetries: 0, // joins sent again with new work after pow_required or bad_pow
};

const chatKey = 'parley.chat';
const joinKey = 'parley.join';
const conn = new Connection();

function saveChat() {
  try {
    if (state.chat) sessionStorage.setItem(chatKey, JSON.stringify(state.chat));
    else sessionStorage.removeItem(chatKey);
  } catch { /* storage disabled: a reload then starts over */ }
}

function loadStored(k) {
  try {
    return JSON.parse(sessionStorage.getItem(k) || 'null');
  } catch {
    return null;
  }
}

// ---- server messages ----

conn.addEventListener('welcome', (ev) => {
  const w = ev.detail;
  state.leavesPending = 0; // a new socket: answers to the old one's leaves never come
  ui.clearAlert();
  fillPreferences(w.preferences || []);
  fillLanguages(w.languages);
  pow.offer(w.pow); // solved in the background while the person fills in the form
  if (!state.hideIPTouched) $('hide-ip').checked = !!w.hideIPDefault;
  $('start-button').disabled = !hasWebRTC();
  clearTimeout(state.resumeTimer);
  const where = w.resumed ? w.state : 'idle';
  if (state.phase === 'chat') {
    if (!w.resumed) {
      // The server no longer knows this session (expired, or restarted without it): the chat is over.
      endChat('gone');
    } else if (where === 'paired') {
      // matched or partner-reconnecting follows at once; silence would mean the chat is gone.
      state.resumeTimer = setTimeout(() => endChat('gone'), 5000);
    } else {
      // The chat ended while this page was away. A partner-left with the reason follows at once when
      // the server still knows it.
      state.resumeTimer = setTimeout(() => endChat('over'), 1000);
    }
  } else if ((state.phase === 'queued' || state.joinPending) && state.lastJoin && where !== 'queued') {
    // The server no longer has this session in a queue: queue again with the same choices.
    sendJoin(state.lastJoin);
  }
});

conn.addEventListener('queued', () => {
  state.joinPending = false;
  workDone();
  if (state.phase === 'chat') closeCall();
  state.phase = 'queued';
  ui.showScreen('queue');
});

conn.addEventListener('matched', (ev) => {
  clearTimeout(state.resumeTimer);
  workDone();
  startChat(ev.detail);
});

conn.addEventListener('signal', (ev) => {
  const data = ev.detail && ev.detail.data;
  if (!data) return;
  if (state.call) state.call.handleSignal(data);
  // The call is not built yet (the camera is still being opened): keep the offer and candidates.
  else if (state.phase === 'chat' && state.pendingSignals.length < 200) state.pendingSignals.push(data);
});

conn.addEventListener('partner-reconnecting', () => {
  clearTimeout(state.resumeTimer);
  if (state.phase !== 'chat') return;
  state.partnerAway = true;
  showAway();
});

conn.addEventListener('partner-left', (ev) => {
  clearTimeout(state.resumeTimer);
  const known = ['next', 'leave', 'gone', 'closed', 'failed', 'banned'];
  const reason = known.includes(ev.detail.reason) ? ev.detail.reason : 'leave';
  if (reason === 'next') {
    // The server puts us back in the queue itself; "queued" follows.
    closeCall();
    forgetChat();
    state.phase = 'queued';
    showQueue('queue.partnerNext');
    return;
  }
  endChat(reason);
});

conn.addEventListener('left', () => {
  if (state.leavesPending > 0) {
    state.leavesPending--;
    return;
  }
  // The server could not queue this session again after a next (docs/PROTOCOL.md, section 6.4).
  state.joinPending = false;
  if (state.phase === 'queued') {
    state.phase = 'idle';
    ui.showScreen('start');
  }
});

conn.addEventListener('reported', () => endChat('reported'));

conn.addEventListener('blocked', () => {
  if (state.phase === 'chat') return endChat('blocked');
  // The last partner, after the chat ended: the chat's end now says so.
  ui.setText($('ended-text'), 'left.blocked');
  $('block').hidden = true;
});

conn.addEventListener('banned', (ev) => showBanned(ev.detail.until));

conn.addEventListener('error', (ev) => {
  const code = String(ev.detail.code || 'internal');
  const text = errorMessage(code);
  if ((code === 'pow_required' || code === 'bad_pow') && ev.detail.pow && state.joinPending && state.lastJoin
    && state.powRetries < 3) {
    // The work expired (the form took long) or the server asks for it again: do the new work, join again.
    state.powRetries++;
    pow.offer(ev.detail.pow);
    sendJoin(state.lastJoin);
    return;
  }
  if (state.joinPending) {
    state.joinPending = false;
    state.phase = 'idle';
    ui.showScreen('start');
    // Keyed when the code has its own text, so a language switch translates it too.
    if (has('error.' + code)) showFormError('error.' + code);
    else showFormError('', text);
    return;
  }
  if (code === 'banned') return showBanned(null);
  // A signal or a leave that crossed the end of a chat on the way is harmless: say nothing.
  if (code === 'not_paired' || code === 'not_queued') return;
  if (['bad_signal', 'bad_sdp', 'bad_candidate'].includes(code) && state.phase !== 'chat') return;
  ui.showAlert(text, { timeout: 10000 });
});

conn.addEventListener('reconnecting', () => {
  if (state.phase !== 'banned' && state.phase !== 'closed') ui.showAlert(t('state.server'));
});

conn.addEventListener('closed', (ev) => {
  const { code } = ev.detail;
  closeCall();
  if (state.banned) return; // the banned screen already says until when
  if (code === CLOSE_BANNED) return showBanned(null);
  let key = 'closed.gone';
  if (code === CLOSE_TAKEN_OVER) key = 'closed.takenOver';
  else if (code === 1008) key = 'closed.policy';
  else if (code === 1009) key = 'closed.tooLarge';
  state.phase = 'closed';
  ui.clearAlert();
  const takenOver = code === CLOSE_TAKEN_OVER;
  ui.setText($('closed-title'), takenOver ? 'closed.takenOverTitle' : 'closed.title');
  ui.setText($('closed-text'), key);
  // Taken over by another tab of this browser: this tab can take the session back. (A reload
  // does: the new connection's hello takes over in turn.)
  $('take-back').hidden = !takenOver;
  $('reload').hidden = takenOver;
  ui.showScreen('closed');
});

// ---- chat ----

async function startChat(m) {
  state.joinPending = false;
  const media = ['video', 'audio'].includes(m.media) ? m.media : 'text';
  const prev = state.chat;
  closeCall();
  state.chat = {
    pair: String(m.pair || ''),
    name: m.partner && typeof m.partner.name === 'string' ? m.partner.name.slice(0, 32) : '',
    mode: ['random', 'opposite', 'interests'].includes(m.mode) ? m.mode : 'random',
    media,
    statement: m.statement && typeof m.statement === 'object' ? m.statement : null,
    shared: Array.isArray(m.shared) ? m.shared.filter((s) => typeof s === 'string').slice(0, 5) : [],
    hideIP: typeof m.hideIP === 'boolean' ? m.hideIP : !!(state.lastJoin && state.lastJoin.hideIP),
    language: typeof m.language === 'string' ? m.language.slice(0, 16) : '',
  };
  const samePair = prev && prev.pair === state.chat.pair;
  state.pendingSignals = [];
  state.partnerAway = false;
  state.channelGone = false;
  state.phase = 'chat';
  saveChat();
  transcript.forgetOthers(state.chat.pair);
  renderChat(!samePair || ui.screen() !== 'chat');
  if (!m.resumed) {
    ui.announce(t('chat.matched', { name: partnerName() }));
    notice.matched(partnerName());
  }

  if (media !== 'text' && !state.stream && !mediaProblem(media)) {
    state.stream = await getMedia(media);
    if (!state.stream) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
    if (state.phase !== 'chat' || !state.chat || state.chat.pair !== String(m.pair || '')) return;
  }
  if (media === 'video') $('local-video').srcObject = state.stream;
  // Without a camera (refused, missing, or no secure context) there is nothing to preview or mute.
  $('local-video').hidden = !state.stream;
  $('mute').disabled = !state.stream;
  $('camera').disabled = !state.stream;
  let call;
  try {
    call = new Call({
      role: m.role === 'offerer' ? 'offerer' : 'answerer',
      iceServers: (conn.welcome && conn.welcome.iceServers) || [],
      hideIP: state.chat.hideIP,
      stream: media !== 'text' ? state.stream : null,
      video: media === 'video',
      audio: media === 'audio',
      onSignal: (data) => conn.signal(data),
    });
  } catch (err) {
    // WebRTC was checked before join; a browser that still cannot build a connection ends the
    // chat for both at once instead of leaving two people on "Connecting…".
    console.warn('parley: no peer connection', err && err.name);
    failChat();
    return;
  }
  state.call = call;
  armConnectBound(call);
  call.addEventListener('state', (e) => { if (state.call === call) onCallState(e.detail.state); });
  call.addEventListener('open', () => {
    if (state.call !== call) return;
    clearTimeout(state.connectTimer);
    if (!away()) setInputEnabled(true);
  });
  call.addEventListener('close', () => {
    if (state.call !== call || call.closed) return;
    // The partner's side closed the channel: their page went away (closed or reloading). The
    // server says which soon; until then nothing can be sent. Should it say nothing, the bound
    // ends the chat.
    state.channelGone = true;
    showAway();
    armConnectBound(call);
  });
  call.addEventListener('message', (e) => { if (state.call === call) receive(e.detail); });
  call.addEventListener('typing', (e) => { if (state.call === call) showTheirTyping(e.detail.on); });
  call.addEventListener('safety', (e) => { if (state.call === call) $('safety-code').textContent = e.detail.code; });
  call.addEventListener('track', (e) => {
    if (state.call !== call) return;
    const v = $('remote-video');
    if (v.srcObject !== e.detail.stream) {
      v.srcObject = e.detail.stream;
      ui.playRemote();
    }
  });
  call.start().catch((err) => {
    console.warn('parley: offer failed', err && err.name);
    if (state.call === call) failChat();
  });
  for (const data of state.pendingSignals.splice(0)) call.handleSignal(data);
}

/**
 * armConnectBound ends the chat as failed when call has no open channel within the bound, unless
 * the server says the partner is away (then it decides: matched again, or partner-left) or this
 * page has lost the server (it cannot tell anyone; the resume after the reconnect starts a new
 * call).
 */
function armConnectBound(call) {
  clearTimeout(state.connectTimer);
  const check = () => {
    if (state.call !== call || call.open) return;
    if (state.partnerAway || !conn.ready) {
      state.connectTimer = setTimeout(check, 5000);
      return;
    }
    failChat();
  };
  state.connectTimer = setTimeout(check, CONNECT_BOUND_MS);
}

function away() { return state.partnerAway || state.channelGone; }

/** onCallState shows the state of the peer connection, as long as the partner is there. */
function onCallState(s) {
  if (away()) return; // their connection went, not ours: the page says they are away
  if (s === 'failed') {
    failChat();
  } else if (s === 'reconnecting') {
    ui.setConnState('interrupted');
    setInputEnabled(false, 'chat.waitInterrupted');
  } else if (s === 'direct' || s === 'relay') {
    state.path = s;
    renderPath();
    ui.setConnState(s);
    if (state.call && state.call.open) setInputEnabled(true);
  } else {
    ui.setConnState(s);
  }
}

function showAway() {
  setInputEnabled(false, 'chat.waitAway');
  showTheirTyping(false);
  if ($('conn-state').dataset.state !== 'partnerReconnecting') {
    ui.setConnState('partnerReconnecting');
    ui.announce(t('state.partnerReconnecting'));
  }
}

/** failChat ends a chat whose connection could not be made: the partner hears why at once. */
function failChat() {
  if (state.phase !== 'chat') return;
  sendLeave('failed');
  endChat('failed');
}

function partnerName() {
  return (state.shown && state.shown.name) || t('chat.stranger');
}

/** renderChat draws the chat screen for state.chat; fresh: reset transcript and focus. */
function renderChat(fresh) {
  const c = state.chat;
  state.shown = c;
  $('partner-name').textContent = partnerName();
  ui.setConnState('connecting');
  state.path = 'connecting';
  $('safety-code').textContent = '…';
  $('ended').hidden = true;
  $('typing').hidden = true;
  $('message-form').hidden = false;
  $('play-remote').hidden = true;
  for (const id of ['next', 'end', 'report', 'block']) $(id).hidden = false;
  renderIntro();
  $('video-area').hidden = c.media === 'text';
  document.body.dataset.media = c.media;
  ui.clearTranscript();
  for (const m of transcript.load(c.pair)) ui.addMessage(m, c.name);
  setInputEnabled(false, 'chat.waitConnecting');
  ui.showScreen('chat', { focus: fresh });
}

/** renderIntro writes the chat's opening lines: who, how they were matched, and the path. */
function renderIntro() {
  const c = state.shown;
  if (!c) return;
  let key = 'intro.random';
  if (c.mode === 'opposite') key = 'intro.opposite';
  else if (c.mode === 'interests') key = c.shared.length ? 'intro.interests' : 'intro.interestsNone';
  $('intro-who').textContent = t(key, { media: t('intro.media.' + c.media), name: partnerName() });
  renderStatement();
  $('shared').hidden = !c.shared.length;
  $('shared-list').textContent = c.shared.join(', ');
  $('intro-lang').hidden = !c.language;
  $('intro-lang').textContent = c.language ? t('intro.language', { language: languageName(c.language) }) : '';
  renderPath();
}

function renderPath() {
  let key = 'intro.path.connecting';
  if (state.path === 'direct') key = 'intro.path.direct';
  else if (state.path === 'relay') key = state.shown && state.shown.hideIP ? 'intro.path.relayHidden' : 'intro.path.relay';
  $('intro-path').textContent = t(key);
  $('intro-path').dataset.path = state.path;
}

function renderStatement() {
  const s = state.shown && state.shown.statement;
  $('statement').hidden = !s;
  if (s) {
    const texts = s.texts && typeof s.texts === 'object' ? s.texts : {};
    $('statement-text').textContent = String(texts[lang()] || s.text || '');
  }
}

/** setInputEnabled allows typing, or says in the box why one cannot (whyKey). */
function setInputEnabled(on, whyKey = 'chat.waitConnecting') {
  const box = $('message');
  box.disabled = !on;
  $('send').disabled = !on;
  box.dataset.i18nPlaceholder = on ? 'chat.placeholder' : whyKey;
  box.placeholder = t(box.dataset.i18nPlaceholder);
  // Focus moves to the message box once one can type, unless the person is elsewhere already.
  const here = document.activeElement;
  if (on && (!here || here === document.body || here === $('chat-title'))) box.focus();
}

function receive(m) {
  if (!state.chat) return;
  const msg = { from: 'them', id: m.id, text: m.text, ts: m.ts };
  transcript.append(state.chat.pair, msg);
  showTheirTyping(false);
  ui.addMessage(msg, state.chat.name);
  notice.message();
}

function sendMessage() {
  const box = $('message');
  const text = box.value.trim();
  if (!text || !state.call || box.disabled) return;
  if (text.length > MAX_TEXT) return ui.showAlert(t('error.too_large'), { timeout: 5000 });
  const m = state.call.send(text);
  if (!m) return;
  box.value = '';
  setTyping(false);
  const msg = { from: 'me', id: m.id, text: m.text, ts: m.ts };
  transcript.append(state.chat.pair, msg);
  ui.addMessage(msg, state.chat.name);
  box.focus();
}

function setTyping(on) {
  clearTimeout(state.typingTimer);
  if (on) state.typingTimer = setTimeout(() => setTyping(false), 3000);
  if (on === state.typingOn) return;
  state.typingOn = on;
  if (state.call) state.call.typing(on);
}

function showTheirTyping(on) {
  clearTimeout(state.theirTypingTimer);
  $('typing').hidden = !on;
  // A lost "off" must not leave the indicator on for ever.
  if (on) state.theirTypingTimer = setTimeout(() => { $('typing').hidden = true; }, 6000);
}

function closeCall() {
  clearTimeout(state.connectTimer);
  if (state.call) state.call.close();
  state.call = null;
  state.typingOn = false;
  $('remote-video').srcObject = null;
  $('play-remote').hidden = true;
  setInputEnabled(false);
}

function forgetChat() {
  state.chat = null;
  saveChat();
}

/** endChat keeps the transcript on screen, says why it ended and offers what to do next. */
function endChat(reason) {
  closeCall();
  if (state.phase !== 'chat' && reason !== 'reported' && reason !== 'blocked') return;
  state.phase = 'ended';
  state.partnerAway = false;
  state.channelGone = false;
  forgetChat();
  keys.hideEscHint();
  const key = 'left.' + reason;
  ui.setText($('ended-text'), key);
  $('ended').hidden = false;
  $('typing').hidden = true;
  $('message-form').hidden = true;
  $('next').hidden = true;
  $('end').hidden = true;
  // The last partner can still be reported for a while after the chat ended.
  $('report').hidden = reason === 'reported' || reason === 'banned';
  $('block').hidden = reason === 'blocked' || reason === 'reported' || reason === 'banned';
  ui.setConnState('ended');
  if (ui.screen() !== 'chat') ui.showScreen('chat');
  ui.announce(t(key));
  $('again').focus();
}

function showQueue(noteKey) {
  const el = $('queue-note');
  el.hidden = !noteKey;
  if (noteKey) el.dataset.i18n = noteKey;
  else delete el.dataset.i18n;
  el.textContent = noteKey ? t(noteKey) : '';
  ui.showScreen('queue');
}

function showBanned(until) {
  state.banned = true;
  state.phase = 'banned';
  closeCall();
  forgetChat();
  stopMedia();
  const d = until ? new Date(until) : null;
  const text = d && !Number.isNaN(d.getTime()) ? t('banned.until', { date: ui.formatDate(d) }) : t('error.banned');
  $('banned-text').textContent = text;
  $('banned-text').dataset.until = d && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
  ui.clearAlert();
  ui.showScreen('banned');
}

function stopMedia() {
  if (state.stream) for (const tr of state.stream.getTracks()) tr.stop();
  state.stream = null;
  $('local-video').srcObject = null;
}

// ---- user actions ----

/** showFormError shows the string of key (or, without a key, text as it is); '' clears it. */
function showFormError(key, text = '') {
  const el = $('form-error');
  if (key) ui.setText(el, key);
  else {
    delete el.dataset.i18n;
    el.textContent = text;
  }
  el.hidden = !key && !text;
}

function sendLeave(reason) {
  if (conn.leave(reason)) state.leavesPending++;
}

function sendJoin(j) {
  state.joinPending = true;
  state.lastJoin = j;
  try {
    const { preference, ...rest } = j; // the preference is not kept beyond this page's memory
    sessionStorage.setItem(joinKey, JSON.stringify(rest));
  } catch { /* ignore */ }
  // The first join of a session carries the proof of work; mostly it is solved by now.
  const bar = $('pow-bar');
  pow.solution((f) => { $('pow').hidden = false; bar.value = f; }).then((sol) => {
    $('pow').hidden = true;
    if (state.phase === 'queued' && state.lastJoin === j) conn.join(sol ? { ...j, pow: sol } : j);
  }, () => {
    $('pow').hidden = true;
    state.joinPending = false;
    state.phase = 'idle';
    ui.showScreen('start');
    showFormError('pow.failed');
  });
}

/** workDone forgets the proof of work once a join got through. */
function workDone() {
  pow.clear();
  state.powRetries = 0;
  $('pow').hidden = true;
}

async function onStart(ev) {
  ev.preventDefault();
  showFormError('');
  // Never join without WebRTC: the partner would wait on a connection that cannot come.
  if (!hasWebRTC()) {
    $('webrtc-missing').hidden = false;
    return showFormError('webrtc.form');
  }
  const r = readForm(conn.welcome && conn.welcome.limits);
  if (r.error) {
    showFormError(r.error);
    if (r.focus) $(r.focus).focus();
    return;
  }
  const problem = mediaProblem(r.join.media);
  if (problem) return showFormError(problem);
  if (!conn.ready) return showFormError('form.connecting');
  // A stream of the other kind (the camera, for a voice chat) goes before anything is asked for.
  if (state.stream && (r.join.media === 'video') !== (state.stream.getVideoTracks().length > 0)) stopMedia();
  if (r.join.media !== 'text' && !state.stream) {
    // Ask for the camera or microphone before queueing, so the partner does not wait on a prompt.
    state.stream = await getMedia(r.join.media);
    if (!state.stream) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
    else $('local-video').srcObject = state.stream;
  }
  if (r.join.media === 'text') stopMedia();
  state.phase = 'queued';
  sendJoin(r.join);
  showQueue('');
}

function onNext() {
  if (state.phase !== 'chat') return;
  keys.hideEscHint();
  conn.next();
  closeCall();
  forgetChat();
  state.phase = 'queued';
  state.joinPending = true;
  showQueue('queue.youNext');
}

function onEnd() {
  if (state.phase !== 'chat') return;
  sendLeave();
  endChat('you');
}

function onReport() {
  if (state.phase !== 'chat' && !(state.phase === 'ended' && !$('report').hidden)) return;
  const d = $('report-dialog');
  d.returnValue = '';
  d.showModal();
}

function onReportClose() {
  const d = $('report-dialog');
  if (d.returnValue !== 'report') {
    $('report').focus();
    return;
  }
  const reason = new FormData($('report-form')).get('reason') || 'other';
  conn.report(String(reason));
  closeCall();
  // "reported" ends it on screen; until then nothing more can be said.
  setInputEnabled(false);
}

/** onBlock ends the chat, or blocks the last partner after it ended; the server answers blocked. */
function onBlock() {
  if (state.phase !== 'chat' && !(state.phase === 'ended' && !$('block').hidden)) return;
  conn.block();
  closeCall();
  setInputEnabled(false);
}

function onAgain() {
  if (!state.lastJoin) return ui.showScreen('start');
  state.phase = 'queued';
  sendJoin(state.lastJoin);
  showQueue('');
}

function onHome() {
  if (state.phase === 'queued') sendLeave();
  state.phase = 'idle';
  forgetChat();
  state.shown = null;
  stopMedia();
  ui.clearTranscript();
  ui.showScreen('start');
}

async function onNotifyChange() {
  const box = $('notify');
  if (!box.checked) return notice.stop();
  const ok = await notice.ask();
  if (!ok) {
    box.checked = false;
    ui.setText($('notify-help'), 'start.notifyDenied');
  }
}

function toggleTrack(kind, button, keyOn, keyOff) {
  if (!state.stream) return;
  const tracks = kind === 'audio' ? state.stream.getAudioTracks() : state.stream.getVideoTracks();
  const off = button.getAttribute('aria-pressed') !== 'true';
  for (const tr of tracks) tr.enabled = !off;
  ui.setToggle(button, off, keyOn, keyOff);
}

function updateFormVisibility() {
  const fd = new FormData($('start-form'));
  const mode = fd.get('mode');
  $('opposite-fields').hidden = mode !== 'opposite';
  $('interests-fields').hidden = mode !== 'interests';
  const problem = mediaProblem(String(fd.get('media')));
  $('camera-insecure').hidden = !problem;
  if (problem) ui.setText($('camera-insecure'), problem);
}

function switchLang(l) {
  setLang(l);
  fillPreferences((conn.welcome && conn.welcome.preferences) || []);
  fillLanguages(conn.welcome && conn.welcome.languages);
  online.relabel();
  // The privacy notice opens in the language of the page.
  for (const a of document.querySelectorAll('a[href^="/privacy"]')) a.href = '/privacy?lang=' + lang();
  if (state.shown) {
    $('partner-name').textContent = partnerName();
    renderIntro();
    ui.refreshTimes();
  }
  const until = $('banned-text').dataset.until;
  if (state.banned) {
    $('banned-text').textContent = until ? t('banned.until', { date: ui.formatDate(new Date(until)) }) : t('error.banned');
  }
}

function bind() {
  $('start-form').addEventListener('submit', onStart);
  $('start-form').addEventListener('change', updateFormVisibility);
  $('hide-ip').addEventListener('change', () => { state.hideIPTouched = true; });
  $('notify').addEventListener('change', onNotifyChange);
  $('queue-cancel').addEventListener('click', onHome);
  $('message-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendMessage(); });
  $('message').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendMessage();
    }
  });
  $('message').addEventListener('input', () => setTyping($('message').value.length > 0));
  $('next').addEventListener('click', onNext);
  $('end').addEventListener('click', onEnd);
  $('report').addEventListener('click', onReport);
  $('block').addEventListener('click', onBlock);
  $('report-dialog').addEventListener('close', onReportClose);
  $('again').addEventListener('click', onAgain);
  $('home').addEventListener('click', onHome);
  $('reload').addEventListener('click', () => location.reload());
  $('take-back').addEventListener('click', () => location.reload());
  $('play-remote').addEventListener('click', ui.playRemote);
  $('mute').addEventListener('click', () => toggleTrack('audio', $('mute'), 'chat.unmute', 'chat.mute'));
  $('camera').addEventListener('click', () => toggleTrack('video', $('camera'), 'chat.cameraOn', 'chat.cameraOff'));
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', () => switchLang(b.dataset.lang));
  }
  keys.bind({ inChat: () => state.phase === 'chat', next: onNext });
  // A page going away says so: the server then holds the chat for a few seconds only (a reload is
  // back by then, a closed tab never), so the partner is not left waiting for half a minute.
  window.addEventListener('pagehide', () => { if (conn.ready) conn.bye(); });
  window.addEventListener('pageshow', (ev) => {
    // Back from the back-forward cache with the socket gone: connect (and resume) again.
    if (ev.persisted && !conn.ws && !conn.stopped) conn.connect();
  });
}

function init() {
  switchLang(detect());
  bind();
  notice.init();
  online.start();
  updateFormVisibility();
  $('start-button').disabled = true;
  $('webrtc-missing').hidden = hasWebRTC();
  $('notify').closest('label').hidden = !canNotify();
  $('notify-help').hidden = !canNotify();
  // A reload during a chat: show the chat as it was while the cookie brings the session back.
  const saved = loadStored(chatKey);
  const join = loadStored(joinKey);
  if (join && typeof join === 'object') state.lastJoin = join;
  if (saved && typeof saved === 'object' && saved.pair) {
    state.chat = { shared: [], mode: 'random', media: 'text', ...saved };
    state.phase = 'chat';
    renderChat(true);
    ui.setConnState('reconnecting');
  } else {
    ui.showScreen('start', { focus: false });
  }
  conn.connect();
}

init();
