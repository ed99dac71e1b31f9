/* Sign-in page: POST /api/session, then go to ?next= (same-origin paths only), default /inbox. */
(function () {
  'use strict';

  const DEFAULT_NEXT = '/inbox';
  const api = window.ErpApi.createClient({ base: '' });
  const form = document.getElementById('signin-form');
  const username = document.getElementById('username');
  const password = document.getElementById('password');
  const submit = document.getElementById('signin-submit');
  const error = document.getElementById('signin-error');

  function nextPath() {
    const next = new URLSearchParams(location.search).get('next');
    return window.ErpUi.safeNextPath(next, DEFAULT_NEXT);
  }

  function showError(message, field) {
    error.textContent = message;
    if (field) field.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    const name = username.value.trim();
    if (!name) { showError('Enter your username.', username); return; }
    if (!password.value) { showError('Enter your password.', password); return; }
    submit.disabled = true;
    error.textContent = '';
    try {
      await api.signIn(name, password.value);
      location.assign(nextPath());
    } catch (err) {
      password.value = '';
      showError(err.message, password);
      submit.disabled = false;
    }
  }

  /** Already signed in? Say so, with a way on; signing in again switches user. */
  async function showCurrentUser() {
    try {
      const me = await api.me();
      const note = document.getElementById('signed-in-as');
      const link = window.ErpUi.el('a', { href: nextPath() }, 'Continue as ' + me.display_name);
      note.replaceChildren('You are signed in as ' + me.display_name + '. ', link, ' or sign in as someone else.');
      note.hidden = false;
    } catch (err) {
      /* not signed in: the form is all there is */
    }
  }

  form.addEventListener('submit', onSubmit);
  showCurrentUser();
})();
