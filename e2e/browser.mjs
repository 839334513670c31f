// Browser tests for the Hush web app, run by TestBrowser in internal/web
// (go test), which starts a real Hush server over TLS and passes its
// address and accounts in the JSON file named by the first argument.
//
// Playwright drives Debian's Chromium headless. Each scenario runs in a
// fresh browser context (its own cookies), checks the security headers
// of every page it loads, runs axe-core on each main page, and, when
// HUSH_SCREENSHOTS names a folder, saves a screenshot there.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import jsQR from 'jsqr';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const shots = process.env.HUSH_SCREENSHOTS || '';
if (shots) mkdirSync(shots, { recursive: true });

// --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s), as an authenticator app does.
function base32(s) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, val = 0; const out = [];
  for (const ch of s.replace(/=+$/, '').toUpperCase()) {
    const i = abc.indexOf(ch);
    if (i < 0) throw new Error('bad base32');
    val = (val << 5) | i; bits += 5;
    if (bits >= 8) { out.push((val >>> (bits - 8)) & 255); bits -= 8; }
  }
  return Buffer.from(out);
}
function totp(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', secret).update(msg).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 30000);

// --- every page: security headers and accessibility.
const documents = [];
function watch(page) {
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document') return;
    documents.push(r.allHeaders().then((h) => ({ status: r.status(), where: new URL(r.url()).pathname, h })));
  });
}
async function checkHeaders() {
  for (const { status, where, h } of await Promise.all(documents.splice(0))) {
    if (status >= 300 && status < 400) continue; // redirects carry no page
    const csp = h['content-security-policy'] || '';
    assert.match(csp, /default-src 'none'/, `${where}: CSP ${csp}`);
    assert.match(csp, /frame-ancestors 'none'/, `${where}: CSP ${csp}`);
    assert.doesNotMatch(csp, /unsafe/, `${where}: CSP ${csp}`);
    assert.equal(h['cache-control'], 'no-store', `${where}: Cache-Control`);
    assert.match(h['strict-transport-security'] || '', /max-age=\d+/, `${where}: HSTS`);
    assert.equal(h['x-content-type-options'], 'nosniff', `${where}: nosniff`);
    const cookies = h['set-cookie'] || '';
    for (const c of cookies.split('\n').filter(Boolean)) {
      assert.match(c, /^__Host-/, `${where}: cookie name`);
      assert.match(c, /Secure/i); assert.match(c, /HttpOnly/i); assert.match(c, /SameSite=Strict/i);
    }
    headersChecked++;
  }
}
let headersChecked = 0;

const checked = [];
// main checks a main page: headers, axe-core (no serious or critical
// violation), and a screenshot.
async function main(page, name) {
  await checkHeaders();
  // axe-core is evaluated through the DevTools protocol, which the page's
  // CSP does not govern; the page itself still loads no script.
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `axe on ${name}`);
  checked.push(name);
  // The audit log is long: its first screen shows what it is.
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: name !== 'admin-audit' });
}

async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'en-GB', viewport: { width: 1200, height: 800 }, ...opts });
  const page = await context.newPage();
  watch(page);
  return { context, page };
}

