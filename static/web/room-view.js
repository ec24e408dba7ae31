// room-view.js: what the room page shows: its screens, the video grid, the people, the conversation.
// It only draws; room.js decides. Text only, never HTML.
'use strict';

import { t, lang } from './i18n.js';
import { $, setText } from './ui.js';

const screens = ['create', 'join', 'wait', 'room', 'ended', 'banned', 'closed'];
let current = '';

/** showScreen shows one screen and moves focus to its heading, as the chat page does. */
export function showScreen(name, { focus = true } = {}) {
  for (const s of screens) $('screen-' + s).hidden = s !== name;
  const changed = current !== name;
  current = name;
  document.body.dataset.screen = name;
  if (focus && changed) {
    const h = $('screen-' + name).querySelector('h1');
    if (h) h.focus();
  }
}

export function screen() { return current; }

/** memberName is a member's name, or "Guest" for one who gave none. */
export function memberName(m) {
  return (m && m.name) || t('room.guest');
}

/**
 * renderRoom draws the room's head, share link and controls. r: {name, media, max, locked, owner,
 * you}; count: people here (oneself included); link: the invitation URL.
 */
export function renderRoom(r, count, link) {
  $('room-title').textContent = r.name || t('room.untitled');
  let status = t('room.statusCount', { n: count, max: r.max || count });
  if (r.locked) status += ' · ' + t('room.statusLocked');
  $('room-status').textContent = status;
  $('room-status').dataset.locked = String(!!r.locked);
  $('room-link').value = link;
  $('room-share').hidden = !link;
  const owner = !!r.you && r.owner === r.you;
  $('room-lock').hidden = !owner;
  $('room-lock').setAttribute('aria-pressed', String(!!r.locked));
  setText($('room-lock').querySelector('.label'), r.locked ? 'room.unlock' : 'room.lock');
  $('room-grid').hidden = r.media !== 'video';
  // Not data-media: the chat page's video layout (style.css) keys on that.
  document.body.dataset.roomMedia = r.media === 'video' ? 'video' : 'text';
}

// ---- the video grid ----

/** tile returns the tile of member peer ('' is oneself), making it when missing. */
export function tile(peer, name) {
  const grid = $('room-grid');
  let el = grid.querySelector(`.tile[data-peer="${CSS.escape(peer)}"]`);
  if (!el) {
    el = document.createElement('div');
    el.className = 'tile';
    el.dataset.peer = peer;
    const v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    if (!peer) {
      v.muted = true; // one's own microphone is never played back
      v.className = 'self';
    }
    const off = document.createElement('p');
    off.className = 'tile-off';
    const label = document.createElement('span');
    label.className = 'tile-name';
    el.append(v, off, label);
    if (peer) grid.append(el);
    else grid.prepend(el);
    grid.dataset.count = String(grid.children.length);
  }
  const label = el.querySelector('.tile-name');
  if (peer) label.textContent = name;
  else setText(label, 'room.tileYou');
  el.querySelector('video').setAttribute('aria-label', peer ? t('room.videoOf', { name }) : t('chat.localVideo'));
  return el;
}

export function removeTile(peer) {
  const grid = $('room-grid');
  const el = grid.querySelector(`.tile[data-peer="${CSS.escape(peer)}"]`);
  if (el) {
    el.querySelector('video').srcObject = null;
    el.remove();
  }
  grid.dataset.count = String(grid.children.length);
}

export function clearTiles() {
  for (const v of $('room-grid').querySelectorAll('video')) v.srcObject = null;
  $('room-grid').replaceChildren();
  $('room-grid').dataset.count = '0';
}

/** setTileHidden shows a member's tile without its video (hidden here, or their camera is off). */
export function setTileHidden(el, hidden) {
  el.classList.toggle('video-off', hidden);
  const off = el.querySelector('.tile-off');
  if (hidden) setText(off, 'room.videoHidden');
  else off.textContent = '';
}

// ---- the people ----

/**
 * renderMembers updates the member list in place (so focus stays on a button that was pressed).
 * me: {name}; members: [{peer, name, state, typing, muted, hidden}]; r: the room.
 */
export function renderMembers(me, members, r, video) {
  const list = $('member-list');
  const owner = r.owner === r.you;
  const rows = [{ peer: '', name: me.name, self: true }, ...members];
  const keep = new Set();
  for (const m of rows) {
    keep.add(m.peer);
    let li = list.querySelector(`li[data-peer="${CSS.escape(m.peer)}"]`);
    if (!li) {
      li = memberRow(m);
      list.append(li);
    }
    const name = m.self ? me.name || t('room.guest') : memberName(m);
    li.querySelector('.member-name').textContent = name;
    const badges = [];
    if (m.self) badges.push(t('room.you'));
    if ((m.self ? r.you : m.peer) === r.owner) badges.push(t('room.owner'));
    li.querySelector('.member-badges').textContent = badges.length ? '(' + badges.join(', ') + ')' : '';
    const st = m.self ? '' : (m.typing ? 'typing' : m.state || 'connecting');
    li.querySelector('.member-state').dataset.state = st;
    li.querySelector('.member-state').textContent = st ? t('room.state.' + st) : '';
    if (m.self) continue;
    const btn = (a) => li.querySelector(`button[data-action="${a}"]`);
    btn('message').setAttribute('aria-label', t('room.messageLabel', { name }));
    btn('mute').hidden = !video;
    btn('mute').setAttribute('aria-pressed', String(!!m.muted));
    btn('mute').setAttribute('aria-label', t(m.muted ? 'room.unmuteMemberLabel' : 'room.muteMemberLabel', { name }));
    setText(btn('mute'), m.muted ? 'room.unmuteMember' : 'room.muteMember');
    btn('hide').hidden = !video;
    btn('hide').setAttribute('aria-pressed', String(!!m.hidden));
    btn('hide').setAttribute('aria-label', t(m.hidden ? 'room.showVideoLabel' : 'room.hideVideoLabel', { name }));
    setText(btn('hide'), m.hidden ? 'room.showVideo' : 'room.hideVideo');
    btn('kick').hidden = !owner;
    btn('kick').setAttribute('aria-label', t('room.kickLabel', { name }));
  }
  for (const li of [...list.children]) if (!keep.has(li.dataset.peer)) li.remove();
  // Oneself first, then the others in the order they came. Moving a row would take the focus off
  // its buttons: only when the order changed.
  const order = rows.map((m) => m.peer).join(' ');
  if ([...list.children].map((li) => li.dataset.peer).join(' ') !== order) {
    for (const m of rows) list.append(list.querySelector(`li[data-peer="${CSS.escape(m.peer)}"]`));
  }
}

