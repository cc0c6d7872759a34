/**
 * The dashboard's Health page on a cluster: two daemons on one PostgreSQL store, the page of one lists both
 * nodes (GET /api/v1/nodes) with their state and tags, the config job the two define differently (drift) and
 * the job whose run_on no node matches; on the embedded store the section is absent.
 * Chromium and PostgreSQL are required in CI (CI=true), as in dashboard.test.ts and the store tests.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, testStoreUrl } from '../helpers/postgres.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('dashboard: cluster nodes on the Health page (Chromium, PostgreSQL)', function () {
  this.timeout(120_000);
  const daemons: DaemonProcess[] = [];
  let context: BrowserContext | undefined;
  let page: Page;
  let profile: string | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
      console.warn(`\n!!! SKIPPING the cluster dashboard test: ${CHROMIUM} not installed !!!\n`);
      this.skip();
    }
    if (!(await requirePostgres(this))) return;
    profile = await mkdtemp(join(tmpdir(), 'watchbell-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 800 } });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    for (const d of daemons.splice(0)) {
      await d.stop();
      await removeDir(d.dir);
    }
    await dropTestSchemas();
  });

  async function node(store: string | undefined, name: string, zone: string, jobs = '  {}\n'): Promise<DaemonProcess> {
    const extra = `  node: ${name}\n  node_tags: {zone: ${zone}}\n  heartbeat: 1s\n  lease: 3s\n`;
    const d = await startDaemon({ dir: await tempDir(), config: configText(jobs, extra), env: store ? { WATCHBELL_STORE: store } : {} });
    daemons.push(d);
    return d;
  }

  it('lists every node of the cluster with its state and tags, the config drift and the jobs no node may run', async () => {
    const store = testStoreUrl();
    // `shared` is defined differently on the two nodes (drift); `nowhere` needs a zone no node has.
    const jobs = (command: string) => `  shared:\n    command: "${command}"\n  nowhere:\n    command: "true"\n    run_on: {zone: west}\n`;
    const a = await node(store, 'ui-node-a', 'north', jobs('true'));
    await node(store, 'ui-node-b', 'south', jobs('false'));
    await page.goto(`${a.url}/ui/health`);
    await page.getByRole('heading', { name: 'Cluster nodes' }).waitFor();
    const rowA = page.locator('tr[data-node="ui-node-a"]');
    const rowB = page.locator('tr[data-node="ui-node-b"]');
    await rowB.waitFor();
    expect(await rowA.textContent()).to.include('alive').and.to.include('zone=north');
    expect(await rowB.textContent()).to.include('alive').and.to.include('zone=south');
    expect(await page.locator('section[aria-label="Cluster nodes"] p').textContent()).to.equal('This daemon is node ui-node-a; its lease is held.');
    // Drift is found at a heartbeat after both published their fingerprints; the page reads /health again every 10 s.
    const drift = page.locator('[data-fact="drift"]');
    await drift.filter({ hasText: 'shared is defined differently on ui-node-b' }).waitFor({ timeout: 30_000 });
    expect(await drift.locator('a').getAttribute('href')).to.equal('/ui/jobs/shared');
    expect(await page.locator('[data-fact="no-node"]').textContent()).to.equal('nowhere');
  });

  it('shows no cluster section on the embedded store', async () => {
    const d = await node(undefined, 'ui-node-solo', 'east');
    await page.goto(`${d.url}/ui/health`);
    await page.locator('h1 .badge', { hasText: 'UP' }).waitFor();
    await page.getByRole('heading', { name: 'Notifiers' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Cluster nodes' }).count()).to.equal(0);
  });
});
