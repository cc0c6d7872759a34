/**
 * Black-box: the PostgreSQL server of a daemon's store stops and starts again under it (a throwaway
 * cluster of this test's own, helpers/pg-cluster.ts). The daemon stays up; /health answers 503 DOWN
 * naming the store; writes answer 503 STORE_UNAVAILABLE; a due slot that cannot be recorded is not
 * run and is logged as missed; a run that ends meanwhile has its end recorded once the server is
 * back; and the daemon is UP again without a restart. The URL's password never shows.
 */
import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

const REQUIRED = process.env.CI === 'true' || process.env.WATCHBELL_REQUIRE_POSTGRES === '1';
const PASSWORD = 'pw-never-shown-7f3a';

/** Polls `check` (for what gives no event to wait on: a file a job writes). */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('the PostgreSQL store going away and coming back (black-box)', function () {
  this.timeout(180_000);
  let cluster: PgCluster | undefined;
  let dir: string | undefined;
  let d: DaemonProcess | undefined;

  before(async function () {
    this.timeout(120_000);
    try {
      cluster = await startPgCluster();
    } catch (err) {
      const why = `cannot start a throwaway PostgreSQL cluster: ${(err as Error).message}`;
      if (REQUIRED) throw new Error(why);
      console.warn(`\n!!! SKIPPED the store outage test: ${why} !!!\n`);
      this.skip();
    }
  });

  after(async () => {
    await d?.stop();
    await cluster?.destroy();
    if (dir) await removeDir(dir);
  });

  it('stays up, answers 503, logs missed slots, records the ends of runs once back, and is UP again', async () => {
    dir = await tempDir();
    const marker = join(dir, 'slow-ended');
    const jobs =
      '  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    catch_up: latest\n    starting_deadline: 1h\n' +
      `  slow:\n    schedule: "@yearly"\n    command: "sleep 1; echo done > ${marker}"\n`;
    const url = cluster!.url.replace('postgres@', `postgres:${PASSWORD}@`) + '?schema=outage';
    d = await startDaemon({ dir, config: configText(jobs), env: { WATCHBELL_STORE: url } });
    const shownUrl = `postgres://postgres:***@127.0.0.1:${cluster!.port}/postgres?schema=outage`;

    const up = await d.api('GET', '/health');
    expect(up.status, up.text).to.equal(200);
    expect(up.body.store).to.deep.equal({ status: 'writable', kind: 'postgres', url: shownUrl, data_dir: d.dataDir });

    const run = await d.api('POST', '/api/v1/jobs/slow/run');
    expect(run.status, run.text).to.equal(202);
    const slowId = run.body.data.execution_id as string;

    await cluster!.stop();
    const linesBefore = d.lines.length;

    const down = await d.api('GET', '/health');
    expect(down.status, down.text).to.equal(503);
    expect(down.body.status).to.equal('DOWN');
    expect(down.body.store).to.deep.equal({ status: 'not writable', kind: 'postgres', url: shownUrl, data_dir: d.dataDir });

    const create = await d.api('POST', '/api/v1/jobs', { id: 'made', schedule: '@daily', command: 'true' });
    expect(create.status, create.text).to.equal(503);
    expect(create.body.error.code).to.equal('STORE_UNAVAILABLE');
    expect(create.body.error.message).not.to.include(PASSWORD);
    const pause = await d.api('POST', '/api/v1/jobs/tick/pause');
    expect(pause.status, pause.text).to.equal(503);
    expect((await d.api('GET', '/api/v1/jobs/made')).status).to.equal(404);

    const missed = await d.waitFor((l) => l.event === 'schedule.missed' && l.job_id === 'tick' && l.reason === 'store_unavailable', 20_000);
    expect(String(missed.error)).to.include(shownUrl);
    // No run of tick started while the store was away.
    expect(d.lines.slice(linesBefore).filter((l) => l.event === 'execution.started' && l.job_id === 'tick')).to.deep.equal([]);
    // The slow run ends while the server is down: its end waits for it.
    await until(() => stat(marker).then(() => true, () => false), 20_000, 'the slow run to end');

    await cluster!.start();
    await d.waitFor((l) => l.event === 'store.up', 60_000);
    await d.finished(slowId, 30_000);
    const slow = await d.api('GET', `/api/v1/jobs/slow/executions/${slowId}`);
    // Its end was retried until it committed, never given up on; a missed slot is one warning, not an error.
    expect(d.lines.filter((l) => l.event === 'internal.error')).to.deep.equal([]);
    expect(slow.body.data.status).to.equal('success');

    const again = await d.api('GET', '/health');
    expect(again.status, again.text).to.equal(200);
    const made = await d.api('POST', '/api/v1/jobs', { id: 'made', schedule: '@daily', command: 'true' });
    expect(made.status, made.text).to.equal(201);
    const tickRun = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick' && d!.lines.indexOf(l) > d!.lines.indexOf(missed), 20_000);
    expect(tickRun.status).to.equal('success');

    const everything = JSON.stringify(d.lines) + d.stderr.join('\n');
    expect(everything).not.to.include(PASSWORD);
  });
});
