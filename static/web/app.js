// app.js: parley's browser client: wires the protocol, the peer connection and the page together.
'use strict';

import { Connection, CLOSE_BANNED, CLOSE_TAKEN_OVER } from './protocol.js';
import { Call, getMedia, MAX_TEXT } from './rtc.js';
import { t, detect, setLang, lang, errorMessage } from './i18n.js';
import * as ui from './ui.js';
import * as transcript from './transcript.js';
import { readForm, fillPreferences } from './form.js';

const { $ } = ui;

// What this tab is doing. The server is the authority; this is only what the page shows.
const state = {
  phase: 'idle', // idle | queued | chat | ended | banned | closed
  joinPending: false, // a join was sent and neither queued, matched nor an error came back yet
  lastJoin: null, // the last join, to queue again after "find someone new" or a reconnect
  chat: null, // {pair, name, mode, media, statement, shared, hideIP}
  call: null, // the current Call
  stream: null, // camera and microphone, video mode only
  banned: false,
  typingOn: false,
  typingTimer: 0,
  theirTypingTimer: 0,
  hideIPTouched: false,
  pendingSignals: [], // signals that came before the call was built
  resumeTimer: 0, // ends a chat the server did not bring back after a resume
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
  ui.clearAlert();
  fillPreferences(w.preferences || []);
  if (!state.hideIPTouched) $('hide-ip').checked = !!w.hideIPDefault;
  $('start-button').disabled = false;
  if (w.resumed) {
    // The server puts a resumed session back where it was: a pair answers with matched or
    // partner-reconnecting at once. Silence means the chat ended while this page was away.
    clearTimeout(state.resumeTimer);
    if (state.phase === 'chat') state.resumeTimer = setTimeout(() => endChat('gone'), 5000);
    return;
  }
  if ((state.phase === 'queued' || state.joinPending) && state.lastJoin) {
    // The server no longer knows this session: queue again with the same choices.
    sendJoin(state.lastJoin);
  } else if (state.phase === 'chat') {
    // The server no longer knows this session (expired, or restarted without it): the chat is over.
    endChat('gone');
  }
});

conn.addEventListener('queued', () => {
  state.joinPending = false;
  if (state.phase === 'chat') closeCall();
  state.phase = 'queued';
  ui.showScreen('queue');
});

conn.addEventListener('matched', (ev) => {
  clearTimeout(state.resumeTimer);
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
  ui.setConnState('partnerReconnecting');
  ui.announce(t('state.partnerReconnecting'));
});

conn.addEventListener('partner-left', (ev) => {
  clearTimeout(state.resumeTimer);
  const reason = ['next', 'leave', 'gone', 'banned'].includes(ev.detail.reason) ? ev.detail.reason : 'leave';
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
  state.joinPending = false;
  if (state.phase === 'queued') {
    state.phase = 'idle';
    ui.showScreen('start');
  }
});

conn.addEventListener('reported', () => endChat('reported'));

conn.addEventListener('banned', (ev) => showBanned(ev.detail.until));

