// Drives Cairn's web console through the whole wizard in the system's headless Chromium
// (Debian `chromium`, driven by playwright-core), as an operator would: log in, add the lab
// hosts by range, test and accept their host keys, assign roles, run pre-flight, review the
// cluster.yaml, install, watch the progress reach 100 %, open a host's output, find the run
// in the history; then open a synthetic run of 500 hosts x 100 tasks and measure how long the
// page takes to apply its 50 000 events. A screenshot of each step goes to $SHOTS.
//
// Run by tests/tests/console.rs (which starts `cairn serve`, builds the bundle and writes the
// synthetic run); by hand:
//   URL=http://127.0.0.1:PORT TOKEN=... HOSTS_RANGE=10.213.0.[47:49] NAMES_RANGE=lab[37:39] \
//   HOST_NAMES=lab37,lab38,lab39 KEY=/path/id_ed25519 INSTALLER=10.213.0.1 INSTALLER_PORT=N \
//   NTP_PORT=N SHOTS=target/console-e2e [SYNTH_RUN=ID SYNTH_EVENTS=N] node tests/browser/console.mjs
// Prints one JSON line `RESULT {...}` with the measurements; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('URL');
const SHOTS = env('SHOTS');
const NAMES = env('HOST_NAMES').split(',');
const STEP_MS = Number(env('STEP_TIMEOUT_MS', '60000'));
const INSTALL_MS = Number(env('INSTALL_TIMEOUT_MS', '300000'));
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
// Every browser-side error, with the step it happened in; the failed requests by URL (a 401
// before the login is expected, nothing else is).
const consoleErrors = [];
const pageErrors = [];
const failedRequests = [];
let current = 'start';
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${current}: ${m.text()}`); });
page.on('pageerror', (e) => pageErrors.push(`${current}: ${e.stack || e}`));
page.on('response', (r) => {
  if (r.status() >= 400) failedRequests.push(`${current}: ${r.status()} ${r.request().method()} ${new globalThis.URL(r.url()).pathname}`);
});

async function snap(name) {
  shot += 1;
  const file = `${SHOTS}/${String(shot).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  process.stderr.write(`console e2e: ${name}\n`);
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: `${SHOTS}/FAILED-${name}.png`, fullPage: true }).catch(() => {});
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    process.stderr.write(`\nstep "${name}" failed at ${page.url()}: ${e.stack || e}\n--- page text ---\n${text.slice(0, 4000)}\n--- browser errors ---\n${[...pageErrors, ...consoleErrors, ...failedRequests].join('\n')}\n`);
    await browser.close();
    process.exit(1);
  }
  result.steps.push({ name, ms: Date.now() - t0 });
  await snap(name);
}

