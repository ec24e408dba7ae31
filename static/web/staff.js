// staff.js: the helpline's staff page: registration by invite and sign-in with a passkey, then the
// volunteer's dashboard: the shift, offers, chats side by side, time-outs and handovers with notes.
'use strict';

import { HelplineConnection, $, show, el, formatDate, languages, apiJSON, t } from './hlconn.js';
import { errorMessage } from './i18n.js';
import { Call, MAX_TEXT } from './rtc.js';
import * as passkeys from './webauthn.js';
import * as coordination from './coordinator.js';

const TIMEOUT_HOURS = [1, 2, 4, 8, 24, 72, 168];

const state = {
  me: null, // {id, name, role}
  conn: null,
  shift: null, // the last shift message
  offers: new Map(), // offer id -> {msg, until}
  chats: new Map(), // chat id -> {msg, call, card, ended}
  byPeer: new Map(), // the other member's peer id -> chat id
  tickTimer: 0,
};

function alertText(text) {
  $('alert').textContent = text || '';
  $('alert').hidden = !text;
}

async function start() {
  languages(render);
  document.title = t('staff.pageTitle');
  const invite = new URLSearchParams(location.hash.slice(1)).get('invite');
  $('signin').addEventListener('click', signIn);
  $('register-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    register(invite);
  });
  $('signout').addEventListener('click', signOut);
  $('shift-toggle').addEventListener('click', () => {
    const on = !(state.shift && state.shift.on);
    state.conn.sendRaw({ type: 'shift', on, capacity: Number($('capacity').value) || 0 });
  });
  $('capacity').addEventListener('change', () => {
    if (state.shift && state.shift.on) state.conn.sendRaw({ type: 'shift', on: true, capacity: Number($('capacity').value) });
  });
  try {
    state.me = await apiJSON('GET', '/api/staff/me');
  } catch {
    state.me = null;
  }
  if (state.me) {
    dashboard();
  } else if (invite) {
    show('register');
  } else {
    show('signin');
  }
}

async function register(invite) {
  alertText('');
  if (!passkeys.supported()) {
    alertText(t('staff.noPasskeys'));
    return;
  }
  let begin;
  try {
    begin = await apiJSON('POST', '/api/staff/register/begin', { invite, name: $('staff-name').value.trim() });
  } catch (e) {
    alertText(e.status === 404 ? t('staff.inviteGone') : e.status === 400 ? t('form.name') : errorMessage('internal'));
    return;
  }
  try {
    const cred = await passkeys.create(begin.options);
    state.me = await apiJSON('POST', '/api/staff/register/finish?ceremony=' + encodeURIComponent(begin.ceremony), cred);
  } catch (e) {
    alertText(e && e.status === 404 ? t('staff.inviteGone') : t('staff.passkeyFailed'));
    return;
  }
  history.replaceState(null, '', location.pathname); // the invite is used: out of the address bar
  dashboard();
}

async function signIn() {
  alertText('');
  if (!passkeys.supported()) {
    alertText(t('staff.noPasskeys'));
    return;
  }
  try {
    const begin = await apiJSON('POST', '/api/staff/login/begin');
    const cred = await passkeys.get(begin.options);
    state.me = await apiJSON('POST', '/api/staff/login/finish?ceremony=' + encodeURIComponent(begin.ceremony), cred);
  } catch {
    alertText(t('staff.passkeyFailed'));
    return;
  }
  dashboard();
}

async function signOut() {
  if (state.conn) state.conn.close();
  for (const c of state.chats.values()) if (c.call) c.call.close();
  try {
    await apiJSON('POST', '/api/staff/logout');
  } finally {
    location.reload();
  }
}

