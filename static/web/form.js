// form.js: the start form: reading and checking the choices, and the preference list from welcome.
'use strict';

import { lang, t } from './i18n.js';

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
  const language = String(fd.get('language') || '');
  if (language) join.language = language;
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

/**
 * fillLanguages lists the chat languages the server offers (welcome's languages), named in the
 * page's language, after "any language"; the field hides when the server offers none.
 */
export function fillLanguages(codes) {
  const sel = $('language');
  const keep = sel.value;
  const list = Array.isArray(codes) ? codes.filter((c) => typeof c === 'string' && /^[a-z]{2,3}(-[a-z0-9]{2,8})?$/.test(c)) : [];
  let names = null;
  try {
    names = new Intl.DisplayNames([lang()], { type: 'language' });
  } catch { /* an old browser: the codes themselves */ }
  const any = document.createElement('option');
  any.value = '';
  any.dataset.i18n = 'start.languageAny';
  any.textContent = t('start.languageAny');
  const options = [any];
  for (const c of list) {
    const o = document.createElement('option');
    o.value = c;
    let name = c;
    try { name = (names && names.of(c)) || c; } catch { /* not a code Intl knows */ }
    o.textContent = name;
    options.push(o);
  }
  sel.replaceChildren(...options);
  if (keep && list.includes(keep)) sel.value = keep;
  $('language-field').hidden = !list.length;
  // The fold that holds the field says so when there is one.
  const summary = $('options-summary');
  summary.dataset.i18n = list.length ? 'start.optionsLanguage' : 'start.options';
  summary.textContent = t(summary.dataset.i18n);
}

/** languageName names a chat language in the page's language. */
export function languageName(code) {
  try {
    return new Intl.DisplayNames([lang()], { type: 'language' }).of(code) || code;
  } catch {
    return code;
  }
}
