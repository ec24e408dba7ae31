// privacy.js: the privacy notice's "see and erase" buttons: GET /api/me shows what the server
// keeps about this browser's session, DELETE /api/me erases it after a confirmation. The texts are
// in the page, in its language.
'use strict';

const $ = (id) => document.getElementById(id);

function only(id) {
  for (const x of ['me-done', 'me-none', 'me-error']) $(x).hidden = x !== id;
}

async function show() {
  only('');
  try {
    const r = await fetch('/api/me', { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) throw new Error('status ' + r.status);
    const me = await r.json();
    $('me-data').textContent = JSON.stringify(me, null, 2);
    $('me-data').hidden = false;
    if (!me || (!me.session && !me.helpline)) only('me-none');
  } catch {
    only('me-error');
  }
}

function ask() {
  $('me-confirm').hidden = false;
  $('me-yes').focus();
}

function cancel() {
  $('me-confirm').hidden = true;
  $('me-erase').focus();
}

async function erase() {
  $('me-confirm').hidden = true;
  try {
    const r = await fetch('/api/me', { method: 'DELETE', credentials: 'same-origin' });
    if (r.status !== 204) throw new Error('status ' + r.status);
  } catch {
    only('me-error');
    return;
  }
  // This tab's transcript and last choices go too (the language choice stays).
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const k = sessionStorage.key(i);
      if (k && k.startsWith('parley.') && k !== 'parley.lang') sessionStorage.removeItem(k);
    }
  } catch { /* storage disabled: nothing kept */ }
  if (!$('me-data').hidden) await show();
  only('me-done');
}

$('me-show').addEventListener('click', show);
$('me-erase').addEventListener('click', ask);
$('me-no').addEventListener('click', cancel);
$('me-yes').addEventListener('click', erase);
