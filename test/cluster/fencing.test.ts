/**
 * Cluster mode, fencing by the clock: a node cut off from the database (a throwaway PostgreSQL of this test's
 * own, stopped) must have stopped what it runs before its lease can end, because after that another node may
 * take the execution over and run its retry. A job that ignores SIGTERM, with a kill_grace far longer than
 * the lease, shows that the lease's end bounds the grace.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { alive, groupOf, killGroups, until } from '../helpers/process-groups.js';

const LEASE_MS = 3_000;
const CLUSTER = `  heartbeat: 1s\n  lease: ${LEASE_MS / 1000}s\n  node: fenced\n`;
const JOBS = '  stubborn:\n    schedule: "@yearly"\n    command: "trap \'\' TERM; echo started; sleep 120"\n';

describe('cluster: fencing ends with the lease', function () {
  this.timeout(120_000);
  let server: PgCluster | undefined;
  let d: DaemonProcess | undefined;
  let dir: string | undefined;
  const groups: number[] = [];

  before(async function () {
    this.timeout(120_000);
    server = await startPgCluster();
  });

  after(async () => {
    await d?.stop('SIGKILL');
    killGroups(groups);
    await server?.destroy();
    if (dir) await removeDir(dir);
  });

  it('SIGKILLs a job that ignores SIGTERM by the end of the lease, however long kill_grace is, once the database is away', async () => {
    dir = await tempDir();
    d = await startDaemon({ dir, config: configText(JOBS, CLUSTER).replace('  kill_grace: 1s\n', '  kill_grace: 60s\n'), env: { WATCHBELL_STORE: `${server!.url}?schema=fencing` } });
    const eid = (await d.api('POST', '/api/v1/jobs/stubborn/run')).body.data.execution_id as string;
    const group = await groupOf(join(d.dataDir, 'jobs', 'stubborn', 'logs', `${eid}.log.pid`));
    groups.push(group);
    const log = join(d.dataDir, 'jobs', 'stubborn', 'logs', `${eid}.log`);
    // The log file is made at the job's first byte.
    await until('the job to start', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('started') ? true : undefined));

    await server!.stop();
    // No heartbeat can be renewed from here on: the lease the database granted ends within LEASE_MS.
    const leaseEndsBy = Date.now() + LEASE_MS;
    await until('the group to be gone', async () => (alive(group) ? undefined : true), 30_000);
    const goneAt = Date.now();
    // The kill is timed for the lease's end as the daemon reckons it (from when its last renewal was sent, which
    // is no later than the database's stamp), so it comes before that end; the slack is this test's polling and
    // a loaded machine's timer delay. Without the bound it would come kill_grace (60 s) after the fence.
    expect(goneAt - leaseEndsBy, 'ms after the latest possible end of the lease').to.be.below(500);
    const lost = d.lines.find((l) => l.event === 'cluster.lease_lost');
    expect(lost, 'a cluster.lease_lost line').to.not.equal(undefined);
    // Logged just after the kill: it may still be on its way through the pipe.
    await until('a cluster.lease_end_kill line', async () => (d!.lines.some((l) => l.event === 'cluster.lease_end_kill' && l.groups === 1) ? true : undefined));
  });
});
