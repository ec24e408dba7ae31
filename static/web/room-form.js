// room-form.js: the room page's two forms, create and join: reading and checking what was chosen.
'use strict';

import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

// The rules the server applies (proto.CleanName), checked here first for a clear message at once.
const nameRe = /^[\p{L}\p{N} _.'-]*$/u;
// A room's secret: the base64url of 16 random bytes, unpadded (proto.ValidRoomSecret).
const secretRe = /^[A-Za-z0-9_-]{22}$/;

/** secretFrom returns the secret in a fragment ("#..."), or '' if it has none of that shape. */
export function secretFrom(hash) {
  const s = String(hash || '').replace(/^#/, '');
  return secretRe.test(s) ? s : '';
}

function clean(s) {
  return String(s || '').trim().replace(/\s+/g, ' ');
}

// A person in a room needs a name: the others must tell who says what.
function readName(id, max) {
  const name = clean($(id).value);
  if (!name || [...name].length > max || !nameRe.test(name)) return null;
  return name;
}

/** fillSizes offers room sizes from 2 to the server's most for the chosen media, largest first. */
export function fillSizes(limits) {
  const media = new FormData($('create-form')).get('media') === 'video' ? 'video' : 'text';
  const most = media === 'video' ? (limits && limits.roomMaxVideo) || 6 : (limits && limits.roomMaxText) || 8;
  const sel = $('room-size');
  const keep = Number(sel.value) || most;
  const opts = [];
  for (let n = most; n >= 2; n--) {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = t('room.sizeOption', { n });
    opts.push(o);
  }
  sel.replaceChildren(...opts);
  sel.value = String(Math.min(keep, most));
  return opts;
}

/** readCreate returns {create} for protocol.roomCreate, or {error: i18n key, focus: element id}. */
export function readCreate(limits = {}) {
  const lim = { maxNameLength: 32, ...(limits && typeof limits === 'object' ? limits : {}) };
  const fd = new FormData($('create-form'));
  const roomName = clean(fd.get('roomName'));
  if ([...roomName].length > 48 || !nameRe.test(roomName)) return { error: 'room.form.roomName', focus: 'room-name' };
  const memberName = readName('create-name', lim.maxNameLength);
  if (memberName === null) return { error: 'room.form.name', focus: 'create-name' };
  if (!$('create-consent').checked) return { error: 'form.consent', focus: 'create-consent' };
  if (!$('create-adult').checked) return { error: 'form.adult', focus: 'create-adult' };
  return {
    create: {
      name: roomName,
      memberName,
      media: fd.get('media') === 'video' ? 'video' : 'text',
      max: Number(fd.get('max')) || 0,
      hideIP: $('create-hide-ip').checked,
      consent: true,
      adult: true,
    },
  };
}

/** readJoin returns {join} for protocol.roomJoin (without the secret), or {error, focus}. */
export function readJoin(limits = {}) {
  const lim = { maxNameLength: 32, ...(limits && typeof limits === 'object' ? limits : {}) };
  const name = readName('join-name', lim.maxNameLength);
  if (name === null) return { error: 'room.form.name', focus: 'join-name' };
  if (!$('join-consent').checked) return { error: 'form.consent', focus: 'join-consent' };
  if (!$('join-adult').checked) return { error: 'form.adult', focus: 'join-adult' };
  return { join: { name, hideIP: $('join-hide-ip').checked, consent: true, adult: true } };
}