conn.addEventListener('error', (ev) => {
  const code = String(ev.detail.code || 'internal');
  const text = errorMessage(code);
  if (state.joinPending) {
    state.joinPending = false;
    state.phase = 'idle';
    ui.showScreen('start');
    showFormError(text);
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
  $('closed-text').dataset.i18n = key;
  $('closed-text').textContent = t(key);
  ui.showScreen('closed');
});

// ---- chat ----

async function startChat(m) {
  state.joinPending = false;
  const media = m.media === 'video' ? 'video' : 'text';
  const prev = state.chat;
  closeCall();
  state.chat = {
    pair: String(m.pair || ''),
    name: m.partner && typeof m.partner.name === 'string' ? m.partner.name.slice(0, 32) : '',
    mode: m.mode,
    media,
    statement: m.statement && typeof m.statement === 'object' ? m.statement : null,
    shared: Array.isArray(m.shared) ? m.shared.filter((s) => typeof s === 'string').slice(0, 5) : [],
    hideIP: typeof m.hideIP === 'boolean' ? m.hideIP : !!(state.lastJoin && state.lastJoin.hideIP),
  };
  const samePair = prev && prev.pair === state.chat.pair;
  state.pendingSignals = [];
  state.phase = 'chat';
  saveChat();
  transcript.forgetOthers(state.chat.pair);
  renderChat(!samePair || ui.screen() !== 'chat');
  if (!m.resumed) ui.announce(t('chat.matched', { name: partnerName() }));

  if (media === 'video' && !state.stream) {
    state.stream = await getMedia();
    if (!state.stream) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
    if (state.phase !== 'chat' || !state.chat || state.chat.pair !== String(m.pair || '')) return;
  }
  if (media === 'video') $('local-video').srcObject = state.stream;
  const call = new Call({
    role: m.role === 'offerer' ? 'offerer' : 'answerer',
    iceServers: (conn.welcome && conn.welcome.iceServers) || [],
    hideIP: state.chat.hideIP,
    stream: media === 'video' ? state.stream : null,
    video: media === 'video',
    onSignal: (data) => conn.signal(data),
  });
  state.call = call;
  call.addEventListener('state', (e) => { if (state.call === call) ui.setConnState(e.detail.state); });
  call.addEventListener('open', () => { if (state.call === call) setInputEnabled(true); });
  call.addEventListener('close', () => { if (state.call === call) setInputEnabled(false); });
  call.addEventListener('message', (e) => { if (state.call === call) receive(e.detail); });
  call.addEventListener('typing', (e) => { if (state.call === call) showTheirTyping(e.detail.on); });
  call.addEventListener('safety', (e) => { if (state.call === call) $('safety-code').textContent = e.detail.code; });
  call.addEventListener('track', (e) => {
    if (state.call !== call) return;
    const v = $('remote-video');
    if (v.srcObject !== e.detail.stream) v.srcObject = e.detail.stream;
  });
  call.start().catch((err) => {
    console.warn('parley: offer failed', err && err.name);
    ui.setConnState('failed');
  });
  for (const data of state.pendingSignals.splice(0)) call.handleSignal(data);
}

function partnerName() {
  return (state.chat && state.chat.name) || t('chat.stranger');
}

/** renderChat draws the chat screen for state.chat; fresh: reset transcript and focus. */
function renderChat(fresh) {
  const c = state.chat;
  $('partner-name').textContent = partnerName();
  ui.setConnState('connecting');
  $('safety-code').textContent = '…';
  $('ended').hidden = true;
  $('typing').hidden = true;
  $('message-form').hidden = false;
  for (const id of ['next', 'end', 'report']) $(id).hidden = false;
  renderStatement();
  $('shared').hidden = !c.shared.length;
  $('shared-list').textContent = c.shared.join(', ');
  $('video-area').hidden = c.media !== 'video';
  document.body.dataset.media = c.media;
  ui.clearTranscript();
  for (const m of transcript.load(c.pair)) ui.addMessage(m, c.name);
  setInputEnabled(false);
  ui.showScreen('chat', { focus: fresh });
}

function renderStatement() {
  const s = state.chat && state.chat.statement;
  $('statement').hidden = !s;
  if (s) {
    const texts = s.texts && typeof s.texts === 'object' ? s.texts : {};
    $('statement-text').textContent = String(texts[lang()] || s.text || '');
  }
}

function setInputEnabled(on) {
  $('message').disabled = !on;
  $('send').disabled = !on;
  // Focus moves to the message box once one can type, unless the person is elsewhere already.
  const here = document.activeElement;
  if (on && (!here || here === document.body || here === $('chat-title'))) $('message').focus();
}

function receive(m) {
  if (!state.chat) return;
  const msg = { from: 'them', id: m.id, text: m.text, ts: m.ts };
  transcript.append(state.chat.pair, msg);
  showTheirTyping(false);
  ui.addMessage(msg, state.chat.name);
}

function sendMessage() {
  const box = $('message');
  const text = box.value.trim();
  if (!text || !state.call) return;
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
  if (state.call) state.call.close();
  state.call = null;
  state.typingOn = false;
  $('remote-video').srcObject = null;
  setInputEnabled(false);
}

function forgetChat() {
  state.chat = null;
  saveChat();
}

/** endChat keeps the transcript on screen, says why it ended and offers what to do next. */
function endChat(reason) {
  closeCall();
  if (state.phase !== 'chat' && reason !== 'reported') return;
  state.phase = 'ended';
  forgetChat();
  const key = 'left.' + reason;
  $('ended-text').dataset.i18n = key;
  $('ended-text').textContent = t(key);
  $('ended').hidden = false;
  $('typing').hidden = true;
  $('message-form').hidden = true;
  $('next').hidden = true;
  $('end').hidden = true;
  // The last partner can still be reported for a while after the chat ended.
  $('report').hidden = reason === 'reported' || reason === 'banned';
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

function showFormError(text) {
  const el = $('form-error');
  el.textContent = text;
  el.hidden = !text;
}

function sendJoin(j) {
  state.joinPending = true;
  state.lastJoin = j;
  try {
    const { preference, ...rest } = j; // the preference is not kept beyond this page's memory
    sessionStorage.setItem(joinKey, JSON.stringify(rest));
  } catch { /* ignore */ }
  return conn.join(j);
}

async function onStart(ev) {
  ev.preventDefault();
  showFormError('');
  const r = readForm(conn.welcome && conn.welcome.limits);
  if (r.error) {
    showFormError(t(r.error));
    if (r.focus) $(r.focus).focus();
    return;
  }
  if (!conn.ready) return showFormError(t('form.connecting'));
  if (r.join.media === 'video' && !state.stream) {
    // Ask for the camera before queueing, so the partner does not wait on a permission prompt.
    state.stream = await getMedia();
    if (!state.stream) ui.showAlert(t('chat.cameraError'), { timeout: 10000 });
    else $('local-video').srcObject = state.stream;
  }
  if (r.join.media !== 'video') stopMedia();
  state.phase = 'queued';
  sendJoin(r.join);
  showQueue('');
}

function onNext() {
  if (state.phase !== 'chat') return;
  conn.next();
  closeCall();
  forgetChat();
  state.phase = 'queued';
  state.joinPending = true;
  showQueue('queue.youNext');
}

function onEnd() {
  if (state.phase !== 'chat') return;
  conn.leave();
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

function onAgain() {
  if (!state.lastJoin) return ui.showScreen('start');
  state.phase = 'queued';
  sendJoin(state.lastJoin);
  showQueue('');
}

function onHome() {
  if (state.phase === 'queued') conn.leave();
  state.phase = 'idle';
  forgetChat();
  stopMedia();
  ui.clearTranscript();
  ui.showScreen('start');
}

function toggleTrack(kind, button, keyOn, keyOff) {
  if (!state.stream) return;
  const tracks = kind === 'audio' ? state.stream.getAudioTracks() : state.stream.getVideoTracks();
  const off = button.getAttribute('aria-pressed') !== 'true';
  for (const tr of tracks) tr.enabled = !off;
  ui.setToggle(button, off, keyOn, keyOff);
}

function updateFormVisibility() {
  const mode = new FormData($('start-form')).get('mode');
  $('opposite-fields').hidden = mode !== 'opposite';
  $('interests-fields').hidden = mode !== 'interests';
}

function switchLang(l) {
  setLang(l);
  fillPreferences((conn.welcome && conn.welcome.preferences) || []);
  if (state.chat) {
    $('partner-name').textContent = partnerName();
    renderStatement();
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
  $('report-dialog').addEventListener('close', onReportClose);
  $('again').addEventListener('click', onAgain);
  $('home').addEventListener('click', onHome);
  $('reload').addEventListener('click', () => location.reload());
  $('mute').addEventListener('click', () => toggleTrack('audio', $('mute'), 'chat.unmute', 'chat.mute'));
  $('camera').addEventListener('click', () => toggleTrack('video', $('camera'), 'chat.cameraOn', 'chat.cameraOff'));
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', () => switchLang(b.dataset.lang));
  }
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.phase === 'chat' && !$('report-dialog').open) {
      ev.preventDefault();
      onNext();
    }
  });
}

function init() {
  setLang(detect());
  bind();
  updateFormVisibility();
  $('start-button').disabled = true;
  // A reload during a chat: show the chat as it was while the cookie brings the session back.
  const saved = loadStored(chatKey);
  const join = loadStored(joinKey);
  if (join && typeof join === 'object') state.lastJoin = join;
  if (saved && typeof saved === 'object' && saved.pair) {
    state.chat = { shared: [], ...saved };
    state.phase = 'chat';
    renderChat(true);
    ui.setConnState('reconnecting');
  } else {
    ui.showScreen('start', { focus: false });
  }
  conn.connect();
}

init();
