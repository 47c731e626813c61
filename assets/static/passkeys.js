// soulbridge — passkeys (README "Passkeys"). Loaded only where passkeys are
// offered; without it every page works with the password as before.
'use strict';

(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  for (const el of document.querySelectorAll('[data-js-only]')) el.hidden = false;

  const b64 = {
    decode(s) {
      s = s.replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
      return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
    },
    encode(buf) {
      let bin = '';
      for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
      return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    },
  };

  // requestOptions and creationOptions turn the server's JSON options into
  // what navigator.credentials takes (binary fields as ArrayBuffers).
  const requestOptions = (o) => {
    const pk = Object.assign({}, o.publicKey, { challenge: b64.decode(o.publicKey.challenge) });
    if (pk.allowCredentials) pk.allowCredentials = pk.allowCredentials.map((c) => Object.assign({}, c, { id: b64.decode(c.id) }));
    return pk;
  };
  const creationOptions = (o) => {
    const pk = Object.assign({}, o.publicKey, {
      challenge: b64.decode(o.publicKey.challenge),
      user: Object.assign({}, o.publicKey.user, { id: b64.decode(o.publicKey.user.id) }),
    });
    if (pk.excludeCredentials) pk.excludeCredentials = pk.excludeCredentials.map((c) => Object.assign({}, c, { id: b64.decode(c.id) }));
    return pk;
  };

  // credentialJSON is a PublicKeyCredential as the server reads it.
  const credentialJSON = (c) => {
    const r = c.response;
    const out = { id: c.id, rawId: b64.encode(c.rawId), type: c.type, response: { clientDataJSON: b64.encode(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = b64.encode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = b64.encode(r.authenticatorData);
      out.response.signature = b64.encode(r.signature);
      if (r.userHandle) out.response.userHandle = b64.encode(r.userHandle);
    }
    out.clientExtensionResults = c.getClientExtensionResults ? c.getClientExtensionResults() : {};
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    return out;
  };

  // post sends body as JSON and returns the answer's JSON, or throws its
  // error message.
  const post = async (url, body) => {
    const res = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || 'The request failed (' + res.status + ').');
    return data;
  };

  const sayer = (id) => (text, isError) => {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.classList.toggle('is-error', Boolean(isError));
  };
  const cancelled = (e) => e && (e.name === 'NotAllowedError' || e.name === 'AbortError');

  // Log-in page: the autofill request at load, and the button.
  const login = document.querySelector('[data-passkey-login]');
  if (login) {
    const say = sayer('passkey-login-status');
    const next = login.dataset.next || '';
    const finishURL = '/passkeys/login/finish' + (next ? '?next=' + encodeURIComponent(next) : '');
    let pending = null;
    const finish = async (cred) => {
      say('Logging you in…');
      const data = await post(finishURL, { credential: credentialJSON(cred) });
      window.location.assign(data.redirect || '/community');
    };
    const autofill = async () => {
      if (!login.dataset.options || !PublicKeyCredential.isConditionalMediationAvailable) return;
      if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
      pending = new AbortController();
      login.dataset.mediation = 'conditional';
      try {
        const cred = await navigator.credentials.get({
          publicKey: requestOptions(JSON.parse(login.dataset.options)), mediation: 'conditional', signal: pending.signal,
        });
        if (cred) await finish(cred);
      } catch (e) {
        if (!cancelled(e)) say(e.message, true);
      }
    };
    const button = document.getElementById('passkey-login');
    if (button) {
      button.hidden = false;
      button.addEventListener('click', async () => {
        if (pending) pending.abort();
        pending = null;
        say('');
        try {
          const opts = await post('/passkeys/login/begin');
          login.dataset.mediation = 'optional';
          const cred = await navigator.credentials.get({ publicKey: requestOptions(opts) });
          await finish(cred);
        } catch (e) {
          say(cancelled(e) ? 'No passkey was chosen.' : e.message, true);
        }
      });
    }
    autofill();
  }

  // Sign-up page: the name typed above and a new passkey, no password.
  const signupButton = document.getElementById('passkey-signup');
  if (signupButton) {
    const say = sayer('passkey-signup-status');
    signupButton.addEventListener('click', async () => {
      const username = (document.getElementById('username') || {}).value || '';
      if (!username.trim()) {
        say('Type the username you want first.', true);
        return;
      }
      say('');
      try {
        const opts = await post('/passkeys/signup/begin', { username });
        const cred = await navigator.credentials.create({ publicKey: creationOptions(opts) });
        say('Creating your account…');
        const data = await post('/passkeys/signup/finish', {
          username, handle: opts.publicKey.user.id, name: 'Passkey', credential: credentialJSON(cred),
        });
        window.location.assign(data.redirect || '/community');
      } catch (e) {
        say(cancelled(e) ? 'No passkey was made.' : e.message, true);
      }
    });
  }

  // reauth asks for one of the account's passkeys and returns the proof a
  // sensitive action takes instead of the password.
  const reauth = async () => {
    const opts = await post('/passkeys/reauth/begin');
    const cred = await navigator.credentials.get({ publicKey: requestOptions(opts) });
    return (await post('/passkeys/reauth/finish', { credential: credentialJSON(cred) })).reauth;
  };

  // Account page: add a passkey.
  const addButton = document.getElementById('passkey-add');
  if (addButton) {
    const say = sayer('passkey-add-status');
    addButton.addEventListener('click', async () => {
      const pw = document.getElementById('passkey_add_password');
      const name = (document.getElementById('passkey_name') || {}).value || '';
      say('');
      try {
        const confirm = pw ? { password: pw.value } : { reauth: await reauth() };
        const opts = await post('/passkeys/add/begin', confirm);
        const cred = await navigator.credentials.create({ publicKey: creationOptions(opts) });
        await post('/passkeys/add/finish', { handle: opts.publicKey.user.id, name, credential: credentialJSON(cred) });
        window.location.reload();
      } catch (e) {
        say(cancelled(e) ? 'No passkey was added.' : e.message, true);
      }
    });
  }

  // Sensitive forms of an account without a password: confirm with a
  // passkey when sent.
  for (const form of document.querySelectorAll('form[data-reauth]')) {
    const proof = form.querySelector('input[name="reauth"]');
    if (!proof) continue;
    form.addEventListener('submit', async (ev) => {
      if (proof.value) return;
      ev.preventDefault();
      try {
        proof.value = await reauth();
        form.submit();
      } catch (e) {
        window.alert(cancelled(e) ? 'No passkey was chosen: nothing was changed.' : e.message);
      }
    });
  }
})();
