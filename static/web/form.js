// form.js: the start form: reading and checking the choices, and the preference list from welcome.
'use strict';

import { lang } from './i18n.js';

const $ = (id) => document.getElementById(id);

// The same rules the server applies, checked here first so a person gets a clear message at once.
const nameRe = /^[\p{L}\p{N} _.'-]*$/u;
const interestRe = /^[\p{L}\p{N} -]+$/u;

/**
 * readForm returns {join} ready for the protocol, or {error: i18n key, focus: element id}.
 */
export function readForm(limits = {}) {
  const lim = {
    maxNameLength: 32, maxInterests: 5, maxInterestLength: 32,
    ...(limits && typeof limits === 'object' ? limits : {}),
  };
  const fd = new FormData($('start-form'));
  const mode = String(fd.get('mode') || 'random');
  const media = String(fd.get('media') || 'text');
  const name = String(fd.get('name') || '').trim().replace(/\s+/g, ' ');
  if ([...name].length > lim.maxNameLength || !nameRe.test(name)) return { error: 'form.name', focus: 'name' };

  const join = {
    mode, media, name,
    consent: $('consent').checked,
    adult: $('adult').checked,
    hideIP: $('hide-ip').checked,
  };
  if (mode === 'opposite') {
    join.preference = String(fd.get('preference') || '');
    join.preferenceConsent = $('preference-consent').checked;
    if (!join.preference || !join.preferenceConsent) {
      return { error: 'form.preferenceConsent', focus: join.preference ? 'preference-consent' : 'preference' };
    }
  }
  if (mode === 'interests') {
    const list = String(fd.get('interests') || '').split(',')
      .map((s) => s.trim().toLowerCase().replace(/\s+/g, ' '))
      .filter((s) => s.length > 0);
    const unique = [...new Set(list)];
    if (!unique.length) return { error: 'form.interestsNone', focus: 'interests' };
    if (unique.length > lim.maxInterests
      || unique.some((s) => [...s].length > lim.maxInterestLength || !interestRe.test(s))) {
      return { error: 'form.interests', focus: 'interests' };
    }
    join.interests = unique;
  }
  if (!join.consent) return { error: 'form.consent', focus: 'consent' };
  if (!join.adult) return { error: 'form.adult', focus: 'adult' };
  return { join };
}

/** fillPreferences lists the server's preferences in the current language, keeping the selection. */
export function fillPreferences(prefs) {
  const sel = $('preference');
  const keep = sel.value;
  const options = [];
  const blank = document.createElement('option');
  blank.value = '';
  blank.textContent = '—';
  options.push(blank);
  for (const p of Array.isArray(prefs) ? prefs : []) {
    if (!p || typeof p.id !== 'string') continue;
    const o = document.createElement('option');
    o.value = p.id;
    const labels = p.labels && typeof p.labels === 'object' ? p.labels : {};
    o.textContent = String(labels[lang()] || p.label || p.id);
    options.push(o);
  }
  sel.replaceChildren(...options);
  if (keep && options.some((o) => o.value === keep)) sel.value = keep;
}
