// coordinator.js: the coordinator's part of the staff page: invites, staff, blocks and the audit log.
'use strict';

import { $, el, formatDate, apiJSON, t } from './hlconn.js';
import { errorMessage } from './i18n.js';

const data = { invites: [], members: [], blocks: [], audit: [], started: false };

/** start loads the lists and wires the invite button; call it once, for a coordinator. */
export async function start() {
  if (data.started) return;
  data.started = true;
  $('new-invite').addEventListener('click', async () => {
    try {
      const inv = await apiJSON('POST', '/api/staff/invites', { role: 'volunteer' });
      $('invite-link').value = location.origin + inv.path;
      $('invite-made').hidden = false;
      $('invite-link').select();
    } catch {
      showError();
    }
    await load();
  });
  await load();
}

function showError() {
  $('alert').textContent = errorMessage('internal');
  $('alert').hidden = false;
}

async function load() {
  try {
    [data.invites, data.members, data.blocks, data.audit] = await Promise.all(
      ['invites', 'members', 'blocks', 'audit'].map((l) => apiJSON('GET', '/api/staff/' + l)));
  } catch {
    showError();
  }
  render();
}

function item(text, button, action) {
  const li = el('li', '', '');
  li.append(el('span', '', text));
  if (button) {
    const b = el('button', 'small', button);
    b.type = 'button';
    b.addEventListener('click', async () => {
      try {
        await action();
      } catch {
        showError();
      }
      await load();
    });
    li.append(' ', b);
  }
  return li;
}

function list(id, entries) {
  const ul = $(id);
  ul.replaceChildren(...(entries.length ? entries : [el('li', 'muted', t('staff.none'))]));
}

/** render draws the lists again (after a load, or a language switch). */
export function render() {
  if (!data.started) return;
  list('invites', data.invites.map((inv) => {
    const li = item(t('staff.inviteEntry', { role: t('staff.role.' + inv.role), date: formatDate(new Date(inv.expires)) }),
      t('staff.revoke'), () => apiJSON('DELETE', '/api/staff/invites/' + encodeURIComponent(inv.id)));
    li.dataset.invite = inv.id;
    return li;
  }));
  list('members', data.members.map((m) => {
    const text = m.name + ' (' + t('staff.role.' + m.role) + ')' + (m.revoked ? ', ' + t('staff.memberRevoked', { date: formatDate(new Date(m.revoked)) }) : '');
    const canRevoke = !m.revoked && m.role === 'volunteer';
    const li = item(text, canRevoke ? t('staff.revoke') : '', () => apiJSON('DELETE', '/api/staff/members/' + encodeURIComponent(m.id)));
    li.dataset.member = m.id;
    return li;
  }));
  list('blocks', data.blocks.map((b) => {
    const li = item(t('staff.blockEntry', { date: formatDate(new Date(b.until)), strikes: b.strikes || 1 }), t('staff.lift'),
      () => apiJSON('DELETE', '/api/staff/blocks/' + encodeURIComponent(b.id)));
    li.dataset.block = b.id;
    return li;
  }));
  list('audit', data.audit.map((e) => item(formatDate(new Date(e.at)) + ': ' + (e.name || e.actor) + ', ' + e.action + (e.target ? ' ' + e.target.slice(0, 12) : ''))));
}
