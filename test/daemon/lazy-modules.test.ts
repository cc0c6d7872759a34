/**
 * Black-box: a daemon whose config has no container job and no email notifier never loads the engine client
 * (dockerode) nor nodemailer, even after running a job; a reload that brings a container job and an email
 * notifier loads them, and both work. What was loaded is read from a module trace the test puts into the
 * daemon's process (helpers/module-trace.ts), not from anything the daemon reports. The PostgreSQL driver (pg)
 * is loaded only by a daemon whose daemon.store is a postgres:// URL.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { containerEngine, TEST_IMAGE, type ContainerEngine } from '../helpers/container-engine.js';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { loadedPackages, moduleTraceEnv } from '../helpers/module-trace.js';
import { dropTestSchemas, requirePostgres, testStoreUrl } from '../helpers/postgres.js';
import { startMailServer, type MailServer } from '../notify/peers.js';

const COMMAND_JOB = '  plain:\n    schedule: "@yearly"\n    command: echo plain\n';

describe('lazy loading: the engine client and mail are loaded only when the config needs them (black-box)', function () {
  this.timeout(90_000);
  let dir: string;
  let trace: string;
  let d: DaemonProcess | undefined;
  let smtp: MailServer | undefined;
  let engine: ContainerEngine | null = null;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    smtp = await startMailServer({ user: 'watchbell', password: 'secret-pass' });
    dir = await tempDir();
    trace = join(dir, 'modules.trace');
    // DOCKER_HOST is set from the start: an engine the daemon could reach is not a reason to load its client.
    const env = { ...moduleTraceEnv(trace), ...(engine ? { DOCKER_HOST: engine.dockerHost } : {}) };
    d = await startDaemon({ dir, config: configText(COMMAND_JOB), env });
  });

  after(async function () {
    await d?.stop();
    await smtp?.close();
    if (dir) await removeDir(dir);
  });

  async function runToEnd(jobId: string): Promise<{ status: string; error: string | null }> {
    const run = await d!.api('POST', `/api/v1/jobs/${jobId}/run`);
    expect(run.status, run.text).to.equal(202);
    const eid = run.body.data.execution_id as string;
    await d!.finished(eid, 40_000);
    return (await d!.api('GET', `/api/v1/jobs/${jobId}/executions/${eid}`)).body.data;
  }

  it('runs a command job without loading dockerode or nodemailer', async function () {
    expect((await runToEnd('plain')).status).to.equal('success');
    const loaded = await loadedPackages(trace);
    // The trace works: what the daemon does need is in it (koa and pino are bundled by the build, src/vendor/).
    expect(loaded).to.include.keys('croner', 'js-yaml');
    // ws: only a log follow over a WebSocket needs it (test/api/logs.test.ts follows one).
    expect(loaded).not.to.include.keys('dockerode', 'nodemailer', 'execa', 'pino-pretty', 'pg', 'ws');
  });

  it('loads them when a reload brings a container job and an email notifier, and both work', async function () {
    const mailJob = '  mailed:\n    schedule: "@yearly"\n    command: exit 3\n    notify:\n      - notifier: mail\n        events: [failure]\n';
    const containerJob = `  boxed:\n    schedule: "@yearly"\n    container: {image: ${TEST_IMAGE}, pull: never}\n    command: echo from-the-box\n`;
    const notifiers = `notifiers:\n  mail:\n    type: email\n    host: 127.0.0.1\n    port: ${smtp!.port}\n    tls: none\n    user: watchbell\n    password: secret-pass\n    from: watchbell@example.com\n    to: ops@example.com\n`;
    await writeFile(d!.configFile, configText(COMMAND_JOB + mailJob + (engine ? containerJob : ''), notifiers));
    const reload = await d!.api('POST', '/api/v1/config/reload');
    expect(reload.status, reload.text).to.equal(200);

    expect((await runToEnd('mailed')).status).to.equal('failure');
    const [mail] = await smtp!.received(1, 20_000);
    expect(mail!.raw).to.include('mailed');
    expect(await loadedPackages(trace)).to.include.keys('nodemailer');

    if (!engine) {
      console.warn('\n!!! SKIPPED the container half of "loads them when a reload brings a container job": no container engine (see helpers/container-engine.ts) !!!\n');
      return;
    }
    const boxed = await runToEnd('boxed');
    expect(boxed.status, boxed.error ?? '').to.equal('success');
    expect(await loadedPackages(trace)).to.include.keys('dockerode');
  });
});

describe('lazy loading: the PostgreSQL driver is loaded only with a postgres:// store (black-box)', function () {
  this.timeout(90_000);
  let dir: string | undefined;
  let d: DaemonProcess | undefined;

  before(async function () {
    await requirePostgres(this);
  });

  after(async () => {
    await d?.stop();
    if (dir) await removeDir(dir);
    await dropTestSchemas();
  });

  it('loads pg when daemon.store names PostgreSQL, and runs a job on it', async () => {
    dir = await tempDir();
    const trace = join(dir, 'modules.trace');
    d = await startDaemon({ dir, config: configText(COMMAND_JOB), env: { ...moduleTraceEnv(trace), WATCHBELL_STORE: testStoreUrl() } });
    const run = await d.api('POST', '/api/v1/jobs/plain/run');
    expect(run.status, run.text).to.equal(202);
    await d.finished(run.body.data.execution_id as string, 40_000);
    expect(await loadedPackages(trace)).to.include.keys('pg');
  });
});
