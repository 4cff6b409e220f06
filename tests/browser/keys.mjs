// The Hosts step with a private key, in the system's headless Chromium (playwright-core), as
// an operator would: log in; paste a PUBLIC key by mistake (refused, the reason shown); choose
// the private key's FILE (the browser reads it into the text box), give its passphrase, add
// the host; the table shows "pasted key SHA256:..." and the form is empty again; test the
// connection, accept the host key, test again: logged in with that key (no error on the row).
// Nowhere in the page (text, form fields) is any line of the key left.
//
// Run by tests/tests/api_keys.rs (lab58); by hand:
//   URL=http://127.0.0.1:PORT TOKEN=... ADDRESS=10.213.0.68 NAME=lab58 KEY_FILE=/path/key \
//   PASSPHRASE=... PUBLIC="ssh-ed25519 AAAA..." FINGERPRINT=SHA256:... SHOTS=target/console-keys \
//   node tests/browser/keys.mjs
// Prints `RESULT {...}`; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('URL');
const SHOTS = env('SHOTS');
const NAME = env('NAME');
const FINGERPRINT = env('FINGERPRINT');
const keyLines = readFileSync(env('KEY_FILE'), 'utf8').split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(Number(env('STEP_TIMEOUT_MS', '30000')));
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
// 401 before the login and the 422 of the public key are expected answers, logged by
// Chromium as "Failed to load resource": not the page's fault.
page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
const row = `#hosts tr[data-host="${NAME}"]`;
const steps = [];
let current = 'start';

// Every text and form value the page holds now, to look for the key in.
const pageText = () => page.evaluate(() => [document.body.innerText,
  ...Array.from(document.querySelectorAll('input, textarea')).map((e) => e.value)].join('\n'));

async function step(name, fn) {
  current = name;
  process.stderr.write(`console keys: ${name}\n`);
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: `${SHOTS}/FAILED-${name}.png`, fullPage: true }).catch(() => {});
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    process.stderr.write(`\nstep "${name}" failed at ${page.url()}: ${e.stack || e}\n--- page text ---\n${text.slice(0, 3000)}\n--- browser errors ---\n${errors.join('\n')}\n`);
    await browser.close();
    process.exit(1);
  }
  steps.push(name);
  await page.screenshot({ path: `${SHOTS}/${String(steps.length).padStart(2, '0')}-${name}.png`, fullPage: true });
}

await step('login', async () => {
  await page.goto(`${URL}/hosts`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#token', env('TOKEN'));
  await page.click('#login');
  await page.waitForURL(/\/hosts$/);
});

await step('public-key-refused', async () => {
  await page.fill('#address', env('ADDRESS'));
  await page.fill('#hostname', NAME);
  await page.fill('#user', 'root');
  await page.selectOption('#auth', 'key');
  await page.fill('#private-key', env('PUBLIC'));
  await page.click('#add');
  const alert = await page.waitForSelector('form .error[role=alert]');
  const text = await alert.textContent();
  if (!text.includes('this is a public key, not a private key')) throw new Error(`alert: ${text}`);
});

await step('key-file-added', async () => {
  await page.setInputFiles('#private-key-file', env('KEY_FILE'));
  await page.waitForFunction(() => document.querySelector('#private-key').value.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----'));
  await page.fill('#passphrase', env('PASSPHRASE'));
  await page.click('#add');
  await page.waitForSelector(row);
  const auth = await page.textContent(`${row} td:nth-child(4)`);
  if (auth.trim() !== `pasted key ${FINGERPRINT}`) throw new Error(`auth cell: ${auth}`);
  // Sent once, then gone from the form.
  await page.waitForFunction(() => document.querySelector('#private-key').value === '' && document.querySelector('#passphrase').value === '');
  const text = await pageText();
  for (const l of keyLines) if (text.includes(l)) throw new Error('the page still holds the key');
});

await step('connection-tested', async () => {
  await page.click(`${row} button.scan`);
  await page.waitForSelector(`${row} button.accept`);
  const fp = await page.textContent(`${row} .fingerprint`);
  if (!/SHA256:/.test(fp)) throw new Error(`no host key fingerprint: ${fp}`);
  await page.click(`${row} button.accept`);
  await page.waitForSelector(`${row} [data-trust="trusted"]`);
  // Test again: the login itself, with the key, now that the host key is trusted.
  const listed = page.waitForResponse((r) => r.url().endsWith('/api/hosts') && r.request().method() === 'GET');
  await page.click(`${row} button.scan`);
  await listed;
  await page.waitForSelector(`${row} [data-trust="trusted"]`);
  const rowErrors = await page.$$eval(`${row} .error`, (es) => es.map((e) => e.textContent));
  if (rowErrors.length) throw new Error(`the login failed: ${rowErrors.join('; ')}`);
});

const text = await pageText();
for (const l of keyLines) if (text.includes(l)) throw new Error('the page holds the key');
if (errors.length) {
  process.stderr.write(`browser errors: ${errors.join('\n')}\n`);
  await browser.close();
  process.exit(1);
}
console.log(`RESULT ${JSON.stringify({ steps, current })}`);
await browser.close();
