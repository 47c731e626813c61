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
    if (form) {
      for (const el of form.querySelectorAll('fieldset, [type="submit"]')) el.disabled = true;
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