// 1. Any page sends an unauthenticated browser to the login page, which comes back after.
await step('login', async () => {
  await page.goto(`${URL}/hosts`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#token', 'not-the-token');
  await page.click('#login');
  await page.waitForSelector('.error[role=alert]');
  await page.fill('#token', env('TOKEN'));
  await page.click('#login');
  await page.waitForURL(/\/hosts$/);
});

await step('bundle', async () => {
  await page.goto(`${URL}/bundle`);
  await page.waitForSelector('#bundle-name');
  await page.waitForSelector('#verified');
});

await step('hosts-added', async () => {
  await page.goto(`${URL}/hosts`);
  await page.waitForFunction(() => document.querySelector('#installer-address')?.value !== undefined);
  await page.fill('#cluster-name', env('CLUSTER', 'consoletest'));
  await page.fill('#installer-address', env('INSTALLER'));
  await page.fill('#installer-port', env('INSTALLER_PORT'));
  await page.fill('#ntp-port', env('NTP_PORT'));
  await page.click('#save-cluster');
  await page.waitForSelector('#cluster-saved');
  await page.fill('#address', env('HOSTS_RANGE'));
  await page.fill('#hostname', env('NAMES_RANGE'));
  await page.fill('#user', 'root');
  await page.selectOption('#auth', 'key_path');
  await page.fill('#key-path', env('KEY'));
  await page.click('#add');
  for (const n of NAMES) await page.waitForSelector(`#hosts tr[data-host="${n}"]`);
});

// TOFU made explicit: a scan shows each fingerprint; each is accepted by its own click.
await step('host-keys-accepted', async () => {
  await page.click('#scan-all');
  for (const n of NAMES) await page.waitForSelector(`#hosts tr[data-host="${n}"] button.accept`);
  for (const n of NAMES) {
    const fp = await page.textContent(`#hosts tr[data-host="${n}"] .fingerprint`);
    if (!/SHA256:/.test(fp)) throw new Error(`${n}: no SHA256 fingerprint shown (${fp})`);
    await page.click(`#hosts tr[data-host="${n}"] button.accept`);
    await page.waitForSelector(`#hosts tr[data-host="${n}"] [data-trust="trusted"]`);
  }
});

await step('roles', async () => {
  await page.goto(`${URL}/roles`);
  const tick = async (role, host) => {
    await page.check(`#roles input[data-role="${role}"][data-host="${host}"]`);
  };
  // One etcd member first: the live validation complains (even count with two), then three.
  await tick('etcd', NAMES[0]);
  await tick('etcd', NAMES[1]);
  await page.waitForSelector('#role-problems li');
  await tick('etcd', NAMES[2]);
  await tick('kube_master', NAMES[0]);
  for (const n of NAMES.slice(1)) await tick('kube_node', n);
  await tick('monitoring', NAMES[0]);
  await page.waitForSelector('#roles-valid');
  // A reload loses nothing: the assignment is the server's.
  await page.reload();
  await page.waitForSelector(`#roles input[data-role="etcd"][data-host="${NAMES[2]}"]:checked`);
});

await step('preflight', async () => {
  await page.goto(`${URL}/preflight`);
  await page.click('#run-preflight');
  await page.waitForSelector('#preflight-status', { timeout: INSTALL_MS });
  await page.waitForSelector('#checks td[data-status]');
  result.preflight = await page.getAttribute('#preflight-status', 'data-status');
  result.preflight_summary = await page.textContent('#checks-summary');
});

await step('review', async () => {
  await page.goto(`${URL}/review`);
  await page.waitForSelector('#cluster-yaml');
  const yaml = await page.textContent('#cluster-yaml');
  for (const n of NAMES) if (!yaml.includes(n)) throw new Error(`cluster.yaml lacks ${n}:\n${yaml}`);
  const dl = await page.getAttribute('#download-yaml', 'href');
  if (dl !== '/api/cluster.yaml') throw new Error(`download link ${dl}`);
});

await step('install-done', async () => {
  await page.goto(`${URL}/install`);
  await page.waitForSelector('#start-install');
  if (result.preflight !== 'ok') await page.check('#ignore-preflight');
  const t0 = Date.now();
  await page.click('#start-install');
  await page.waitForSelector('#matrix .mrow', { timeout: INSTALL_MS });
  await snap('install-running');
  await page.waitForFunction(() => document.querySelector('#pct')?.textContent === '100%', null, { timeout: INSTALL_MS });
  result.install_ms = Date.now() - t0;
  result.install_status = await page.getAttribute('#run-status', 'data-status');
  result.install_run = Number(await page.getAttribute('section.run', 'data-run'));
  if (result.install_status !== 'ok') throw new Error(`the install ended ${result.install_status}`);
});

await step('host-log', async () => {
  await page.click(`#matrix button.host[title^="${NAMES[1]}:"]`);
  await page.waitForSelector(`#host-log[data-host="${NAMES[1]}"]`);
  const log = await page.textContent('#host-log');
  if (!/\[(ok|changed)\]/.test(log)) throw new Error(`no task results in ${NAMES[1]}'s output:\n${log}`);
});

await step('history', async () => {
  await page.click('a[href="/runs"]');
  await page.waitForSelector(`#runs tr[data-run="${result.install_run}"]`);
  await page.click(`#runs tr[data-run="${result.install_run}"] a`);
  await page.waitForURL(new RegExp(`/runs/${result.install_run}$`));
  await page.waitForFunction(() => document.querySelector('#pct')?.textContent === '100%');
});

// State is the server's: a reload of the install page shows the same finished run.
await step('reload-keeps-run', async () => {
  await page.goto(`${URL}/install`);
  await page.reload();
  await page.waitForSelector(`section.run[data-run="${result.install_run}"]`);
  await page.waitForFunction(() => document.querySelector('#pct')?.textContent === '100%');
});

// A `cairn install` started from a shell (another process, same state dir) shows up in the
// history by itself and is followed live: each frame notes how late its events arrived.
if (process.env.CAIRN_BIN) {
  await step('cli-install-live', async () => {
    const yaml = await page.request.get(`${URL}/api/cluster.yaml`);
    if (yaml.status() !== 200) throw new Error(`cluster.yaml: ${yaml.status()}`);
    const config = `${SHOTS}/cli-cluster.yaml`;
    writeFileSync(config, await yaml.text());
    await page.goto(`${URL}/runs`);
    await page.waitForSelector(`#runs tr[data-run="${result.install_run}"]`);
    const cli = spawn(env('CAIRN_BIN'), ['install', '--config', config, '-e', 'sleep_seconds=2'], {
      env: { ...process.env, CAIRN_STATE_DIR: env('STATE_DIR'), NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let cliErr = '';
    cli.stderr.on('data', (d) => { cliErr += d; });
    const exited = new Promise((resolve) => cli.on('exit', (code) => resolve(code)));
    // The runs page polls: the CLI's run appears without a reload, still running.
    const row = await page.waitForSelector(`#runs tr[data-status="running"]`, { timeout: INSTALL_MS });
    result.cli_run = Number(await row.getAttribute('data-run'));
    if (!(result.cli_run > result.install_run)) throw new Error(`the running run is #${result.cli_run}`);
    await page.click(`#runs tr[data-run="${result.cli_run}"] a`);
    await page.waitForSelector(`#matrix .mrow`, { timeout: INSTALL_MS });
    await page.waitForFunction(() => document.querySelector('#run-status')?.dataset.status === 'ok', null, { timeout: INSTALL_MS });
    await page.waitForFunction(() => document.querySelector('#pct')?.textContent === '100%');
    const code = await exited;
    if (code !== 0) throw new Error(`cairn install exited ${code}:\n${cliErr}`);
    await page.waitForSelector('#apply-stats[data-ended="1"]');
    const s = await page.$eval('#apply-stats', (e) => ({ ...e.dataset }));
    // The first frame is the replay of what happened before the page connected; the others
    // are live: an event's time in the CLI's process to its frame in the DOM.
    result.live = {
      events: Number(s.events), gaps: Number(s.gaps), frames: Number(s.liveFrames),
      lag_median_ms: Number(s.lagMedianMs), lag_max_ms: Number(s.lagMaxMs), lags_ms: s.lagsMs,
    };
    if (!(result.live.frames > 0)) throw new Error(`no live event was drawn: ${JSON.stringify(s)}`);
    if (result.live.gaps !== 0) throw new Error(`events missing: ${JSON.stringify(s)}`);
  });
}

// Without the session cookie: 401 from the API, and the pages send the browser to the login.
await step('no-session-401', async () => {
  const ctx = await browser.newContext();
  const r = await ctx.request.get(`${URL}/api/runs`);
  if (r.status() !== 401) throw new Error(`GET /api/runs without a session: ${r.status()}`);
  const ev = await ctx.request.get(`${URL}/api/runs/1/events`);
  if (ev.status() !== 401) throw new Error(`the event stream without a session: ${ev.status()}`);
  const p2 = await ctx.newPage();
  await p2.goto(`${URL}/runs`);
  await p2.waitForURL(/\/login\?next=/);
  await ctx.close();
});

await step('done', async () => {
  await page.goto(`${URL}/done`);
  await page.waitForSelector('#endpoints');
  await page.waitForSelector('#recap');
  // The CA certificate the install made, through the page's own link and session.
  const href = await page.getAttribute('#download-ca', 'href');
  const ca = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, text: await r.text() };
  }, href);
  if (ca.status !== 200 || !ca.text.startsWith('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`CA download ${href}: ${ca.status} ${ca.text.slice(0, 200)}`);
  }
  // A kube_master was assigned: the install made the admin kubeconfig.
  const kc = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, text: await r.text() };
  }, await page.getAttribute('#download-kubeconfig', 'href'));
  if (kc.status !== 200 || !kc.text.includes('kind: Config')) {
    throw new Error(`kubeconfig download: ${kc.status} ${kc.text.slice(0, 200)}`);
  }
});