function dashboard() {
  show('dashboard');
  $('coordination').hidden = state.me.role !== 'coordinator';
  if (state.me.role === 'coordinator') coordination.start();
  render();
  const conn = new HelplineConnection();
  state.conn = conn;
  conn.addEventListener('welcome', (ev) => {
    // A fresh session (the server restarted): the chats of before are gone.
    if (ev.detail.resumed) return;
    for (const [id, c] of state.chats) if (!c.ended) chatEnded({ chat: id, reason: 'gone' });
    state.offers.clear();
    renderOffers();
  });
  conn.addEventListener('shift', (ev) => {
    state.shift = ev.detail;
    render();
  });
  conn.addEventListener('offer', (ev) => {
    const m = ev.detail;
    state.offers.set(m.offer, { msg: m, until: Date.now() + m.expiresIn * 1000 });
    renderOffers();
  });
  conn.addEventListener('offer-gone', (ev) => {
    state.offers.delete(ev.detail.offer);
    renderOffers();
  });
  conn.addEventListener('chat', (ev) => openChat(ev.detail));
  conn.addEventListener('chat-ended', (ev) => chatEnded(ev.detail));
  conn.addEventListener('handover-failed', (ev) => {
    const c = state.chats.get(ev.detail.chat);
    if (c) cardNote(c, t('staff.handoverFailed'));
  });
  conn.addEventListener('signal', (ev) => {
    const c = state.chats.get(state.byPeer.get(ev.detail.from));
    if (c && c.call && ev.detail.data) c.call.handleSignal(ev.detail.data);
  });
  conn.addEventListener('partner-reconnecting', (ev) => {
    const c = state.chats.get(state.byPeer.get(ev.detail.peer));
    if (c) setCardState(c, 'partnerReconnecting');
  });
  conn.addEventListener('error', (ev) => alertText(errorMessage(ev.detail.code)));
  conn.addEventListener('closed', () => alertText(t('staff.ended.revoked')));
  conn.connect();
  addEventListener('pagehide', () => conn.bye()); // visitors back in line after the bye window, not the resume window
  clearInterval(state.tickTimer);
  state.tickTimer = setInterval(renderOffers, 1000);
}

function render() {
  document.title = t('staff.pageTitle');
  if (state.me) {
    $('who').textContent = t('staff.who', { name: state.me.name, role: t('staff.role.' + state.me.role) });
  }
  const s = state.shift;
  if (s) {
    const toggle = $('shift-toggle');
    toggle.setAttribute('aria-pressed', String(!!s.on));
    toggle.dataset.i18n = s.on ? 'staff.shiftOff' : 'staff.shiftOn';
    toggle.textContent = t(toggle.dataset.i18n);
    const st = $('shift-state');
    st.dataset.on = String(!!s.on);
    st.textContent = s.on ? t('staff.onShift') : t('staff.offShift');
    const cap = $('capacity');
    if (cap.options.length !== s.maxCapacity) {
      cap.replaceChildren(...Array.from({ length: s.maxCapacity }, (_, i) => el('option', '', String(i + 1))));
    }
    cap.value = String(s.capacity);
    $('shift-status').textContent = t('staff.status', { waiting: s.waiting || 0, open: s.open || 0, capacity: s.capacity });
  }
  renderOffers();
  for (const c of state.chats.values()) renderCard(c);
  coordination.render();
}

function contactText(contact) {
  if (!contact || !contact.tag) return t('staff.firstContact');
  let s = t('staff.contact', { tag: contact.tag, earlier: contact.earlier, last: contact.last ? formatDate(new Date(contact.last), false) : '-' });
  if (contact.timeOuts && contact.timeOuts.length) {
    s += ' ' + t('staff.timeouts', { list: contact.timeOuts.map((x) => t('staff.timeoutEntry', { day: formatDate(new Date(x.day), false), hours: x.hours })).join(', ') });
  }
  return s;
}

