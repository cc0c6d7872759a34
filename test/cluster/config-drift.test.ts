/**
 * Cluster mode, config drift and what /health and /metrics say of the cluster: two nodes on one store whose
 * config files define a job differently report it (/health `config.drift`, a metric, a log line), the slot is
 * still claimed once, and a reload that brings the files back in step clears it.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';

const CLUSTER = '  heartbeat: 1s\n  lease: 3s\n';
const SAME = '  same:\n    schedule: "@yearly"\n    command: "true"\n';
/** Every second, so that both nodes fire each slot of the job they define differently. */
const tick = (command: string) => `  tick:\n    schedule: "* * * * * *"\n    command: "${command}"\n`;
const ONLY_B = '  only-b:\n    schedule: "@yearly"\n    command: "true"\n';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Health = any;

/** /health's body once `ok` holds, read every 100 ms for up to 10 s. */
async function healthUntil(d: DaemonProcess, ok: (h: Health) => boolean): Promise<Health> {
  const end = Date.now() + 10_000;
  for (;;) {
    const h = (await d.api('GET', '/health')).body;
    if (ok(h)) return h;
    if (Date.now() > end) throw new Error(`/health never became as expected: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('cluster: config drift, the cluster in /health, the node in metrics', function () {
  this.timeout(90_000);
  let daemons: DaemonProcess[] = [];
  const dirs: string[] = [];

  before(async function () {
    await requirePostgres(this);
  });

  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    daemons = [];
    await Promise.all(dirs.splice(0).map(removeDir));
  });

  after(dropTestSchemas);

  async function startNode(store: string, name: string, jobs: string): Promise<DaemonProcess> {
    const dir = await tempDir();
    dirs.push(dir);
    return startDaemon({ dir, config: configText(jobs, `${CLUSTER}  node: ${name}\n`), env: { WATCHBELL_STORE: store } });
  }

  it('reports a job defined differently on two live nodes in /health, a metric and a log line; runs each slot once; a reload clears it', async () => {
    const store = testStoreUrl();
    const schema = new URL(store).searchParams.get('schema')!;
    const a = await startNode(store, 'node-a', SAME + tick('echo a'));
    const b = await startNode(store, 'node-b', SAME + tick('echo b') + ONLY_B);
    daemons = [a, b];

    // b published after a: it sees the drift at once; a at its next heartbeat.
    const seenByA = await a.waitFor((l) => l.event === 'cluster.config_drift', 10_000);
    expect(seenByA.count).to.equal(2);
    expect(seenByA.jobs).to.deep.equal([{ job_id: 'only-b', nodes: ['node-b'] }, { job_id: 'tick', nodes: ['node-b'] }]);
    const healthB = await b.api('GET', '/health');
    expect(healthB.status).to.equal(200);
    expect(healthB.body.config.drift).to.deep.equal([{ job_id: 'only-b', nodes: ['node-a'] }, { job_id: 'tick', nodes: ['node-a'] }]);
    const metricsA = (await a.api('GET', '/metrics')).text;
    expect(metricsA).to.match(/^watchbell_config_drift_jobs\{node="node-a"\} 2$/m);

    // Drift is reported, not resolved: both nodes fire every slot of `tick`, one claims it.
    const count = async () => Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".executions WHERE job_id = 'tick'`))[0]!.n);
    const end = Date.now() + 15_000;
    while ((await count()) < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect(await count()).to.be.at.least(3);
    const doubles = await sql<{ slot: string; n: string }>(
      `SELECT body->>'scheduled_at' AS slot, count(*) AS n FROM "${schema}".executions WHERE job_id = 'tick' GROUP BY 1 HAVING count(*) > 1`,
    );
    expect(doubles).to.deep.equal([]);

    // b's file is brought in step with a's: its reload publishes again, and both see the drift gone.
    await writeFile(join(b.dir, 'watchbell.yaml'), configText(SAME + tick('echo a'), `${CLUSTER}  node: node-b\n`));
    const reload = await b.api('POST', '/api/v1/config/reload');
    expect(reload.status, reload.text).to.equal(200);
    await b.waitFor((l) => l.event === 'cluster.config_drift_resolved', 10_000);
    await a.waitFor((l) => l.event === 'cluster.config_drift_resolved', 10_000);
    expect((await a.api('GET', '/health')).body.config.drift).to.deep.equal([]);
    expect((await a.api('GET', '/metrics')).text).to.match(/^watchbell_config_drift_jobs\{node="node-a"\} 0$/m);
  });

  it('shows the nodes alive and dead in /health, and every metric carries the node', async () => {
    const store = testStoreUrl();
    const a = await startNode(store, 'node-a', SAME);
    const b = await startNode(store, 'node-b', SAME);
    daemons = [a, b];
    // Counted at each heartbeat (every second here): a counts b at its first one after b joined.
    const health = await healthUntil(a, (h) => h.cluster.nodes.alive === 2);
    expect(health.cluster).to.deep.equal({ node: 'node-a', lease: 'held', nodes: { alive: 2, dead: 0 } });
    expect(health.config.drift).to.deep.equal([]);

    // A node that stopped is dead at once (it marks itself stopped).
    await b.stop();
    expect((await healthUntil(a, (h) => h.cluster.nodes.dead === 1)).cluster.nodes).to.deep.equal({ alive: 1, dead: 1 });

    const text = (await a.api('GET', '/metrics')).text;
    expect(text).to.match(/^watchbell_cluster_nodes\{state="alive",node="node-a"\} [12]$/m);
    const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(series.length).to.be.above(10);
    expect(series.filter((l) => !/\{(.*,)?node="node-a"/.test(l))).to.deep.equal([]);
  });
});
