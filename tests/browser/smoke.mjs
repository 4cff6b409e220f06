// The console without the API: the page loads in headless Chromium (wasm mounted, the login
// page drawn, no browser errors), and the page's cost of applying a run's events is measured
// in the browser: 500 hosts x 100 tasks (50 104 envelopes, the JSON the event stream carries)
// parsed and applied by the console's wasm (`measure_apply`), then one frame of the matrix.
//   URL=http://127.0.0.1:PORT SHOTS=target/console-e2e node tests/browser/smoke.mjs
// Prints `RESULT {...}`; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const URL = process.env.URL;
const SHOTS = process.env.SHOTS;
mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
// A 404 of the missing API is logged by Chromium as a console error: not the page's fault.
page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
try {
  const t0 = Date.now();
  await page.goto(`${URL}/login`);
  await page.waitForSelector('#title', { timeout: 30000 });
  const loadMs = Date.now() - t0;
  // The browser's own clock from navigation start: first contentful paint (the page's first
  // text: the login form, drawn by the wasm) and the load event (wasm fetched and compiled).
  const paint = await page.evaluate(() => ({
    fcp_ms: Math.round(performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1),
    load_event_ms: Math.round(performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? -1),
  }));
  const title = await page.textContent('#title');
  if (title !== 'Log in to Cairn') throw new Error(`title: ${title}`);
  // Keyboard: typing in the focused token field and Enter submits the form (here the server
  // has no API, so the answer is an error shown in the page's alert box).
  await page.focus('#token');
  await page.keyboard.type('some-token');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.error[role=alert]', { timeout: 10000 });
  await page.screenshot({ path: `${SHOTS}/smoke-login.png`, fullPage: true });
  const m = await page.evaluate(async () => {
    const src = document.querySelector('script[type=module]').src;
    const mod = await import(src);
    const hosts = Array.from({ length: 500 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    const loc = { file: 'synthetic.yml', line: 1, column: 1 };
    const lines = [];
    let seq = 0;
    const push = (ev) => { seq += 1; lines.push(JSON.stringify({ run: 1, seq, time_ms: 1700000000000 + seq, ...ev })); };
    push({ type: 'run_started', playbook: 'synthetic.yml', hosts });
    push({ type: 'play_started', name: 'synthetic', hosts, location: loc });
    for (let t = 0; t < 100; t++) {
      const task = `task ${String(t).padStart(3, '0')}`;
      push({ type: 'task_started', name: task, action: 'command', location: loc });
      hosts.forEach((h, i) => {
        if (i === 7 && t > 50) return;
        const outcome = i === 7 && t === 50 ? 'failed' : t % 10 === 0 ? 'changed' : 'ok';
        push({ type: 'host_result', host: h, task, outcome, ignored: false, rc: 0,
          stdout: `output of ${task} on ${h}`, duration_ms: 3, censored: false });
      });
    }
    push({ type: 'play_finished', name: 'synthetic' });
    const text = lines.join('\n');
    const t0 = performance.now();
    const r = JSON.parse(mod.measure_apply(text));
    r.call_ms = performance.now() - t0;
    r.json_bytes = text.length;
    return r;
  });
  if (m.bad !== 0 || m.events < 50000 || m.hosts !== 500 || m.tasks !== 100) throw new Error(JSON.stringify(m));
  if (errors.length) throw new Error(`browser errors: ${errors.join('\n')}`);
  console.log(`RESULT ${JSON.stringify({ load_ms: loadMs, ...paint, apply: m })}`);
} catch (e) {
  await page.screenshot({ path: `${SHOTS}/FAILED-smoke.png`, fullPage: true }).catch(() => {});
  process.stderr.write(`smoke failed: ${e.stack || e}\n${errors.join('\n')}\n`);
  await browser.close();
  process.exit(1);
}
await browser.close();
