// The console's pre-flight "Fix", in the system's headless Chromium (playwright-core): log in,
// add one lab host, accept its host key, give it a kube role, run pre-flight, see the broken
// check warn with a Fix button, press it FROM THE KEYBOARD, then see what Fix did and the same
// check pass in the re-checked matrix; then the host broken again (over ssh, $BREAK), a fresh
// pre-flight, and "Fix all safe": the same outcome. A screenshot of each step goes to $SHOTS.
//
// Run by tests/tests/console_preflight.rs (which breaks the host first); by hand:
//   URL=http://127.0.0.1:PORT TOKEN=... ADDRESS=10.213.0.66 NAME=lab56 KEY=/path/id_ed25519 \
//   CHECK=sysctl:net.ipv4.ip_forward KNOWN_HOSTS=/var/lib/cairn-lab/known_hosts \
//   BREAK='echo 0 > /proc/sys/net/ipv4/ip_forward' SHOTS=target/console-preflight node tests/browser/preflight_fix.mjs
// Prints one JSON line `RESULT {...}`; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('URL');
const SHOTS = env('SHOTS');
const NAME = env('NAME');
const CHECK = env('CHECK');
const STEP_MS = Number(env('STEP_TIMEOUT_MS', '60000'));
mkdirSync(SHOTS, { recursive: true });

const result = { steps: [] };
let shot = 0;
const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(STEP_MS);
const pageErrors = [];
let current = 'start';
page.on('pageerror', (e) => pageErrors.push(`${current}: ${e.stack || e}`));

async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  process.stderr.write(`console preflight: ${name}\n`);
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: `${SHOTS}/FAILED-${name}.png`, fullPage: true }).catch(() => {});
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    process.stderr.write(`\nstep "${name}" failed at ${page.url()}: ${e.stack || e}\n--- page text ---\n${text.slice(0, 4000)}\n--- page errors ---\n${pageErrors.join('\n')}\n`);
    await browser.close();
    process.exit(1);
  }
  result.steps.push({ name, ms: Date.now() - t0 });
  shot += 1;
  await page.screenshot({ path: `${SHOTS}/${String(shot).padStart(2, '0')}-${name}.png`, fullPage: true });
}

await step('login', async () => {
  await page.goto(`${URL}/hosts`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#token', env('TOKEN'));
  await page.click('#login');
  await page.waitForURL(/\/hosts$/);
});

await step('host-accepted', async () => {
  await page.fill('#address', env('ADDRESS'));
  await page.fill('#hostname', NAME);
  await page.fill('#user', 'root');
  await page.selectOption('#auth', 'key_path');
  await page.fill('#key-path', env('KEY'));
  await page.click('#add');
  await page.waitForSelector(`#hosts tr[data-host="${NAME}"]`);
  await page.click('#scan-all');
  await page.waitForSelector(`#hosts tr[data-host="${NAME}"] button.accept`);
  await page.click(`#hosts tr[data-host="${NAME}"] button.accept`);
  await page.waitForSelector(`#hosts tr[data-host="${NAME}"] [data-trust="trusted"]`);
});

await step('roles', async () => {
  await page.goto(`${URL}/roles`);
  await page.check(`#roles input[data-role="etcd"][data-host="${NAME}"]`);
  await page.check(`#roles input[data-role="kube_master"][data-host="${NAME}"]`);
  await page.waitForSelector('#roles-valid');
});

const row = `#checks tr[data-check="${CHECK}"]`;
await step('preflight-warns', async () => {
  await page.goto(`${URL}/preflight`);
  await page.click('#run-preflight');
  await page.waitForSelector('#preflight-status');
  await page.waitForSelector(`${row} td[data-status="warn"]`);
  result.before = await page.textContent(`${row} td[data-status]`);
  // Offered for a check --fix can remedy, and not for one it cannot.
  await page.waitForSelector(`${row} button[data-fix="${CHECK}"]`);
  await page.waitForSelector('#fix-all');
  if (await page.$('#checks tr[data-check="memory"] button.fix')) throw new Error('a Fix button on memory');
  if (await page.$('#fixes')) throw new Error('a fix record before any fix');
});

// Keyboard only: focus the row's Fix button by its accessible name, press Enter.
await step('fixed-from-the-keyboard', async () => {
  const before = await page.getAttribute('a[href^="/runs/"]', 'href');
  const button = page.getByRole('button', { name: `Fix ${CHECK}` });
  await button.focus();
  const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-fix'));
  if (focused !== CHECK) throw new Error(`focus is on ${focused}, not the Fix button`);
  await page.keyboard.press('Enter');
  // A new run, with what was done, then the check again: passed.
  await page.waitForFunction((b) => {
    const a = document.querySelector('a[href^="/runs/"]');
    return a && a.getAttribute('href') !== b && document.querySelector('#preflight-status');
  }, before);
  const li = `#fixes li[data-host="${NAME}"][data-check="${CHECK}"]`;
  await page.waitForSelector(li);
  result.fix_outcome = await page.getAttribute(li, 'data-outcome');
  result.fix_text = await page.textContent(li);
  await page.waitForSelector(`${row} td[data-status="pass"]`);
  result.after = await page.textContent(`${row} td[data-status]`);
  if (await page.$(`${row} button.fix`)) throw new Error('still a Fix button on a passed check');
});

// The run link's href now, and a wait until another run's matrix is shown.
const runHref = () => page.getAttribute('a[href^="/runs/"]', 'href');
const nextRun = (before) => page.waitForFunction((b) => {
  const a = document.querySelector('a[href^="/runs/"]');
  return a && a.getAttribute('href') !== b && document.querySelector('#checks');
}, before);

await step('fix-all-safe', async () => {
  execFileSync('ssh', ['-i', env('KEY'), '-o', `UserKnownHostsFile=${env('KNOWN_HOSTS')}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${env('ADDRESS')}`, env('BREAK')]);
  let before = await runHref();
  await page.click('#run-preflight');
  await nextRun(before);
  await page.waitForSelector(`${row} td[data-status="warn"]`);
  if (await page.$('#fixes')) throw new Error('a fix record on a run without fix');
  before = await runHref();
  await page.click('#fix-all');
  await nextRun(before);
  const li = `#fixes li[data-host="${NAME}"][data-check="${CHECK}"]`;
  await page.waitForSelector(li);
  result.fix_all_outcome = await page.getAttribute(li, 'data-outcome');
  await page.waitForSelector(`${row} td[data-status="pass"]`);
  if (await page.$('#fix-all')) throw new Error('"Fix all safe" offered with nothing left to fix');
});

await browser.close();
if (pageErrors.length) {
  process.stderr.write(`page errors:\n${pageErrors.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
