// hlconn.js: the helpline's signaling connection (protocol v2: addressed signals) and small page helpers.
'use strict';

import { Connection } from './protocol.js';
import { t, setLang, detect, addStrings, lang } from './i18n.js';
import { strings } from './helpline-i18n.js';

addStrings(strings);

/**
 * HelplineConnection speaks protocol v2 on the same socket code as the chat client: a volunteer holds
 * several chats, so every signal names its recipient (peer) and every one received names its sender.
 */
export class HelplineConnection extends Connection {
  sendRaw(msg) {
    return super.sendRaw(msg.type === 'hello' ? { ...msg, v: 2 } : msg);
  }

  /** signalTo passes {sdp} or {candidate} to one member of one of this session's chats. */
  signalTo(peer, data) { return this.sendRaw({ type: 'signal', peer, data }); }
}

export const $ = (id) => document.getElementById(id);

/** show shows one of the page's screens (sections with data-screen) and says which on the body. */
export function show(name) {
  for (const s of document.querySelectorAll('section[data-screen]')) s.hidden = s.dataset.screen !== name;
  document.body.dataset.screen = name;
}

/** el makes an element with a class and text (never HTML). */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** formatDate writes a date (and time) in the page's language. */
export function formatDate(d, withTime = true) {
  try {
    const o = withTime ? { dateStyle: 'long', timeStyle: 'short' } : { dateStyle: 'long' };
    return new Intl.DateTimeFormat(lang(), o).format(d);
  } catch {
    return d.toISOString();
  }
}

/**
 * languages wires the language buttons: the static texts follow through data-i18n, and render redraws
 * what the page wrote with parameters.
 */
export function languages(render) {
  setLang(detect());
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', () => {
      setLang(b.dataset.lang);
      render();
    });
  }
}

/** apiJSON calls one of the server's JSON endpoints; it throws {status, error} when not ok. */
export async function apiJSON(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  let out = null;
  try {
    out = await res.json();
  } catch { /* a plain-text error */ }
  if (!res.ok) throw { status: res.status, error: out && out.error };
  return out;
}

export { t };
