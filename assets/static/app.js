// soulbridge — progressive enhancement for the community page.
// Without this script the page still works: the picker is a plain form POST.
'use strict';

(() => {
  const root = document.querySelector('[data-avatar-endpoint]');
  if (!root) return;

  const endpoint = root.dataset.avatarEndpoint;
  const defaultURL = root.dataset.defaultAvatarUrl || '';
  const current = document.getElementById('current-avatar');
  const currentName = document.getElementById('current-avatar-name');
  const sessionEnded = document.getElementById('session-ended');
  const status = document.getElementById('avatar-status');
  const form = document.getElementById('avatar-form');
  const uploadForm = document.getElementById('upload-form');
  const hint = document.getElementById('picker-hint');
  const me = root.dataset.username || '';
  const loginURL = root.dataset.loginUrl || '/login';

  // With this script a click saves at once; the markup's hint is written for
  // the plain form.
  if (hint) hint.textContent = 'Click an avatar to save it. With the keyboard: arrow keys to choose, Space to save.';

  const say = (text, isError) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('is-error', Boolean(isError));
  };

  // nameOf returns the display name of a preset id, from the picker's labels
  // (an id not in the picker, such as "default", is capitalised).
  const nameOf = (id) => {
    id = String(id || 'default');
    if (id === 'custom') return 'Your picture';
    if (form) {
      for (const input of form.querySelectorAll('input[name="avatar"]')) {
        if (input.value !== id) continue;
        const label = input.closest('label');
        const span = label && label.querySelector('span');
        if (span && span.textContent.trim()) return span.textContent.trim();
      }
    }
    return id.charAt(0).toUpperCase() + id.slice(1);
  };

  // show draws the avatar document data; it reports whether data had one.
  const show = (data) => {
    if (!data || typeof data.url !== 'string') return false;
    const name = nameOf(data.avatar);
    if (current) {
      current.src = data.url;
      current.alt = 'Your avatar: ' + name;
    }
    if (currentName) currentName.textContent = name;
    if (form && data.avatar) {
      for (const input of form.querySelectorAll('input[name="avatar"]')) {
        input.checked = input.value === data.avatar;
      }
    }
    const who = data.username || me;
    if (who) {
      for (const tile of document.querySelectorAll('[data-member]')) {
        if (tile.getAttribute('data-member') !== who) continue;
        const img = tile.querySelector('img');
        if (img) {
          img.src = data.url;
          img.alt = name;
        }
      }
    }
    return true;
  };

  // ended shows the logged-out state after a 401: the default avatar, the
  // notice with its log-in link, a header without the stale account, and a
  // picker that no longer pretends to save.
  let isEnded = false;
  const ended = () => {
    isEnded = true;
    if (current && defaultURL) {
      current.src = defaultURL;
      current.alt = 'Your avatar: ' + nameOf('default');
    }
    if (currentName) currentName.textContent = nameOf('default');
    if (sessionEnded) sessionEnded.hidden = false;
    const nav = document.querySelector('.site-nav');
    if (nav && !nav.querySelector('[data-login-again]')) {
      for (const el of nav.querySelectorAll('.nav-user, .logout-form')) el.hidden = true;
      const link = document.createElement('a');
      link.className = 'btn btn-primary';
      link.href = loginURL;
      link.textContent = 'Log in';
      link.setAttribute('data-login-again', '');
      nav.append(link);
    }
    for (const f of [form, uploadForm]) {
      if (!f) continue;
      for (const el of f.querySelectorAll('fieldset, input[type="file"], [type="submit"]')) el.disabled = true;
    }
    say('Log in again to save your avatar.', true);
  };

  const readError = async (res) => {
    try {
      const body = await res.json();
      if (body && typeof body.error === 'string' && body.error) return body.error;
    } catch (_) { /* not JSON */ }
    return 'Something went wrong (' + res.status + ').';
  };

  // discard reads and drops a body this script does not need, so the
  // request completes instead of holding its connection open.
  const discard = (res) => res.text().catch(() => {});

  const request = async (options) => {
    try {
      return await fetch(endpoint, Object.assign({ credentials: 'same-origin' }, options));
    } catch (_) {
      say('Could not reach the server. Check your connection and try again.', true);
      return null;
    }
  };

  // load asks the server for the current avatar: on start, and again
  // whenever the page comes back into view (the session may have ended, or
  // the avatar changed in another tab, while it was hidden). It says in the
  // console where the avatar came from (the README's troubleshooting quotes
  // these lines).
  let loading = false;
  const load = async () => {
    if (loading) return;
    loading = true;
    try {
      const res = await request({ headers: { Accept: 'application/json' } });
      if (!res) return;
      if (res.status === 401) {
        discard(res);
        console.info('avatar fell back to the default: the session is not valid (401)');
        ended();
        return;
      }
      if (!res.ok) { say(await readError(res), true); return; }
      if (isEnded) {
        // Logged in again elsewhere: redraw the whole page for this session.
        window.location.reload();
        return;
      }
      let data;
      try {
        data = await res.json();
      } catch (_) { /* reported below */ }
      if (show(data)) console.info('avatar loaded from the server: ' + data.avatar);
      else say('Could not read your avatar.', true);
    } finally {
      loading = false;
    }
  };

  let saving = false;
  const save = async (id) => {
    if (!id || saving || isEnded) return;
    saving = true;
    const button = form && form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    say('Saving…');
    try {
      const res = await request({
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ avatar: id }),
      });
      if (!res) return;
      if (res.status === 401) { discard(res); ended(); return; }
      if (!res.ok) { say(await readError(res), true); return; }
      let data;
      try {
        data = await res.json();
      } catch (_) {
        say('Saved, but the answer could not be read. Reload to see it.', true);
        return;
      }
      show(data);
      if (sessionEnded) sessionEnded.hidden = true;
      say('Saved.');
    } finally {
      saving = false;
      if (button) button.disabled = isEnded;
    }
  };

  const selected = () => {
    const checked = form && form.querySelector('input[name="avatar"]:checked');
    return checked ? checked.value : '';
  };

  if (form) {
    // Pointer clicks save at once; keyboard arrows only move the selection,
    // and Space/Enter or the Save button saves it.
    let pointer = false;
    form.addEventListener('pointerdown', () => { pointer = true; });
    form.addEventListener('keydown', (event) => {
      pointer = false;
      const t = event.target;
      if (event.key !== ' ' || !(t instanceof HTMLInputElement) || t.type !== 'radio') return;
      if (t.checked) {
        event.preventDefault();
        save(t.value);
      } else {
        pointer = true; // Space checks the radio: an explicit choice, save it.
      }
    });
    form.addEventListener('change', (event) => {
      const t = event.target;
      if (!(t instanceof HTMLInputElement) || t.name !== 'avatar') return;
      if (pointer) {
        pointer = false;
        save(t.value);
      } else {
        say('Press Space or “Save avatar” to save ' + nameOf(t.value) + '.');
      }
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = selected();
      if (id) save(id);
      else say('Pick an avatar first.', true);
    });
  }

  // The upload form: a preview of the chosen file (cropped to the centre
  // square, as the server will), then an upload that stays on the page.
  // Drawn on a canvas from the file itself, so no blob: URL has to be
  // allowed by the page's Content-Security-Policy.
  if (uploadForm) {
    const input = uploadForm.querySelector('input[type="file"]');
    const preview = document.getElementById('upload-preview');
    const upStatus = document.getElementById('upload-status');
    const upButton = uploadForm.querySelector('[type="submit"]');
    const maxBytes = 5 << 20;
    const sayUp = (text, isError) => {
      if (!upStatus) return;
      upStatus.textContent = text;
      upStatus.classList.toggle('is-error', Boolean(isError));
    };
    const chosen = () => (input && input.files && input.files[0]) || null;

    if (input) input.addEventListener('change', async () => {
      const file = chosen();
      if (preview) preview.hidden = true;
      if (!file) { sayUp(''); return; }
      if (file.size > maxBytes) { sayUp('This file is over 5 MB: choose a smaller picture.', true); return; }
      if (!preview || typeof createImageBitmap !== 'function') { sayUp('Press “Upload picture” to use it.'); return; }
      try {
        const bitmap = await createImageBitmap(file);
        const side = Math.min(bitmap.width, bitmap.height);
        const g = preview.getContext('2d');
        g.clearRect(0, 0, preview.width, preview.height);
        g.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side,
          0, 0, preview.width, preview.height);
        if (bitmap.close) bitmap.close();
        preview.hidden = false;
        sayUp('This is how it will look. Press “Upload picture” to use it.');
      } catch (_) {
        sayUp('This file cannot be shown: choose a PNG, JPEG, GIF or WebP picture.', true);
      }
    });

    let uploading = false;
    uploadForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (uploading || isEnded) return;
      const file = chosen();
      if (!file) { sayUp('Choose a picture first.', true); return; }
      if (file.size > maxBytes) { sayUp('This file is over 5 MB: choose a smaller picture.', true); return; }
      const body = new FormData();
      body.append('file', file);
      uploading = true;
      if (upButton) upButton.disabled = true;
      sayUp('Uploading…');
      try {
        let res;
        try {
          res = await fetch(uploadForm.action, {
            method: 'POST', body, credentials: 'same-origin', headers: { Accept: 'application/json' },
          });
        } catch (_) {
          sayUp('Could not reach the server. Check your connection and try again.', true);
          return;
        }
        if (res.status === 401) { discard(res); ended(); return; }
        if (!res.ok) { sayUp(await readError(res), true); return; }
        let data;
        try {
          data = await res.json();
        } catch (_) { /* reported below */ }
        if (!show(data)) { sayUp('Uploaded, but the answer could not be read. Reload to see it.', true); return; }
        uploadForm.reset();
        if (preview) preview.hidden = true;
        say('');
        sayUp('Uploaded: this is your avatar now.');
      } finally {
        uploading = false;
        if (upButton) upButton.disabled = isEnded;
      }
    });
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') load();
  });
  // A page restored from the back/forward cache runs no script from the
  // start: check the session again.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) load();
  });

  load();
})();