// The load measurement: a finished synthetic run of 500 hosts x 100 tasks, replayed in one
// stream; the page applies every event and stays usable (scroll, click a host).
if (process.env.SYNTH_RUN) {
  const want = Number(env('SYNTH_EVENTS'));
  await step('load-500x100', async () => {
    await page.goto(`${URL}/runs/${process.env.SYNTH_RUN}`);
    await page.waitForFunction(
      (n) => {
        const s = document.querySelector('#apply-stats');
        return s && Number(s.dataset.events) >= n && s.dataset.totalMs !== '';
      },
      want,
      { timeout: INSTALL_MS },
    );
    const s = await page.$eval('#apply-stats', (e) => ({ ...e.dataset }));
    result.load = { events: Number(s.events), gaps: Number(s.gaps), busy_ms: Number(s.busyMs), total_ms: Number(s.totalMs) };
    // Still responsive: scroll to the middle, pick a host, its output shows within a frame.
    const t0 = Date.now();
    await page.$eval('#matrix', (m) => { m.scrollTop = 250 * 20; });
    await page.waitForSelector('#matrix button.host[data-host="250"]');
    await page.click('#matrix button.host[data-host="250"]');
    await page.waitForSelector('#host-log');
    result.load.click_to_log_ms = Date.now() - t0;
    result.load.dom_rows = await page.$$eval('#matrix .mrow', (r) => r.length);
  });
}

