// support.js: what this browser and this page can do, checked before anything depends on it.
'use strict';

/**
 * hasWebRTC: parley cannot work without RTCPeerConnection (switched off in Firefox with
 * media.peerconnection.enabled, by some extensions, or missing in some WebKit builds). The page
 * checks before join, so such a browser is never matched with anyone.
 */
export function hasWebRTC() {
  return typeof globalThis.RTCPeerConnection === 'function';
}

/** canUseCamera: browsers offer getUserMedia only in a secure context (HTTPS or localhost). */
export function canUseCamera() {
  return !!(navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function');
}

/** cameraProblem is the i18n key that says why the camera cannot be used here, or '' if it can. */
export function cameraProblem() {
  if (canUseCamera()) return '';
  return window.isSecureContext === false ? 'camera.insecure' : 'camera.missing';
}

/** mediaProblem is cameraProblem for video, and the same for the microphone of a voice chat. */
export function mediaProblem(media) {
  if (media === 'video') return cameraProblem();
  if (media !== 'audio' || canUseCamera()) return '';
  return window.isSecureContext === false ? 'microphone.insecure' : 'microphone.missing';
}

/** canNotify: notifications exist only in a secure context, and not in every browser. */
export function canNotify() {
  return typeof globalThis.Notification === 'function' && window.isSecureContext !== false;
}
