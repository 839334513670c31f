// Security keys and passkeys (WebAuthn) for Hush. Served as a file, so the
// Content-Security-Policy allows scripts from this server only. Pages work
// without it: the authenticator-app code form is always there.
'use strict';
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function b64u(buf) {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function unb64u(s) {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  }
  // The server speaks the W3C JSON forms (base64url buffers); older
  // browsers without the JSON helpers get the buffers converted here.
  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    return Object.assign({}, o, {
      challenge: unb64u(o.challenge),
      user: Object.assign({}, o.user, { id: unb64u(o.user.id) }),
      excludeCredentials: (o.excludeCredentials || []).map((c) => Object.assign({}, c, { id: unb64u(c.id) })),
    });
  }
  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    return Object.assign({}, o, {
      challenge: unb64u(o.challenge),
      allowCredentials: (o.allowCredentials || []).map((c) => Object.assign({}, c, { id: unb64u(c.id) })),
    });
  }
  function toJSON(cred) {
    if (cred.toJSON) return cred.toJSON();
    const r = cred.response, out = { id: cred.id, rawId: b64u(cred.rawId), type: cred.type, response: { clientDataJSON: b64u(r.clientDataJSON) } };
    if (r.attestationObject) out.response.attestationObject = b64u(r.attestationObject);
    if (r.authenticatorData) out.response.authenticatorData = b64u(r.authenticatorData);
    if (r.signature) out.response.signature = b64u(r.signature);
    if (r.userHandle) out.response.userHandle = b64u(r.userHandle);
    out.clientExtensionResults = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    return out;
  }
  async function post(url, body) {
    const resp = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.error || '');
    return data;
  }
  function fail(box, status, err) {
    status.textContent = (err && err.message) || box.dataset.error;
  }

  // The second step of sign-in: "Use a security key".
  const signin = document.getElementById('key-signin');
  if (signin) {
    signin.hidden = false;
    const status = signin.querySelector('[role=status]');
    document.getElementById('key-signin-btn').addEventListener('click', async () => {
      status.textContent = '';
      try {
        const opts = await post('/signin/key/begin');
        const cred = await navigator.credentials.get({ publicKey: requestOptions(opts.publicKey) });
        const res = await post('/signin/key/finish', toJSON(cred));
        location.assign(res.next);
      } catch (err) {
        fail(signin, status, err && err.name === 'NotAllowedError' ? null : err);
      }
    });
  }

  // The account page: "Add security key".
  const add = document.getElementById('key-add');
  if (add) {
    const status = add.querySelector('[role=status]');
    add.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      status.textContent = '';
      try {
        const opts = await post('/account/keys/begin', { code: add.elements.code.value });
        const cred = await navigator.credentials.create({ publicKey: creationOptions(opts.publicKey) });
        const res = await post('/account/keys/finish', { name: add.elements.name.value, credential: toJSON(cred) });
        location.assign(res.next);
      } catch (err) {
        fail(add, status, err && err.name === 'NotAllowedError' ? null : err);
      }
    });
  }
})();
