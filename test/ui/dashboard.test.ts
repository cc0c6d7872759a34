/**
 * The dashboard end to end: the real daemon, Debian's Chromium driven by playwright-core. Sign-in, the jobs
 * page, run-now and pause/resume seen live, a live log, a read token's view, the origin guard from a real
 * page, console errors, axe-core, and screenshots of each page (under test-output/ui/, or WATCHBELL_TEST_OUTPUT).
 * Without Chromium the suite skips with a loud line, except in CI (CI=true), where it fails.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { load, dump } from 'js-yaml';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { removeDir, ROOT, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN = 'ui-admin-3f9a2c71';
const READ = 'ui-read-8d1e4b60';
const AUTH = { authorization: `Bearer ${ADMIN}` };
const OUT = process.env.WATCHBELL_TEST_OUTPUT ?? join(ROOT, 'test-output', 'ui');
const SIZES = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The example config's jobs, plus one that prints a line every 200 ms, behind two tokens. */
async function exampleConfig(): Promise<string> {
  const example = load(await readFile(join(ROOT, 'config/watchbell.yaml'), 'utf8')) as { jobs: Record<string, unknown>; defaults?: unknown };
  return dump({
    version: 1,
    daemon: { listen: '127.0.0.1:0', data_dir: './data', shutdown_grace: '5s', kill_grace: '1s' },
    api: { tokens: [{ name: 'ops', token: ADMIN, scope: 'admin' }, { name: 'viewer', token: READ, scope: 'read' }] },
    defaults: example.defaults,
    jobs: {
      ...example.jobs,
      ticker: { name: 'Ticker', schedule: '@every 1h', command: 'for i in $(seq 1 12); do echo "tick $i"; sleep 0.2; done', tags: ['demo'] },
      greeter: { name: 'Greeter', schedule: '@every 1h', command: 'echo "hello $GREETING"', tags: ['demo'] },
    },
  });
}

