// helpline.js: the helpline's visitor page: the consents, the waiting room with the place in line, the chat.
'use strict';

import { HelplineConnection, $, show, el, formatDate, languages, apiJSON, t } from './hlconn.js';
import { errorMessage } from './i18n.js';
import { Call, MAX_TEXT } from './rtc.js';

const state = {
  info: null, // GET /api/helpline
  conn: null,
  phase: 'start', // start | queue | chat | ended | blocked
  queued: null, // the last queued message
  chat: null, // the last matched message
  call: null,
  ended: null, // {key, params}
  blockedUntil: null,
  messages: [], // this chat's messages, in memory only
};

function render() {
  document.title = t('hl.pageTitle');
  const info = state.info;
  const staffed = $('hl-staffed');
  if (info) {
    staffed.dataset.state = info.staffed ? 'staffed' : 'unstaffed';
    staffed.textContent = (info.staffed ? t('hl.staffed') : t('hl.unstaffed')) +
      (info.openingHours ? ' ' + t('hl.hours', { hours: info.openingHours }) : '');
  }
  const q = state.queued;
  if (q) {
    $('hl-place').textContent = q.position === 1 ? t('hl.first') : t('hl.place', { position: q.position }) + ' ' + t('hl.ahead', { ahead: q.ahead || 0 });
    $('hl-place').dataset.position = String(q.position);
    const nobody = $('hl-nobody');
    nobody.hidden = q.staffed !== false;
    nobody.textContent = q.openingHours ? t('hl.nobodyHours', { hours: q.openingHours }) : t('hl.nobody');
  }
  if (state.chat) {
    $('hl-chat-title').textContent = t('hl.chatWith', { name: (state.chat.partner && state.chat.partner.name) || t('hl.aVolunteer') });
  }
  if (state.ended) $('ended-text').textContent = t(state.ended.key, state.ended.params);
  if (state.blockedUntil) $('hl-blocked-text').textContent = t('hl.blocked', { until: formatDate(state.blockedUntil) });
  setConnState($('conn-state').dataset.state);
  for (const m of document.querySelectorAll('#transcript .msg .who')) {
    m.textContent = m.parentElement.dataset.from === 'me' ? t('chat.you') : chatPartner();
  }
}

function chatPartner() {
  return (state.chat && state.chat.partner && state.chat.partner.name) || t('hl.aVolunteer');
}

function setConnState(s) {
  const c = $('conn-state');
  c.dataset.state = s;
  c.textContent = t('state.' + s);
}

function alertError(code) {
  const a = $('alert');
  a.textContent = code ? errorMessage(code) : '';
  a.hidden = !code;
}

async function start() {
  languages(render);
  try {
    state.info = await apiJSON('GET', '/api/helpline');
  } catch {
    $('hl-form').hidden = true;
    $('hl-off').hidden = false;
    show('start');
    return;
  }
  $('hl-adult-row').hidden = !state.info.adultOnly;
  render();
  show('start');
  $('hl-form').addEventListener('submit', onSubmit);
  $('hl-leave').addEventListener('click', () => {
    if (state.conn) state.conn.leave();
    state.queued = null;
    show('start');
  });
  $('hl-end').addEventListener('click', () => {
    if (state.conn) state.conn.leave();
    endChat('hl.ended.you');
  });
  $('hl-again').addEventListener('click', () => join());
  // A closed tab ends the chat for the volunteer after the short bye window, not the resume window.
  addEventListener('pagehide', () => { if (state.conn) state.conn.bye(); });
  $('message-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    send();
  });
  $('message').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      send();
    }
  });
}

async function onSubmit(ev) {
  ev.preventDefault();
  const err = $('hl-form-error');
  err.hidden = true;
  if (!$('hl-consent').checked) {
    err.textContent = t('form.consent');
    err.hidden = false;
    return;
  }
  if (state.info.adultOnly && !$('hl-adult').checked) {
    err.textContent = t('form.adult');
    err.hidden = false;
    return;
  }
  // The visitor cookie comes with the consent, before the socket: the server reads it at the upgrade.
  try {
    await apiJSON('POST', '/api/helpline/visitor');
  } catch {
    err.textContent = errorMessage('internal');
    err.hidden = false;
    return;
  }
  connect();
}

