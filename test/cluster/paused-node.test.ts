/**
 * Cluster mode, a node paused (SIGSTOP) for 3 leases, then continued: it runs no slot of the time it was
 * away (the other node claimed them, each once), the process it had running is gone, and it rejoins.
 * takeover.test.ts covers a pause just past one lease and the record of the run taken over.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive } from '../helpers/process-groups.js';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';

const LEASE_S = 3;
const CLUSTER = `  heartbeat: 1s\n  lease: ${LEASE_S}s\n`;
const JOBS =
  '  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    history_limit: 1000\n' +
  // It ignores SIGTERM (so does its sleep): the fenced node needs kill_grace, then SIGKILL.
  '  long:\n    schedule: "0 0 1 1 *"\n    command: "trap \'\' TERM; sleep 60"\n';

describe('cluster: a node paused for 3 leases', function () {
  this.timeout(90_000);
  let daemons: DaemonProcess[] = [];
  const dirs: string[] = [];
  let group: number | undefined;

  before(async function () {
    await requirePostgres(this);
  });

  afterEach(async () => {
    for (const d of daemons) d.proc.kill('SIGCONT');
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    daemons = [];
    if (group && alive(group)) process.kill(-group, 'SIGKILL');
    await Promise.all(dirs.splice(0).map(removeDir));
  });

  after(dropTestSchemas);

  async function startNode(store: string, name: string): Promise<DaemonProcess> {
    const dir = await tempDir();
    dirs.push(dir);
    return startDaemon({ dir, config: configText(JOBS, `${CLUSTER}  node: ${name}\n`), env: { WATCHBELL_STORE: store } });
  }

  it('runs nothing of the slots it lost, kills what it had running, and rejoins', async () => {
    const store = testStoreUrl();
    const schema = new URL(store).searchParams.get('schema')!;
    const a = await startNode(store, 'node-a');
    const b = await startNode(store, 'node-b');
    daemons = [a, b];
    const run = await a.api('POST', '/api/v1/jobs/long/run');
    expect(run.status, run.text).to.equal(202);
    const eid = String(run.body.data.execution_id);
    const pidFile = join(a.dataDir, 'jobs', 'long', 'logs', `${eid}.log.pid`);
    const end = Date.now() + 10_000;
    while (!group && Date.now() < end) {
      group = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined;
      if (!group) await sleep(20);
    }
    expect(group, 'the pid file of the long run').to.be.a('number');

    a.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const linesAtStop = a.lines.length;
    // The thing under test is the node being away for 3 leases: no event can stand in for the time.
    await sleep(3 * LEASE_S * 1000);
    const continuedAt = Date.now();
    a.proc.kill('SIGCONT');

    await a.waitFor((l) => l.event === 'cluster.lease_lost', 10_000);
    await a.finished(eid, 20_000);
    expect(alive(group!), 'the process of the run the node lost').to.equal(false);
    await a.waitFor((l) => l.event === 'cluster.rejoined', 20_000);
    const health = await a.api('GET', '/health');
    expect(health.status).to.equal(200);
    expect(health.body.cluster).to.include({ node: 'node-a', lease: 'held' });

    // Every slot of the pause ran once, on b; a ran none of them, not even late after SIGCONT.
    const rows = await sql<{ slot: string; n: string; nodes: string[] }>(
      `SELECT body->>'scheduled_at' AS slot, count(*) AS n, array_agg(body->>'node') AS nodes
       FROM "${schema}".executions WHERE job_id = 'tick' GROUP BY 1`,
    );
    expect(rows.filter((r) => Number(r.n) > 1)).to.deep.equal([]);
    // From a second after the stop (a may have claimed the slot it was in) to the continue.
    const away = rows.filter((r) => Date.parse(r.slot) >= stoppedAt + 1000 && Date.parse(r.slot) < continuedAt);
    expect(away.length).to.be.at.least(3 * LEASE_S - 2);
    expect(away.filter((r) => r.nodes[0] !== 'node-b')).to.deep.equal([]);
    // Fenced from the continue until it rejoined, it started no run at all.
    const rejoinedAt = a.lines.findIndex((l) => l.event === 'cluster.rejoined');
    expect(a.lines.slice(linesAtStop, rejoinedAt).filter((l) => l.event === 'execution.started')).to.deep.equal([]);
  });
});
