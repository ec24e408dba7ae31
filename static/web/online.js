// online.js: how many people are online, from the public /api/stats: a band of ten (onlineAtLeast),
// nothing below ten and nothing per mode or preference, so the figure says nothing about anyone.
'use strict';

import { t } from './i18n.js';

const EVERY_MS = 60000;
let shown = null; // the last figure, to say again in another language
let timer = 0;

/** start asks now and every minute while the page is looked at. */
export function start() {
  refresh();
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

async function refresh() {
  clearTimeout(timer);
  timer = setTimeout(refresh, EVERY_MS);
  if (document.hidden) return;
  try {
    const r = await fetch('/api/stats', { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) return;
    const s = await r.json();
    show(s && Number.isInteger(s.onlineAtLeast) && s.onlineAtLeast >= 10 ? s.onlineAtLeast : null);
  } catch { /* offline or a static server: show nothing */ }
}

function show(n) {
  shown = n;
  relabel();
}

/** relabel writes the figure in the current language. */
export function relabel() {
  const el = document.getElementById('online');
  el.hidden = shown === null;
  el.textContent = shown === null ? '' : t('online.count', { n: shown });
}
