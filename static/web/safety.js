// safety.js: the safety code both people compare to know nobody sits between their browsers.
'use strict';

import { sha256 } from './sha256.js';

/**
 * fingerprints returns the DTLS certificate fingerprints (a=fingerprint) of an SDP, normalised to
 * "algorithm HEX:HEX..." in upper case, session level and media level alike, without duplicates.
 */
export function fingerprints(sdp) {
  const out = new Set();
  for (const line of String(sdp || '').split(/\r?\n/)) {
    const m = /^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/.exec(line);
    if (m) out.add(m[1].toLowerCase() + ' ' + m[2].toUpperCase());
  }
  return [...out].sort();
}

/**
 * safetyCode derives a short code from both sides' fingerprints. Both people sort the two lists the
 * same way, so they get the same code; a man in the middle has to present his own certificate to
 * each side and so changes the code of each. Returns "1234 5678 9012" or null without fingerprints.
 */
export async function safetyCode(localSdp, remoteSdp, groups = 3) {
  const local = fingerprints(localSdp).join(',');
  const remote = fingerprints(remoteSdp).join(',');
  if (!local || !remote) return null;
  const input = [local, remote].sort().join('\n');
  const digest = await sha256Digest(new TextEncoder().encode(input));
  // 4 decimal digits from 3 bytes each: 2^24 values folded onto 10000 leave a bias under 0.1 %.
  const parts = [];
  for (let i = 0; i < groups; i++) {
    const n = ((digest[3 * i] << 16) | (digest[3 * i + 1] << 8) | digest[3 * i + 2]) % 10000;
    parts.push(String(n).padStart(4, '0'));
  }
  return parts.join(' ');
}

// crypto.subtle exists only in a secure context; the plain module gives the same digest anywhere.
async function sha256Digest(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (subtle) return new Uint8Array(await subtle.digest('SHA-256', bytes));
  return sha256(bytes);
}
