// powworker.js: solves parts of a proof of work in a Web Worker, so the page stays responsive.
// The puzzle is the protocol's (docs/PROTOCOL.md, "Proof of work"): for each part, the smallest
// nonce such that SHA-256(id ":" part ":" nonce), in ASCII with part and nonce in decimal, begins
// with `bits` zero bits. The input is at most 36 bytes: one block, hashed with no allocation.
'use strict';

import { compress, H0 } from './sha256.js';

const REPORT_EVERY = 1 << 15; // hashes between two progress messages

/** solvePart returns the nonce of one part, posting {part, tried} now and then. */
function solvePart(id, bits, part) {
  const prefix = id + ':' + part + ':';
  const block = new Uint8Array(64);
  for (let i = 0; i < prefix.length; i++) block[i] = prefix.charCodeAt(i);
  const w = new Int32Array(64);
  const h = new Int32Array(8);
  const shift = 32 - bits; // bits is 1..32
  for (let nonce = 0; nonce <= 0xffffffff; nonce++) {
    const digits = String(nonce);
    let n = prefix.length;
    for (let k = 0; k < digits.length; k++) block[n++] = digits.charCodeAt(k);
    block[n] = 0x80;
    for (let k = n + 1; k < 62; k++) block[k] = 0;
    const len = n * 8; // the message's length in bits, big-endian at the end of the block
    block[62] = len >>> 8;
    block[63] = len & 0xff;
    for (let i = 0; i < 16; i++) {
      w[i] = (block[4 * i] << 24) | (block[4 * i + 1] << 16) | (block[4 * i + 2] << 8) | block[4 * i + 3];
    }
    h.set(H0);
    compress(h, w);
    if ((shift === 0 ? h[0] : h[0] >>> shift) === 0) return nonce;
    if ((nonce & (REPORT_EVERY - 1)) === REPORT_EVERY - 1) postMessage({ part, tried: nonce + 1 });
  }
  return -1; // 2^32 nonces without a solution: far beyond any difficulty the server asks
}

// A message {id, bits, parts: [part indexes]} solves those parts in turn, answering {part, nonce}
// for each (and {part, tried} on the way).
self.addEventListener('message', (ev) => {
  const { id, bits, parts } = ev.data || {};
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id) || !(bits >= 1 && bits <= 32) || !Array.isArray(parts)) {
    postMessage({ error: 'bad challenge' });
    return;
  }
  for (const part of parts) postMessage({ part, nonce: solvePart(id, bits, part) });
});
