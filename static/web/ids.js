// ids.js: random identifiers that work outside a secure context too.
'use strict';

/**
 * randomID returns a random (version 4) UUID. crypto.randomUUID exists only in a secure context
 * (HTTPS or localhost); crypto.getRandomValues exists everywhere, so a page opened as
 * http://<LAN address> gets the same kind of ID from it.
 */
export function randomID() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
