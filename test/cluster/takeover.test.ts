/**
 * Cluster mode, liveness: a node killed with SIGKILL while it runs an execution loses its lease, and a live
 * node marks that execution interrupted, naming the lost node, within lease + 2 s.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';
import { alive, groupOf, killGroups } from '../helpers/process-groups.js';

const LEASE_S = 3;
const CLUSTER = `  heartbeat: 1s\n  lease: ${LEASE_S}s\n`;
/** It ignores SIGTERM (so does its sleep, inheriting that): a stop takes kill_grace (1 s), then SIGKILL. */
const JOBS = '  long:\n    schedule: "0 0 1 1 *"\n    command: "trap \'\' TERM; sleep 30"\n';

describe('cluster: takeover of a dead node\'s executions', function () {
  this.timeout(90_000);
  let daemons: DaemonProcess[] = [];
  const dirs: string[] = [];
  const groups: number[] = [];

  before(async function () {
    await requirePostgres(this);
  });

  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    daemons = [];
    // The killed node's `sleep` outlives it (a restart on its data dir would stop it: docs/operations.md).
    killGroups(groups);
    await Promise.all(dirs.splice(0).map(removeDir));
  });

  after(dropTestSchemas);

  async function startNode(store: string): Promise<DaemonProcess> {
    const dir = await tempDir();
    dirs.push(dir);
    return startDaemon({ dir, config: configText(JOBS, CLUSTER), env: { WATCHBELL_STORE: store } });
  }

  it(`marks a SIGKILLed node's running execution interrupted, naming the node, within lease + 2 s (lease ${LEASE_S}s)`, async () => {
    const store = testStoreUrl();
    const schema = new URL(store).searchParams.get('schema')!;
    const [a, b] = daemons = [await startNode(store), await startNode(store)] as [DaemonProcess, DaemonProcess];
    const nameA = String(a.lines.find((l) => l.event === 'cluster.joined')!.node);
    const run = await a.api('POST', '/api/v1/jobs/long/run');
    expect(run.status).to.equal(202);
    const eid = String(run.body.data.execution_id);
    await a.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    // The runner writes the pid file just after the process starts, with no event of its own: looked for.
    const pidFile = join(a.dataDir, 'jobs', 'long', 'logs', `${eid}.log.pid`);
    groups.push(await groupOf(pidFile));

    const killedAt = Date.now();
    await a.stop('SIGKILL');
    const taken = await b.waitFor((l) => l.event === 'cluster.takeover' && l.execution_id === eid, 20_000);
    const elapsed = Date.now() - killedAt;
    console.log(`      taken over ${elapsed} ms after the kill`);
    expect(taken.lost_node).to.equal(nameA);
    expect(elapsed).to.be.below((LEASE_S + 2) * 1000);

    const [row] = await sql<{ status: string; body: { status: string; reason: string; error: string; node: string; finished_at: string } }>(
      `SELECT status, body FROM "${schema}".executions WHERE id = $1`, [eid],
    );
    expect(row!.status).to.equal('failure');
    expect(row!.body).to.include({ status: 'failure', reason: 'interrupted', node: nameA });
    expect(row!.body.error).to.include(`node ${nameA} stopped renewing its lease`);
    expect(row!.body.finished_at).to.be.a('string');

    const nodes = await b.api('GET', '/api/v1/nodes');
    expect(nodes.body.data.find((n: { name: string }) => n.name === nameA).state).to.equal('dead');

    // Back on its data dir (so under its name, at once), the node stops the process it left running.
    const group = groups[0]!;
    expect(alive(group)).to.equal(true);
    const again = await startDaemon({ dir: a.dir, env: { WATCHBELL_STORE: store } });
    daemons.push(again);
    expect(again.lines.find((l) => l.event === 'cluster.joined')!.node).to.equal(nameA);
    const stopped = await again.waitFor((l) => l.event === 'execution.orphan_stopped' && l.execution_id === eid);
    expect(stopped.pid).to.equal(group);
    expect(alive(group)).to.equal(false);
  });

  it('fences a node paused past its lease: on SIGCONT it is DOWN, stops the run another node took over (whose record stays the takeover), then rejoins', async () => {
    const store = testStoreUrl();
    const schema = new URL(store).searchParams.get('schema')!;
    const [a, b] = daemons = [await startNode(store), await startNode(store)] as [DaemonProcess, DaemonProcess];
    const nameA = String(a.lines.find((l) => l.event === 'cluster.joined')!.node);
    const run = await a.api('POST', '/api/v1/jobs/long/run');
    const eid = String(run.body.data.execution_id);
    const pidFile = join(a.dataDir, 'jobs', 'long', 'logs', `${eid}.log.pid`);
    const group = await groupOf(pidFile);
    groups.push(group);

    a.proc.kill('SIGSTOP');
    await b.waitFor((l) => l.event === 'cluster.takeover' && l.execution_id === eid, 20_000);
    a.proc.kill('SIGCONT');
    const lost = await a.waitFor((l) => l.event === 'cluster.lease_lost');
    expect(lost.node).to.equal(nameA);
    // Fenced while its run takes kill_grace to stop: DOWN.
    const health = await a.api('GET', '/health');
    expect(health.status).to.equal(503);
    expect(health.body).to.include({ status: 'DOWN' });
    expect(health.body.cluster).to.include({ node: nameA, lease: 'lost' });
    await a.finished(eid, 20_000);
    expect(alive(group)).to.equal(false);
    // Nothing of its old lease runs any more: it joins again.
    await a.waitFor((l) => l.event === 'cluster.rejoined');
    const back = await a.api('GET', '/health');
    expect(back.body.cluster).to.include({ node: nameA, lease: 'held' });
    expect((await b.api('GET', '/api/v1/nodes')).body.data.find((n: { name: string }) => n.name === nameA).state).to.equal('alive');

    const [row] = await sql<{ status: string; body: { reason: string; error: string } }>(`SELECT status, body FROM "${schema}".executions WHERE id = $1`, [eid]);
    expect(row!.status).to.equal('failure');
    expect(row!.body.reason).to.equal('interrupted');
    expect(row!.body.error).to.include(`node ${nameA} stopped renewing its lease`);
  });
});