describe('dashboard in Chromium (end to end)', function () {
  this.timeout(120_000);
  let d: DaemonProcess;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let axeSource: string;
  const problems: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
      console.warn(`\n!!! SKIPPING the dashboard tests: ${CHROMIUM} not installed. Run: apt-get install -y chromium (CI does) !!!\n`);
      this.skip();
    }
    axeSource = await readFile(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
    await mkdir(OUT, { recursive: true });
    d = await startDaemon({ config: await exampleConfig() });
    profile = await mkdtemp(join(tmpdir(), 'watchbell-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: SIZES[0]!,
    });
    page = context.pages()[0] ?? (await context.newPage());
    watch(page);
  });

  after(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
  });

  function watch(p: Page): void {
    p.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  }

  /** Screenshots at both sizes, then back to the desktop size. */
  async function shoot(name: string): Promise<void> {
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(OUT, `${name}-${size.width}x${size.height}.png`), fullPage: false });
    }
    await page.setViewportSize(SIZES[0]!);
  }

  /** axe-core on the page as it is: no serious or critical violation. */
  async function accessible(what: string): Promise<void> {
    // evaluate() runs outside the page's CSP, which refuses injected script tags (as it should).
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad, `${what}: ${JSON.stringify(bad, null, 2)}`).to.deep.equal([]);
  }

  async function signIn(token: string): Promise<void> {
    await page.goto(d.url + '/');
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('table.jobs').waitFor();
  }

  const row = (id: string) => page.locator(`tr[data-job="${id}"]`);

  it('asks for a token, and signs in with one', async () => {
    await page.goto(d.url + '/');
    await page.getByLabel('API token').waitFor();
    await accessible('sign-in');
    await shoot('sign-in');
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    // That refusal is a 401 the browser reports in the console: expected here, and only here.
    problems.splice(0);
    await signIn(ADMIN);
    expect(await page.locator('.who').textContent()).to.include('ops (admin)');
  });

  it('lists the example jobs with their schedule in words and next run', async () => {
    for (const id of ['heartbeat', 'disk-usage', 'prune-tmp', 'ticker']) await row(id).waitFor();
    expect(await row('heartbeat').textContent()).to.include('Heartbeat').and.include('Every minute').and.include('example');
    expect(await row('disk-usage').textContent()).to.include('Every 15m');
    expect(await row('prune-tmp').locator('time').getAttribute('title')).to.include('Europe/Berlin');
  });

  it('run-now shows the new execution on the page without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await row('ticker').getByRole('button', { name: 'Run now: Ticker' }).click();
    const link = page.getByRole('status').getByRole('link', { name: /Started Ticker: execution exec-/ });
    await link.waitFor();
    const eid = /execution (exec-\S+)/.exec((await link.textContent())!)![1]!;
    // The strip gains the run (running, then green) from the live events.
    await row('ticker').locator(`a.cell[href$="${eid}"]`).waitFor();
    await row('ticker').locator(`a.cell.s-success[href$="${eid}"]`).waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).to.equal(true);
    await accessible('jobs');
    await shoot('jobs');
  });

  it('the execution page follows a live log', async () => {
    const run = await d.api('POST', '/api/v1/jobs/ticker/run', undefined, AUTH);
    const eid = run.body.data.execution_id as string;
    await page.goto(`${d.url}/ui/jobs/ticker/executions/${eid}`);
    const log = page.getByLabel('Output (stdout and stderr)');
    await log.filter({ hasText: 'tick 2' }).waitFor();
    // Seen while it ran: the early lines are there before the last one was printed.
    const early = (await log.textContent())!;
    expect(early).to.not.include('tick 12');
    await log.filter({ hasText: 'tick 12' }).waitFor({ timeout: 20_000 });
    await page.locator('h1 .badge.s-success').waitFor({ timeout: 20_000 });
    expect((await log.textContent())!.trim().split('\n')).to.deep.equal(Array.from({ length: 12 }, (_, i) => `tick ${i + 1}`));
    await page.getByText('End of log.').first().waitFor();
    await accessible('execution');
    await shoot('execution');
  });

  it('the job page shows the definition, next runs, durations and executions', async () => {
    await page.goto(`${d.url}/ui/jobs/ticker`);
    await page.getByLabel('job definition as YAML').filter({ hasText: 'schedule: \'@every 1h\'' }).waitFor();
    await page.locator('ol.next li').nth(4).waitFor();
    await page.locator('svg.chart rect.s-success').first().waitFor();
    expect(await page.locator('tr[data-execution]').count()).to.be.at.least(2);
    await accessible('job');
    await shoot('job');
  });

  it('the job page runs the job with parameters', async () => {
    await page.goto(`${d.url}/ui/jobs/greeter`);
    await page.getByText('Run with parameters').click();
    const box = page.getByLabel(/Environment for this run/);
    await box.fill('not a pair');
    await page.getByRole('button', { name: 'Run with these' }).click();
    await page.getByRole('alert').filter({ hasText: 'line 1: expected KEY=value' }).waitFor();
    await box.fill('GREETING=from the dashboard');
    await page.getByRole('button', { name: 'Run with these' }).click();
    await page.waitForURL(/\/ui\/jobs\/greeter\/executions\//);
    await page.getByLabel('Output (stdout and stderr)').filter({ hasText: 'hello from the dashboard' }).waitFor();
    const eid = page.url().split('/').pop()!;
    const execution = (await d.api('GET', `/api/v1/jobs/greeter/executions/${eid}`, undefined, AUTH)).body.data;
    expect(execution.parameters).to.deep.equal(['GREETING']);
  });

  it('the now and health pages', async () => {
    await page.goto(`${d.url}/ui/now`);
    await page.getByRole('heading', { name: /Running \(\d+\)/ }).waitFor();
    // A run started while the page is open appears, then goes, without a reload.
    const run = await d.api('POST', '/api/v1/jobs/ticker/run', undefined, AUTH);
    const item = page.locator(`li[data-execution="${run.body.data.execution_id}"]`);
    await item.waitFor();
    await accessible('now');
    await shoot('now');
    await item.waitFor({ state: 'detached', timeout: 20_000 });
    await page.goto(`${d.url}/ui/health`);
    await page.locator('h1 .badge', { hasText: 'UP' }).waitFor();
    expect(await page.locator('.facts').first().textContent()).to.include('connected');
    await accessible('health');
    await shoot('health');
  });

  it('pause and resume change the row', async () => {
    await page.goto(`${d.url}/ui/jobs`);
    await row('ticker').getByRole('button', { name: 'Pause: Ticker' }).click();
    await row('ticker').locator('.badge.s-paused').waitFor();
    await row('ticker').getByRole('button', { name: 'Resume: Ticker' }).click();
    await row('ticker').locator('.badge.s-active').waitFor();
    await row('ticker').getByRole('button', { name: 'Pause: Ticker' }).waitFor();
    // A change made elsewhere (the API) shows too.
    await d.api('POST', '/api/v1/jobs/heartbeat/pause', undefined, AUTH);
    await row('heartbeat').locator('.badge.s-paused').waitFor();
    await d.api('POST', '/api/v1/jobs/heartbeat/resume', undefined, AUTH);
    await row('heartbeat').locator('.badge.s-active').waitFor();
  });

  it('a read token sees no write buttons', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(READ);
    expect(await page.locator('.who').textContent()).to.include('viewer (read)');
    const writes = page.getByRole('button', { name: /^(Run now|Pause|Resume|Cancel|Restart|Advance)\b/ });
    await row('ticker').waitFor();
    expect(await writes.count()).to.equal(0);
    await page.goto(`${d.url}/ui/jobs/ticker`);
    await page.locator('tr[data-execution]').first().waitFor();
    expect(await writes.count()).to.equal(0);
    const running = await d.api('POST', '/api/v1/jobs/ticker/run', undefined, AUTH);
    await page.goto(`${d.url}/ui/jobs/ticker/executions/${running.body.data.execution_id}`);
    await page.getByText('Attempt 1').waitFor();
    expect(await writes.count()).to.equal(0);
  });

  it('a token that stops working brings the sign-in form back', async () => {
    await page.goto(`${d.url}/ui/jobs`);
    await row('ticker').waitFor();
    await page.evaluate(() => sessionStorage.setItem('watchbell.token', 'revoked'));
    await page.locator('select').selectOption('paused');
    await page.getByLabel('API token').waitFor();
    problems.splice(0);
  });

  it('without tokens it just works, and a page on another origin is still refused', async () => {
    const open = await startDaemon({ config: `version: 1\ndaemon:\n  listen: 127.0.0.1:0\n  data_dir: ./data\njobs:\n  target:\n    schedule: "@every 1h"\n    command: "true"\n` });
    try {
      // Its own page, addressed as 127.0.0.1: no sign-in, and its requests (Origin = its own) are answered.
      await page.goto(`${open.url}/ui/jobs`);
      await row('target').getByRole('button', { name: 'Pause: target' }).click();
      await row('target').locator('.badge.s-paused').waitFor();
      await row('target').getByRole('button', { name: 'Resume: target' }).click();
      await row('target').locator('.badge.s-active').waitFor();
      // A page on another origin (any site the browser visits) posts to the daemon: a "simple" request, no preflight.
      const elsewhere = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title><p>another site</p>'));
      await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
      const seen = problems.length;
      try {
        await page.goto(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/`);
        const [answer] = await Promise.all([
          page.waitForResponse((r) => r.url() === `${open.url}/api/v1/jobs/target/pause`),
          page.evaluate((target) => fetch(`${target}/api/v1/jobs/target/pause`, { method: 'POST', mode: 'no-cors' }).then(() => undefined), open.url),
        ]);
        // It reached the daemon, which refused it (the other page's console says so: not the dashboard's error).
        expect(answer.status()).to.equal(403);
        expect(problems.splice(seen)).to.deep.equal(['console: Failed to load resource: the server responded with a status of 403 (Forbidden)']);
      } finally {
        elsewhere.close();
      }
      expect((await open.api('GET', '/api/v1/jobs/target')).body.data.status).to.equal('active');
      await page.goto('about:blank');
    } finally {
      await open.stop();
      await removeDir(open.dir);
    }
  });

  it('logged no console error and no page error', () => {
    expect(problems).to.deep.equal([]);
  });
});
