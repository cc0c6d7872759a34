/**
 * Black-box: with a PostgreSQL store, an execution's log is saved to the database when it closes, as
 * chunks tagged with their stream and capped at max_output; a daemon whose data dir has lost the log
 * files (another host, a restore without them) serves the same log from the database: whole, by stream,
 * as a tail and followed. A deleted job's chunks go with it.
 */
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';

const JOBS =
  '  mixed:\n    schedule: "@yearly"\n    command: "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2"\n' +
  '  loud:\n    schedule: "@yearly"\n    max_output: 1024\n    command: "head -c 5000 /dev/zero | tr \'\\\\0\' x"\n';

describe('logs in the PostgreSQL store (black-box)', function () {
  this.timeout(120_000);
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

  it('saves chunks tagged by stream, capped at max_output, and serves them without the local files', async () => {
    dir = await tempDir();
    const url = testStoreUrl();
    const schema = new URL(url).searchParams.get('schema')!;
    d = await startDaemon({ dir, config: configText(JOBS), env: { WATCHBELL_STORE: url } });
    const ids: Record<string, string> = {};
    for (const job of ['mixed', 'loud']) {
      const run = await d.api('POST', `/api/v1/jobs/${job}/run`);
      ids[job] = run.body.data.execution_id as string;
      await d.finished(ids[job]!, 20_000);
    }
    const reads = async (daemon: DaemonProcess) => {
      const base = `/api/v1/jobs/mixed/executions/${ids.mixed}/log`;
      return {
        whole: (await daemon.api('GET', base)).text,
        stderr: (await daemon.api('GET', `${base}?stream=stderr`)).text,
        stdout: (await daemon.api('GET', `${base}?stream=stdout`)).text,
        tail: (await daemon.api('GET', `${base}?tail=1`)).text,
        followed: (await daemon.api('GET', `${base}?follow=true`)).text,
        jobTail: (await daemon.api('GET', '/api/v1/jobs/mixed/tail?n=2')).text,
        loud: (await daemon.api('GET', `/api/v1/jobs/loud/executions/${ids.loud}/log`)).text,
      };
    };
    const before = await reads(d);
    expect(before.stderr).to.equal('err-1\nerr-2\n');
    expect(before.stdout).to.equal('out-1\nout-2\n');

    const rows = await sql<{ execution_id: string; stream: string; bytes: number }>(
      `SELECT execution_id, stream, sum(length(data))::int AS bytes FROM "${schema}".log_chunks GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    const of = (eid: string, stream: string) => rows.find((r) => r.execution_id === eid && r.stream === stream)?.bytes ?? 0;
    expect(of(ids.mixed!, 'o')).to.equal(12);
    expect(of(ids.mixed!, 'e')).to.equal(12);
    expect(of(ids.loud!, 'o')).to.equal(1024);
    expect(of(ids.loud!, 'w'), 'the note saying output was dropped').to.be.above(0);

    await d.stop();
    d = undefined;
    await rm(join(dir, 'data', 'jobs'), { recursive: true, force: true });
    d = await startDaemon({ dir, env: { WATCHBELL_STORE: url } });
    expect(await reads(d)).to.deep.equal(before);

    // The two pipes' chunks interleave as they arrive: the tails are the whole log's last lines.
    expect(before.whole.split('\n').sort()).to.deep.equal(['', 'err-1', 'err-2', 'out-1', 'out-2']);
    expect(before.tail.split('\n')).to.have.length(2);
    expect(before.whole.endsWith(before.tail)).to.equal(true);
    expect(before.whole.endsWith(before.jobTail) && before.jobTail.split('\n').length === 3, before.jobTail).to.equal(true);

    // An API job's chunks go with it.
    expect((await d.api('POST', '/api/v1/jobs', { id: 'api-talker', schedule: '@daily', command: 'echo said' })).status).to.equal(201);
    const run = await d.api('POST', '/api/v1/jobs/api-talker/run');
    await d.finished(run.body.data.execution_id as string, 20_000);
    const count = async () => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".log_chunks WHERE job_id = 'api-talker'`))[0]!.n;
    expect(await count()).to.equal(1);
    expect((await d.api('DELETE', '/api/v1/jobs/api-talker')).status).to.equal(200);
    expect(await count()).to.equal(0);
  });
});