function memberRow(m) {
  const li = document.createElement('li');
  li.className = 'member';
  li.dataset.peer = m.peer;
  const who = document.createElement('p');
  who.className = 'member-who';
  const name = document.createElement('span');
  name.className = 'member-name';
  const badges = document.createElement('span');
  badges.className = 'member-badges';
  const state = document.createElement('span');
  state.className = 'member-state';
  who.append(name, ' ', badges, ' ', state);
  li.append(who);
  if (m.self) return li;
  const actions = document.createElement('div');
  actions.className = 'member-actions';
  for (const [action, key] of [['message', 'room.message'], ['mute', 'room.muteMember'], ['hide', 'room.hideVideo'], ['kick', 'room.kick']]) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.action = action;
    if (action === 'kick') b.className = 'danger';
    setText(b, key);
    actions.append(b);
  }
  li.append(actions);
  return li;
}

/** renderRecipients fills the "To" list: everyone, then each member one can reach now. */
export function renderRecipients(members) {
  const sel = $('room-to');
  const keep = sel.value;
  const opts = [];
  const all = document.createElement('option');
  all.value = '';
  setText(all, 'room.everyone');
  opts.push(all);
  for (const m of members) {
    if (!m.open) continue;
    const o = document.createElement('option');
    o.value = m.peer;
    o.textContent = t('room.toMember', { name: memberName(m) });
    opts.push(o);
  }
  sel.replaceChildren(...opts);
  sel.value = opts.some((o) => o.value === keep) ? keep : '';
}

/** renderTyping says who is typing, under the conversation. */
export function renderTyping(names) {
  const el = $('room-typing');
  el.hidden = !names.length;
  if (names.length === 1) el.textContent = t('room.typing1', { name: names[0] });
  else if (names.length === 2) el.textContent = t('room.typing2', { a: names[0], b: names[1] });
  else if (names.length) el.textContent = t('room.typingMany', { n: names.length });
}

// ---- the conversation ----

function timeString(ts) {
  try {
    return new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ts));
  } catch {
    return '';
  }
}

/**
 * addMessage appends one message: m {from: 'me'|'them', name (the sender's), to (a private
 * message's recipient), priv, text, ts}.
 */
export function addMessage(m) {
  const item = document.createElement('div');
  item.className = 'msg ' + (m.from === 'me' ? 'msg-me' : 'msg-them') + (m.priv ? ' msg-private' : '');
  item.dataset.from = m.from;
  if (m.priv) item.dataset.private = 'true';
  const who = document.createElement('span');
  who.className = 'who';
  const name = document.createElement('span');
  if (m.from === 'me') setText(name, 'chat.you');
  else if (m.name) name.textContent = m.name;
  else setText(name, 'room.guest');
  who.append(name);
  if (m.priv) {
    const p = document.createElement('span');
    p.className = 'private-mark';
    if (m.from === 'me') {
      p.dataset.to = m.to || '';
      p.textContent = ' · ' + t('room.privateTo', { name: m.to || t('room.guest') });
    } else {
      p.textContent = ' · ' + t('room.privateFrom');
    }
    who.append(p);
  }
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = m.text;
  const time = document.createElement('time');
  time.dateTime = new Date(m.ts).toISOString();
  time.textContent = timeString(m.ts);
  item.append(who, text, time);
  append(item);
}

/**
 * addSystem appends a line about the room (who came, who left), the string of key with params; it
 * follows a language switch (refresh) and is not kept.
 */
export function addSystem(key, params = {}) {
  const p = document.createElement('p');
  p.className = 'msg-system';
  p.dataset.key = key;
  p.dataset.params = JSON.stringify(params);
  p.textContent = t(key, params);
  append(p);
}

function append(el) {
  $('room-transcript').append(el);
  const box = $('room-conversation');
  box.scrollTop = box.scrollHeight;
}

export function clearTranscript() {
  $('room-transcript').replaceChildren();
}

/** refresh writes the texts that depend on the language but carry no key: times, private marks. */
export function refresh() {
  for (const el of document.querySelectorAll('#room-transcript time')) el.textContent = timeString(Date.parse(el.dateTime));
  for (const el of document.querySelectorAll('#room-transcript .msg-system')) {
    let params = {};
    try { params = JSON.parse(el.dataset.params || '{}'); } catch { /* written by addSystem */ }
    el.textContent = t(el.dataset.key, params);
  }
  for (const el of document.querySelectorAll('#room-transcript .private-mark')) {
    const to = el.dataset.to;
    el.textContent = ' · ' + (to !== undefined ? t('room.privateTo', { name: to || t('room.guest') }) : t('room.privateFrom'));
  }
}
