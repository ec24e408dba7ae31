// notice.js: telling a person in another tab that someone was found or wrote: the tab's title and,
// if they asked for it and the browser allows it, a silent notification. Never a sound.
'use strict';

import { t } from './i18n.js';
import { canNotify } from './support.js';

const plainTitle = 'parley';
let unread = 0;
let wanted = false;

/** init restores the title when the person comes back to the tab. */
export function init() {
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) clear();
  });
}

/**
 * ask asks the browser for permission to notify (it must run from a click) and remembers whether
 * notifications are wanted. It resolves to whether they will be shown.
 */
export async function ask() {
  wanted = false;
  if (!canNotify()) return false;
  let p = Notification.permission;
  if (p === 'default') {
    try {
      p = await Notification.requestPermission();
    } catch {
      p = 'denied';
    }
  }
  wanted = p === 'granted';
  return wanted;
}

export function stop() { wanted = false; }

/** matched says that someone was found, when the tab is not being looked at. */
export function matched(name) {
  if (!document.hidden) return;
  document.title = t('title.matched');
  if (!wanted || !canNotify() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(t('notify.title'), { body: t('notify.body', { name }), silent: true, tag: 'parley' });
    n.addEventListener('click', () => {
      window.focus();
      n.close();
    });
  } catch {
    // Android's Chrome allows notifications only from a service worker: the title still says it.
  }
}

/** message counts a message that came while the tab was not being looked at. */
export function message() {
  if (!document.hidden) return;
  unread++;
  document.title = t('title.messages', { n: unread });
}

export function clear() {
  unread = 0;
  document.title = plainTitle;
}