// The same size, live: the test's writer commits 500 events every 25 ms into the store while
// the page follows the run (store -> data_version watcher -> SSE -> page).
if (process.env.LIVE_GO) {
  const want = Number(env('SYNTH_EVENTS'));
  await step('live-500x100', async () => {
    await page.goto(`${URL}/runs`);
    writeFileSync(env('LIVE_GO'), '');
    const t0 = Date.now();
    while (!existsSync(env('LIVE_ID')) || readFileSync(env('LIVE_ID'), 'utf8') === '') {
      if (Date.now() - t0 > 30000) throw new Error('the live run was never recorded');
      await new Promise((r) => setTimeout(r, 50));
    }
    const id = readFileSync(env('LIVE_ID'), 'utf8').trim();
    await page.goto(`${URL}/runs/${id}`);
    await page.waitForSelector('#apply-stats[data-ended="1"]', { timeout: INSTALL_MS });
    const s = await page.$eval('#apply-stats', (e) => ({ ...e.dataset }));
    result.live_load = {
      events: Number(s.events), gaps: Number(s.gaps), busy_ms: Number(s.busyMs),
      total_ms: Number(s.totalMs), frames: Number(s.liveFrames),
      lag_median_ms: Number(s.lagMedianMs), lag_max_ms: Number(s.lagMaxMs),
      dom_rows: await page.$$eval('#matrix .mrow', (r) => r.length),
    };
    if (result.live_load.events < want) throw new Error(`only ${result.live_load.events} of ${want} events: ${JSON.stringify(s)}`);
  });
}

result.browser_errors = consoleErrors;
result.page_errors = pageErrors;
result.failed_requests = failedRequests;
// A panic in the wasm, an uncaught exception, or a failed request other than the 401s before
// logging in, fails the test even when every step got through.
const unexpected = [
  ...pageErrors,
  ...consoleErrors.filter((e) => !/status of 401/.test(e) || !e.startsWith('login:')),
  ...failedRequests.filter((e) => !e.startsWith('login: 401 ')),
];
if (unexpected.length) {
  process.stderr.write(`browser-side errors:\n${unexpected.join('\n')}\n`);
  writeFileSync(`${SHOTS}/result.json`, JSON.stringify(result, null, 2));
  await browser.close();
  process.exit(1);
}
result.shots = SHOTS;
writeFileSync(`${SHOTS}/result.json`, JSON.stringify(result, null, 2));
console.log(`RESULT ${JSON.stringify(result)}`);
await browser.close();