function renderOffers() {
  const box = $('offers');
  const now = Date.now();
  box.replaceChildren();
  for (const [id, o] of state.offers) {
    const left = Math.max(0, Math.round((o.until - now) / 1000));
    const card = el('div', 'offer-card');
    card.dataset.offer = id;
    const head = o.msg.handover ? t('staff.offerHandover', { from: o.msg.handover.from }) : t('staff.offer');
    card.append(el('p', 'offer-head', head), el('p', 'contact', contactText(o.msg.contact)), el('p', 'muted', t('staff.expires', { seconds: left })));
    const accept = el('button', 'primary accept', t('staff.accept'));
    accept.type = 'button';
    accept.addEventListener('click', () => {
      state.offers.delete(id);
      state.conn.sendRaw({ type: 'offer-accept', offer: id });
      renderOffers();
    });
    const decline = el('button', 'decline', t('staff.decline'));
    decline.type = 'button';
    decline.addEventListener('click', () => {
      state.offers.delete(id);
      state.conn.sendRaw({ type: 'offer-decline', offer: id });
      renderOffers();
    });
    const actions = el('div', 'actions');
    actions.append(accept, decline);
    card.append(actions);
    box.append(card);
  }
  $('no-offers').hidden = state.offers.size > 0;
}

// A chat card: one visitor, or the notes of a handover with a colleague.
function openChat(m) {
  let c = state.chats.get(m.chat);
  if (c && c.call) c.call.close();
  if (!c) {
    c = { msg: m, call: null, card: buildCard(m), ended: null };
    state.chats.set(m.chat, c);
    $('chats').append(c.card);
  }
  c.msg = m;
  c.ended = null;
  state.byPeer.set(m.peer, m.chat);
  const call = new Call({
    role: m.role,
    iceServers: (state.conn.welcome && state.conn.welcome.iceServers) || [],
    hideIP: true,
    stream: null,
    video: false,
    onSignal: (data) => state.conn.signalTo(m.peer, data),
  });
  c.call = call;
  call.addEventListener('state', (ev) => setCardState(c, ev.detail.state));
  call.addEventListener('open', () => setCardInput(c, true));
  call.addEventListener('close', () => setCardInput(c, false));
  call.addEventListener('message', (ev) => addCardMessage(c, 'them', ev.detail.text, ev.detail.ts));
  renderCard(c);
  $('no-chats').hidden = true;
  call.start();
}

function buildCard(m) {
  const card = el('article', 'chat-card');
  card.dataset.chat = m.chat;
  card.dataset.kind = m.notes ? 'notes' : 'visitor';
  const head = el('header', 'card-head');
  head.append(el('h3', 'card-title'), el('p', 'contact'), el('p', 'conn-state'));
  const log = el('div', 'transcript');
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  const form = el('form', 'message-form');
  const box = el('textarea');
  box.rows = 2;
  box.maxLength = MAX_TEXT;
  box.disabled = true;
  box.setAttribute('aria-label', t('staff.message'));
  const send = el('button', 'primary send', t('staff.send'));
  send.type = 'submit';
  send.disabled = true;
  form.append(box, send);
  const c = () => state.chats.get(m.chat);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = box.value.trim();
    const chat = c();
    if (!text || !chat || !chat.call) return;
    const sent = chat.call.send(text);
    if (sent) {
      box.value = '';
      addCardMessage(chat, 'me', text, sent.ts);
    }
  });
  box.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  const actions = el('div', 'card-actions');
  const end = el('button', 'end', '');
  end.type = 'button';
  end.addEventListener('click', () => {
    const chat = c();
    if (chat && chat.ended) {
      closeCard(chat);
    } else {
      state.conn.sendRaw({ type: 'chat-end', chat: m.chat });
    }
  });
  actions.append(end);
  if (!m.notes) {
    const hours = el('select', 'hours');
    hours.setAttribute('aria-label', t('staff.hours'));
    for (const h of TIMEOUT_HOURS) {
      const o = el('option', '', h + ' h');
      o.value = String(h);
      hours.append(o);
    }
    const timeout = el('button', 'danger timeout', '');
    timeout.type = 'button';
    timeout.addEventListener('click', () => state.conn.sendRaw({ type: 'chat-timeout', chat: m.chat, hours: Number(hours.value) }));
    const to = el('select', 'handover-to');
    to.setAttribute('aria-label', t('staff.handoverTo'));
    const handover = el('button', 'handover', '');
    handover.type = 'button';
    handover.addEventListener('click', () => {
      const chat = c();
      if (to.value && chat) cardNote(chat, t('staff.handoverAsked', { name: to.options[to.selectedIndex].textContent }));
      state.conn.sendRaw({ type: 'chat-handover', chat: m.chat, volunteer: to.value || undefined });
    });
    actions.append(hours, timeout, to, handover);
  }
  const note = el('p', 'card-note');
  note.hidden = true;
  card.append(head, log, form, actions, note);
  return card;
}