// signIn: password, then the second factor; at the first sign-in, give
// the enrolment code, enrol TOTP by reading the QR code off the screen, keep the recovery codes and
// choose a new password.
async function signIn(page, user, base = cfg.url) {
  await page.goto(base + '/signin');
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  let path = new URL(page.url()).pathname;
  if (path === '/signin/code') {
    // A new account: the one-time enrolment code handed over apart from
    // the password comes before any enrolment.
    if (user.shot) await main(page, 'enrolment-code');
    await page.getByLabel('Enrolment code').fill(user.enrol);
    await page.getByRole('button', { name: 'Continue' }).click();
    path = new URL(page.url()).pathname;
  }
  if (path === '/signin/enroll') {
    const png = PNG.sync.read(await page.locator('.qr svg').screenshot());
    const qr = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    assert.ok(qr, 'the enrolment QR code decodes');
    const uri = new URL(qr.data);
    assert.equal(uri.protocol, 'otpauth:');
    const shown = await page.getByTestId('totp-key').textContent();
    assert.equal(uri.searchParams.get('secret'), shown.trim(), 'QR and text key agree');
    user.secret = base32(shown.trim());
    if (user.shot) await main(page, 'enroll');
    user.step = stepNow();
    await page.getByLabel('Code', { exact: true }).fill(totp(user.secret, user.step));
    await page.getByRole('button', { name: 'Continue' }).click();
    user.codes = await page.locator('main code').allTextContents();
    assert.equal(user.codes.length, 10, 'ten recovery codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
  } else {
    assert.equal(path, '/signin/mfa');
    // Each code works once: wait for a fresh step if this one was used.
    while (stepNow() <= (user.step || 0)) await page.waitForTimeout(1000);
    user.step = stepNow();
    await page.getByLabel('Code', { exact: true }).fill(totp(user.secret, user.step));
    await page.getByRole('button', { name: 'Continue' }).click();
  }
  if (new URL(page.url()).pathname === '/signin/password') {
    user.password = user.password + ' but mine';
    await page.getByLabel(/^New password/).fill(user.password);
    await page.getByLabel('The same again').fill(user.password);
    await page.getByRole('button', { name: 'Save' }).click();
  }
  assert.equal(new URL(page.url()).pathname, '/patients', 'signed in');
}

const results = [];
async function scenario(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n${e.stack || e}`);
  }
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let patientURL = '';

await scenario('clinician: TOTP sign-in, register, SOAP sign and amend, PHQ-9 trend', async () => {
  documents.length = 0;
  const { page, context } = await newPage(browser);
  const u = cfg.clinician; u.shot = true;
  await page.goto(cfg.url + '/signin');
  await main(page, 'signin');
  await signIn(page, u);
  await main(page, 'patients');

  await page.getByRole('link', { name: 'Register a patient' }).click();
  await main(page, 'register');
  await page.getByLabel('Family name').fill('Testinen');
  await page.getByLabel('Given names').fill('Kaisa');
  await page.getByLabel('Date of birth').fill('1988-04-12');
  await page.getByLabel('Mobile phone').fill('+358 40 123 4567');
  await page.getByRole('button', { name: 'Register' }).click();
  assert.match(page.url(), /\/patients\/[A-Za-z0-9_-]+$/);
  patientURL = page.url();
  await assert.doesNotReject(page.getByRole('heading', { level: 1, name: 'Testinen, Kaisa' }).waitFor());

  // A SOAP note: the template is there, sign it, then amend it.
  await page.getByRole('link', { name: 'New note' }).click();
  await page.getByRole('link', { name: 'SOAP' }).click();
  await main(page, 'note-editor');
  const text = page.getByLabel(/^Text/);
  assert.match(await text.inputValue(), /^Subjective:[\s\S]*^Plan:/m, 'SOAP template');
  await page.getByLabel('Title').fill('First session');
  await text.fill('Subjective: low mood for two months\nO: calm, good contact\nA: moderate depression\nP: weekly sessions');
  // Autosave keeps the draft a few seconds after typing stops.
  await page.getByRole('status').filter({ hasText: /Draft saved at \d\d:\d\d/ }).waitFor();
  assert.match(await page.locator('form.editor').getAttribute('action'), /^\/notes\//, 'the form now saves the draft');
  await text.press('End');
  await text.type('\nNext: sleep diary');
  await page.getByRole('button', { name: 'Sign and lock' }).click();
  await assert.doesNotReject(page.getByRole('heading', { name: /First session · SOAP · Signed/ }).waitFor());
  await page.getByRole('link', { name: 'Amend' }).first().click();
  await page.getByLabel(/^Text/).fill('Subjective: low mood for two months\nO: calm, good contact\nA: moderate depression (F32.1)\nP: weekly sessions');
  await page.getByRole('button', { name: 'Save amendment' }).click();
  await assert.doesNotReject(page.getByRole('heading', { name: /First session · SOAP · Amended/ }).waitFor());
  await page.getByRole('link', { name: 'Versions' }).first().click();
  assert.equal(await page.locator('article').count() >= 2, true, 'both versions shown');
  await main(page, 'note-history');

  // Two PHQ-9s: a score, a severity band, the item-9 flag and the trend.
  for (const answers of [[2, 2, 2, 2, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 0, 1]]) {
    await page.goto(patientURL);
    await page.getByRole('link', { name: 'PHQ-9' }).click();
    if (answers[8] === 0) await main(page, 'phq9');
    const groups = page.locator('fieldset');
    for (let i = 0; i < 9; i++) await groups.nth(i).getByRole('radio').nth(answers[i]).check();
    await page.getByRole('button', { name: 'Save and score' }).click();
  }
  await assert.doesNotReject(page.getByRole('heading', { name: /PHQ-9: 8 · [Mm]ild/ }).waitFor());
  await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'PHQ-9 item 9' }).waitFor());
  assert.equal(await page.locator('.trend svg').count(), 1, 'a trend chart');
  assert.ok(await page.locator('.trend svg circle').count() >= 2, 'two points on the trend');
  await main(page, 'chart');

  await page.goto(cfg.url + '/');
  await main(page, 'my-day');
  await context.close();
});

await scenario('reception: book and move, no note by URL', async () => {
  documents.length = 0;
  const { page, context } = await newPage(browser);
  const u = cfg.reception;
  await signIn(page, u);
  await page.goto(cfg.url + '/patients/' + cfg.patient);
  assert.equal(await page.getByText(cfg.noteMarker).count(), 0, 'no clinical content on the chart');
  await page.getByRole('link', { name: 'Book an appointment' }).click();
  await main(page, 'appointment-new');
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  await page.getByLabel('Date').fill(tomorrow);
  await page.getByLabel('Time').fill('10:00');
  await page.getByRole('button', { name: 'Book' }).click();
  assert.match(new URL(page.url()).pathname, /^\/calendar/);
  const row = (time) => page.getByRole('row', { name: new RegExp(time) });
  await row('10:00').waitFor();
  await row('10:00').getByRole('link', { name: 'Open' }).click();
  await main(page, 'appointment');
  await page.getByLabel('Time').fill('11:30');
  await page.getByRole('button', { name: 'Move' }).click();
  await row('11:30').waitFor();
  assert.equal(await row('10:00').count(), 0, 'moved, not copied');
  await page.getByLabel('View').selectOption('week');
  await page.getByRole('button', { name: 'Show' }).click();
  await row('11:30').waitFor();
  await main(page, 'calendar');

  for (const path of [`/notes/${cfg.note}/edit`, `/notes/${cfg.note}/history`, `/patients/${cfg.patient}/notes/new`, `/patients/${cfg.patient}/measures/new?instrument=PHQ-9`]) {
    const resp = await page.goto(cfg.url + path);
    assert.equal(resp.status(), 403, path);
    assert.equal(await page.getByText(cfg.noteMarker).count(), 0);
  }
  await checkHeaders();
  await context.close();
});

await scenario('security key: register, then sign in with Chromium\'s virtual authenticator', async () => {
  documents.length = 0;
  const { page, context } = await newPage(browser);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const u = cfg.webauthn;
  await signIn(page, u, cfg.keysURL);
  await page.getByRole('link', { name: 'Juhani R' }).click();
  assert.equal(new URL(page.url()).pathname, '/account/keys');
  // Adding a key asks for the second step again: a recovery code here.
  await page.getByLabel(/^Code from your app/).fill('000000');
  await page.getByRole('button', { name: 'Add security key' }).click();
  await page.locator('#key-status').filter({ hasText: 'The code is wrong' }).waitFor();
  await page.getByLabel(/^Code from your app/).fill(u.codes[0]);
  await page.getByLabel('Name').fill('Desk key');
  await page.getByRole('button', { name: 'Add security key' }).click();
  await page.getByTestId('key-name').filter({ hasText: 'Desk key' }).waitFor();
  await main(page, 'security-keys');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds one credential');

  // Sign out, then in again: password, then the key instead of a code.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.goto(cfg.keysURL + '/signin');
  await page.getByLabel('Email').fill(u.email);
  await page.getByLabel('Password').fill(u.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(new URL(page.url()).pathname, '/signin/mfa');
  await main(page, 'signin-second-step');
  await page.getByRole('button', { name: 'Use a security key' }).click();
  await page.waitForURL((url) => url.pathname === '/patients');
  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.ok(after.credentials[0].signCount >= 1, 'the key signed');

  // Removing the key asks for the second factor again.
  await page.goto(cfg.keysURL + '/account/keys');
  await page.getByLabel('Code from your app, to remove: Desk key').fill(u.codes[1]);
  await page.getByRole('button', { name: 'Remove: Desk key' }).click();
  assert.equal(new URL(page.url()).pathname, '/account/keys');
  assert.equal(await page.getByTestId('key-name').count(), 0, 'the key is removed');

  await context.close();
});

await scenario('admin pages', async () => {
  documents.length = 0;
  const { page, context } = await newPage(browser);
  await signIn(page, cfg.admin, cfg.adminURL);
  for (const [path, name] of [['/admin/users', 'admin-users'], ['/admin/careteam', 'admin-careteam'], ['/admin/audit', 'admin-audit'], ['/admin/alerts', 'admin-alerts'], ['/admin/settings', 'admin-settings']]) {
    await page.goto(cfg.adminURL + path);
    await main(page, name);
  }
  await context.close();
});

await browser.close();
writeFileSync(process.argv[3] || '/dev/null', JSON.stringify({ results, checked, headersChecked }, null, 1));
if (results.some((r) => !r.ok)) process.exit(1);
