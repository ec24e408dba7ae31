// webauthn.js: passkeys in the browser: the server's JSON options to the browser's API and back (base64url).
'use strict';

function fromB64(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}

function toB64(buf) {
  let s = '';
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function supported() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** create makes a passkey from the server's creation options ({publicKey}); it returns the JSON to send back. */
export async function create(options) {
  const pk = { ...options.publicKey };
  pk.challenge = fromB64(pk.challenge);
  pk.user = { ...pk.user, id: fromB64(pk.user.id) };
  if (pk.excludeCredentials) pk.excludeCredentials = pk.excludeCredentials.map((c) => ({ ...c, id: fromB64(c.id) }));
  const cred = await navigator.credentials.create({ publicKey: pk });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      attestationObject: toB64(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    },
  };
}

/** get signs in with a passkey from the server's request options ({publicKey}); it returns the JSON to send back. */
export async function get(options) {
  const pk = { ...options.publicKey };
  pk.challenge = fromB64(pk.challenge);
  if (pk.allowCredentials) pk.allowCredentials = pk.allowCredentials.map((c) => ({ ...c, id: fromB64(c.id) }));
  const cred = await navigator.credentials.get({ publicKey: pk, mediation: options.mediation || undefined });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      authenticatorData: toB64(r.authenticatorData),
      signature: toB64(r.signature),
      userHandle: r.userHandle ? toB64(r.userHandle) : undefined,
    },
  };
}
