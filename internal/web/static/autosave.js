// Draft autosave for the Hush note editor. Served as a file (the CSP allows
// scripts from this server only); without it the "Save draft" button does
// the same. A few seconds after typing stops, the form is posted as a
// draft; the server answers with the draft's address and new version, so
// the next save, or signing, continues from it.
'use strict';
(function () {
  const form = document.querySelector('form[data-autosave]');
  if (!form || !window.fetch) return;
  const status = document.getElementById('autosave-status');
  const quiet = 3000; // ms after the last keystroke
  const spacing = 20000; // ms between two autosaves: each is a version
  let timer = 0, inflight = null, dirty = false, stopped = false, last = 0;

  function save() {
    if (inflight || stopped || !dirty) return;
    const wait = last + spacing - Date.now();
    if (wait > 0) {
      timer = setTimeout(save, wait);
      return;
    }
    last = Date.now();
    inflight = send().finally(() => { inflight = null; });
  }

  async function send() {
    dirty = false;
    const body = new URLSearchParams(new FormData(form));
    body.set('action', 'draft');
    try {
      // getAttribute: the buttons named "action" shadow form.action.
      const resp = await fetch(form.getAttribute('action'), {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Hush-Autosave': '1' },
        body,
      });
      const data = await resp.json().catch(() => ({}));
      if (resp.ok) {
        form.setAttribute('action', data.action);
        form.elements.version.value = String(data.version);
      } else if (resp.status === 409 || resp.status === 403) {
        stopped = true; // someone else's change, or no longer ours: never overwrite
      } else {
        dirty = true; // try again after the next keystroke
      }
      if (status) status.textContent = data.message || data.error || '';
    } catch (e) {
      dirty = true; // offline: the text stays in the page
    }
  }

  form.addEventListener('input', () => {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(save, quiet);
  });
  // Submitting with a button sends the latest text itself, once a save
  // under way has answered (so it goes to the draft's newest version).
  form.addEventListener('submit', (ev) => {
    clearTimeout(timer);
    stopped = true;
    if (inflight) {
      ev.preventDefault();
      const button = ev.submitter;
      inflight.then(() => form.requestSubmit(button));
    }
  });
})();