function renderCard(c) {
  const m = c.msg;
  const card = c.card;
  card.querySelector('.card-title').textContent = m.notes ? t('staff.notesWith', { name: m.with }) :
    (m.with ? t('staff.visitorNamed', { name: m.with }) : t('staff.visitor'));
  card.querySelector('.contact').textContent = m.notes ? t('staff.notesHelp') : contactText(m.contact);
  card.querySelector('.send').textContent = t('staff.send');
  card.querySelector('.end').textContent = c.ended ? t('staff.close') : t('staff.end');
  const state_ = card.querySelector('.conn-state');
  state_.textContent = t('state.' + (state_.dataset.state || 'connecting'));
  if (!m.notes) {
    card.querySelector('.timeout').textContent = t('staff.timeout');
    card.querySelector('.handover').textContent = t('staff.handover');
    const to = card.querySelector('.handover-to');
    const keep = to.value;
    const options = [el('option', '', t('staff.toQueue'))];
    options[0].value = '';
    for (const col of (state.shift && state.shift.colleagues) || []) {
      if (col.open >= col.capacity) continue;
      const o = el('option', '', col.name);
      o.value = col.volunteer;
      options.push(o);
    }
    to.replaceChildren(...options);
    to.value = [...to.options].some((o) => o.value === keep) ? keep : '';
    for (const b of card.querySelectorAll('.timeout, .handover, .hours, .handover-to')) b.hidden = !!c.ended;
  }
  if (c.ended) cardNote(c, t('staff.ended.' + c.ended.reason, { until: c.ended.until ? formatDate(new Date(c.ended.until)) : '' }));
}

function setCardState(c, s) {
  const p = c.card.querySelector('.conn-state');
  p.dataset.state = s;
  p.textContent = t('state.' + s);
}

function setCardInput(c, open) {
  c.card.querySelector('textarea').disabled = !open;
  c.card.querySelector('.send').disabled = !open;
}

function cardNote(c, text) {
  const note = c.card.querySelector('.card-note');
  note.textContent = text;
  note.hidden = !text;
}

function addCardMessage(c, from, text, ts) {
  const item = el('div', 'msg ' + (from === 'me' ? 'msg-me' : 'msg-them'));
  item.dataset.from = from;
  const when = el('time', '', new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  when.dateTime = new Date(ts).toISOString();
  item.append(el('p', 'text', text), when);
  const log = c.card.querySelector('.transcript');
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

function chatEnded(m) {
  const c = state.chats.get(m.chat);
  if (!c) return;
  if (c.call) c.call.close();
  c.call = null;
  c.ended = { reason: t('staff.ended.' + m.reason) === 'staff.ended.' + m.reason ? 'leave' : m.reason, until: m.until };
  state.byPeer.delete(c.msg.peer);
  setCardState(c, 'ended');
  setCardInput(c, false);
  c.card.dataset.ended = m.reason;
  renderCard(c);
}

function closeCard(c) {
  c.card.remove();
  state.chats.delete(c.msg.chat);
  $('no-chats').hidden = state.chats.size > 0;
}

start();
