// keys.js: the keyboard shortcut of the chat: Escape twice moves on to the next stranger.
'use strict';

const $ = (id) => document.getElementById(id);

// Escape twice within this time, outside the message box, moves on to the next stranger.
const ESC_TWICE_MS = 1000;

let escAt = 0;
let escTimer = 0;

/**
 * bind listens for Escape: a fast skip, but never one a person hits by accident while typing.
 * Inside a text field it does nothing; elsewhere the first press says what a second one within a
 * second would do. o.inChat tells whether a chat is on screen, o.next moves on.
 */
export function bind(o) {
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || ev.repeat || !o.inChat() || $('report-dialog').open) return;
    const el = ev.target;
    if (el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName))) return;
    ev.preventDefault();
    const now = performance.now();
    if (escAt && now - escAt <= ESC_TWICE_MS) {
      o.next();
      return;
    }
    escAt = now;
    $('esc-hint').hidden = false;
    clearTimeout(escTimer);
    escTimer = setTimeout(hideEscHint, ESC_TWICE_MS);
  });
}

export function hideEscHint() {
  clearTimeout(escTimer);
  escAt = 0;
  $('esc-hint').hidden = true;
}
