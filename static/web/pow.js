// pow.js: the proof of work a session does before its first join, instead of a captcha: the
// challenge comes with welcome (or with the error that asks for new work), Web Workers solve it in
// the background (powworker.js), and the first join carries the solution.
'use strict';

const MAX_WORKERS = 4;

let job = null; // {challenge, promise, workers, progress: per part in 0..1, listener}

function validChallenge(c) {
  return !!c && typeof c === 'object' && typeof c.id === 'string' && Number.isInteger(c.bits)
    && c.bits >= 1 && c.bits <= 32 && Number.isInteger(c.parts) && c.parts >= 1 && c.parts <= 16
    && Number.isFinite(c.expires) && typeof c.mac === 'string';
}

/**
 * offer starts solving a challenge at once, in the background, replacing any earlier one; a
 * missing or malformed challenge means there is no work to do (the session did it already).
 */
export function offer(challenge) {
  clear();
  if (!validChallenge(challenge)) return;
  const c = { id: challenge.id, bits: challenge.bits, parts: challenge.parts, expires: challenge.expires, mac: challenge.mac };
  const cores = Math.max(1, (navigator.hardwareConcurrency || 2) - 1);
  const n = Math.min(c.parts, cores, MAX_WORKERS);
  const me = { challenge: c, workers: [], progress: new Array(c.parts).fill(0), listener: null };
  me.promise = new Promise((resolve, reject) => {
    const nonces = new Array(c.parts).fill(-1);
    let left = c.parts;
    for (let k = 0; k < n; k++) {
      const parts = [];
      for (let p = k; p < c.parts; p += n) parts.push(p);
      const w = new Worker('/powworker.js', { type: 'module' });
      me.workers.push(w);
      w.addEventListener('error', () => reject(new Error('pow worker failed')));
      w.addEventListener('message', (ev) => {
        const m = ev.data || {};
        if (m.error || m.nonce < 0) return reject(new Error('pow: ' + (m.error || 'unsolved')));
        if (!Number.isInteger(m.part) || m.part < 0 || m.part >= c.parts) return;
        // A part's expected cost is 2^bits hashes; the bar shows at most 95 % of a part until it is done.
        if (Number.isInteger(m.nonce)) {
          nonces[m.part] = m.nonce;
          me.progress[m.part] = 1;
          left--;
        } else if (Number.isFinite(m.tried)) {
          me.progress[m.part] = Math.min(0.95, m.tried / 2 ** c.bits);
        }
        if (me.listener) me.listener(fraction(me));
        if (left === 0) {
          for (const x of me.workers) x.terminate();
          resolve({ ...c, nonces });
        }
      });
      w.postMessage({ id: c.id, bits: c.bits, parts });
    }
  });
  me.promise.catch(() => {}); // a failure is reported to whoever awaits solution()
  job = me;
}

function fraction(me) {
  return me.progress.reduce((a, b) => a + b, 0) / me.progress.length;
}

/** clear stops any work and forgets the challenge: the session's join got through. */
export function clear() {
  if (job) for (const w of job.workers) w.terminate();
  job = null;
}

/**
 * solution resolves to the solution to send with a join, or null when there is no work to do.
 * onProgress(fraction) is called while it works; it is not called once the solution is ready.
 */
export async function solution(onProgress) {
  const me = job;
  if (!me) return null;
  me.listener = onProgress;
  try {
    return await me.promise;
  } finally {
    if (job === me) me.listener = null;
  }
}