function connect() {
  if (state.conn) {
    join();
    return;
  }
  const conn = new HelplineConnection();
  state.conn = conn;
  conn.addEventListener('welcome', (ev) => {
    // After a reconnect the server brings back what it still holds (queued or matched). A fresh
    // session (the server restarted: the helpline's chats live in memory) has nothing: the page
    // queues again.
    if (!ev.detail.resumed && state.phase === 'chat') endChat('hl.ended.gone');
    if (state.phase === 'start' || state.phase === 'queue') join();
  });
  conn.addEventListener('queued', (ev) => {
    state.queued = ev.detail;
    state.phase = 'queue';
    render();
    show('queue');
  });
  conn.addEventListener('matched', (ev) => onMatched(ev.detail));
  conn.addEventListener('signal', (ev) => {
    if (state.call && ev.detail.data) state.call.handleSignal(ev.detail.data);
  });
  conn.addEventListener('partner-reconnecting', () => setConnState('partnerReconnecting'));
  conn.addEventListener('partner-left', (ev) => {
    const m = ev.detail;
    switch (m.reason) {
      case 'timeout':
        endChat('hl.ended.timeout', { until: formatDate(new Date(m.until)) });
        break;
      case 'handover':
        endChat('hl.ended.handover');
        break;
      case 'gone':
        endChat('hl.ended.gone');
        break;
      default:
        endChat('hl.ended.leave');
    }
  });
  conn.addEventListener('helpline-blocked', (ev) => {
    state.blockedUntil = new Date(ev.detail.until);
    state.phase = 'blocked';
    render();
    show('blocked');
  });
  conn.addEventListener('error', (ev) => alertError(ev.detail.code));
  conn.connect();
}

function join() {
  alertError('');
  state.phase = 'queue';
  state.conn.join({ mode: 'helpline', media: 'text', name: $('hl-name').value.trim(), consent: true, adult: $('hl-adult').checked, hideIP: true });
}

function onMatched(m) {
  if (state.call) state.call.close();
  state.chat = m;
  state.phase = 'chat';
  state.ended = null;
  if (!m.resumed) {
    state.messages = [];
    $('transcript').replaceChildren();
  }
  $('ended').hidden = true;
  $('message-form').hidden = false;
  $('hl-end').hidden = false;
  setInput(false);
  document.title = t('hl.titleAnswered');
  const call = new Call({
    role: m.role,
    iceServers: (state.conn.welcome && state.conn.welcome.iceServers) || [],
    hideIP: true, // the server says so for every helpline chat, whatever was asked
    stream: null,
    video: false,
    onSignal: (data) => state.conn.signalTo(m.peer, data),
  });
  state.call = call;
  call.addEventListener('state', (ev) => setConnState(ev.detail.state));
  call.addEventListener('open', () => setInput(true));
  call.addEventListener('close', () => setInput(false));
  call.addEventListener('message', (ev) => addMessage('them', ev.detail.text, ev.detail.ts));
  render();
  show('chat');
  call.start();
}

function endChat(key, params) {
  if (state.call) {
    state.call.close();
    state.call = null;
  }
  state.ended = { key, params };
  state.phase = key === 'hl.ended.handover' || key === 'hl.ended.gone' ? 'queue' : 'ended';
  setConnState('ended');
  setInput(false);
  $('ended').hidden = false;
  $('hl-again').hidden = state.phase === 'queue' || key === 'hl.ended.timeout';
  $('message-form').hidden = true;
  $('hl-end').hidden = true;
  document.title = t('hl.pageTitle');
  render();
}

function setInput(open) {
  $('message').disabled = !open;
  $('send').disabled = !open;
}

function send() {
  const box = $('message');
  const text = box.value.trim();
  if (!text || !state.call || text.length > MAX_TEXT) return;
  const m = state.call.send(text);
  if (!m) return;
  box.value = '';
  addMessage('me', text, m.ts);
}

function addMessage(from, text, ts) {
  state.messages.push({ from, text, ts });
  const item = el('div', 'msg ' + (from === 'me' ? 'msg-me' : 'msg-them'));
  item.dataset.from = from;
  const when = el('time', '', new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  when.dateTime = new Date(ts).toISOString();
  item.append(el('span', 'who', from === 'me' ? t('chat.you') : chatPartner()), el('p', 'text', text), when);
  $('transcript').append(item);
  $('conversation').scrollTop = $('conversation').scrollHeight;
}

start();
