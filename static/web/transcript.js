// transcript.js: the chat transcript, kept in this tab's sessionStorage only, keyed by pair id.
'use strict';

// The transcript never leaves the browser: it is written here so a reload can show it again, and
// sessionStorage is dropped when the tab closes.
const prefix = 'parley.transcript.';
const limit = 500;

function key(pair) {
  return prefix + String(pair).slice(0, 128);
}

/** load returns the stored messages of a pair or room: [{from: 'me'|'them', id, text, ts, name?, to?, priv?}]. */
export function load(pair) {
  if (!pair) return [];
  try {
    const list = JSON.parse(sessionStorage.getItem(key(pair)) || '[]');
    return Array.isArray(list) ? list.filter((m) => m && typeof m.text === 'string') : [];
  } catch {
    return [];
  }
}

/** append adds one message; on a full storage the oldest messages go first. */
export function append(pair, m) {
  if (!pair) return;
  const list = load(pair);
  const item = { from: m.from === 'me' ? 'me' : 'them', id: m.id, text: m.text, ts: m.ts };
  // A room's message also says who wrote it, and to whom when it was private.
  if (typeof m.name === 'string') item.name = m.name.slice(0, 32);
  if (typeof m.to === 'string') item.to = m.to.slice(0, 32);
  if (m.priv === true) item.priv = true;
  list.push(item);
  while (list.length > limit) list.shift();
  for (;;) {
    try {
      sessionStorage.setItem(key(pair), JSON.stringify(list));
      return;
    } catch {
      if (list.length <= 1) return;
      list.splice(0, Math.ceil(list.length / 2));
    }
  }
}

/** forgetOthers removes every transcript but the one of keep (a new chat starts clean). */
export function forgetOthers(keep) {
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const k = sessionStorage.key(i);
      if (k && k.startsWith(prefix) && k !== key(keep)) sessionStorage.removeItem(k);
    }
  } catch { /* storage disabled */ }
}
