// ui.js: small DOM helpers: screens, focus, the transcript, announcements. Text only, never HTML.
'use strict';

import { t, lang } from './i18n.js';

export const $ = (id) => document.getElementById(id);

const screens = ['start', 'queue', 'chat', 'banned', 'closed'];
let currentScreen = 'start';

/** showScreen shows one screen and moves focus to its heading so a screen reader says where we are. */
export function showScreen(name, { focus = true } = {}) {
  for (const s of screens) $('screen-' + s).hidden = s !== name;
  const changed = currentScreen !== name;
  currentScreen = name;
  document.body.dataset.screen = name;
  if (focus && changed) {
    const h = $('screen-' + name).querySelector('h1');
    if (h) h.focus();
  }
}

export function screen() { return currentScreen; }

/** announce says text through the polite live region (for changes that are not new messages). */
export function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  // A fresh text node after a tick is announced even when the text repeats.
  setTimeout(() => { el.textContent = text; }, 50);
}

let alertTimer = 0;
/** showAlert puts an error in the role=alert region; it stays until cleared or replaced. */
export function showAlert(text, { timeout = 0 } = {}) {
  const el = $('alert');
  el.textContent = text;
  el.hidden = !text;
  clearTimeout(alertTimer);
  if (text && timeout) alertTimer = setTimeout(() => clearAlert(), timeout);
}

export function clearAlert() {
  const el = $('alert');
  el.textContent = '';
  el.hidden = true;
}

function timeString(ts) {
  try {
    return new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ts));
  } catch {
    return '';
  }
}

/** addMessage appends one message to the transcript. m: {from: 'me'|'them', text, ts} */
export function addMessage(m, partnerName) {
  const box = $('transcript');
  const item = document.createElement('div');
  item.className = 'msg ' + (m.from === 'me' ? 'msg-me' : 'msg-them');
  item.dataset.from = m.from;
  const who = document.createElement('span');
  who.className = 'who';
  // "You" and "Stranger" follow a language switch (data-i18n); a name stays as it is.
  if (m.from === 'me') setText(who, 'chat.you');
  else if (partnerName) who.textContent = partnerName;
  else setText(who, 'chat.them');
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = m.text;
  const time = document.createElement('time');
  time.dateTime = new Date(m.ts).toISOString();
  time.textContent = timeString(m.ts);
  item.append(who, text, time);
  box.append(item);
  // The conversation (opening lines and messages) scrolls as one.
  const scroller = $('conversation') || box;
  scroller.scrollTop = scroller.scrollHeight;
}

/** setText shows the string of key in el, and keeps the key so a language switch re-labels it. */
export function setText(el, key, params) {
  el.dataset.i18n = key;
  el.textContent = t(key, params);
}

/** refreshTimes writes the messages' times again in the current language's format. */
export function refreshTimes() {
  for (const el of document.querySelectorAll('#transcript time')) el.textContent = timeString(Date.parse(el.dateTime));
}

export function clearTranscript() {
  $('transcript').replaceChildren();
}

/** setConnState shows the connection state in words; data-state is for styling (and the tests). */
export function setConnState(state) {
  const el = $('conn-state');
  el.dataset.state = state;
  el.dataset.i18n = 'state.' + state;
  el.textContent = t('state.' + state);
}

/** setToggle flips a pressed button and its label key. */
export function setToggle(button, pressed, keyOn, keyOff) {
  button.setAttribute('aria-pressed', String(pressed));
  setText(button.querySelector('.label') || button, pressed ? keyOn : keyOff);
}

export function formatDate(d) {
  try {
    return new Intl.DateTimeFormat(lang(), { dateStyle: 'long', timeStyle: 'short' }).format(d);
  } catch {
    return d.toISOString();
  }
}

/** playRemote starts the partner's video or voice; a browser that refuses autoplay gets a button to tap. */
export function playRemote() {
  const v = $('remote-video');
  let p = null;
  try {
    p = v.play();
  } catch { /* old browsers: no promise */ }
  if (!p || typeof p.then !== 'function') return;
  p.then(() => { $('play-remote').hidden = true; }, (err) => {
    // NotAllowedError: no user activation yet (Firefox after a reload, Chromium's policy). An
    // AbortError means a newer stream replaced this one, whose play() decides instead.
    if (err && err.name === 'NotAllowedError' && v.srcObject) $('play-remote').hidden = false;
  });
}
