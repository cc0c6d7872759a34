/**
 * Cluster mode with real daemons on the real PostgreSQL: three nodes with the same config on one store run
 * every slot of every job exactly once, and each knows the others (GET /api/v1/nodes).
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';

/** The check is 100 jobs for 30 s (WATCHBELL_CLUSTER_JOBS=100 WATCHBELL_CLUSTER_SECONDS=30); less by default, for a shared machine. */
const JOBS = Number(process.env.WATCHBELL_CLUSTER_JOBS ?? 20);
/** How long the cluster runs; every whole second of it is a slot of every job. */
const RUN_MS = Number(process.env.WATCHBELL_CLUSTER_SECONDS ?? 20) * 1000;

function jobsYaml(n: number): string {
  return Array.from({ length: n }, (_, i) => `  every-second-${i}:\n    schedule: "* * * * * *"\n    command: "true"\n`).join('');
}

describe('cluster: exactly once per slot (3 daemons, one PostgreSQL)', function () {
  this.timeout(120_000);
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

  async function startNode(store: string, extra = ''): Promise<DaemonProcess> {
    const dir = await tempDir();
    dirs.push(dir);
    return startDaemon({ dir, config: configText(jobsYaml(JOBS), extra), env: { WATCHBELL_STORE: store } });
  }

  it(`runs each of ${JOBS} every-second jobs once per slot for ${RUN_MS / 1000}s, no doubles, no misses, each execution naming its node`, async () => {
    const store = testStoreUrl();
    const schema = new URL(store).searchParams.get('schema')!;
    daemons = await Promise.all([0, 1, 2].map(() => startNode(store)));
    const names = daemons.map((d) => String(d.lines.find((l) => l.event === 'cluster.joined')!.node));
    expect(new Set(names).size).to.equal(3);
    expect(names[0]).to.equal(`${hostname()}:${daemons[0]!.dataDir}`);

    // Slots from the first whole second after all three run, to the last whole second before any stops.
    const from = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    await sleep(RUN_MS);
    const to = Math.floor(Date.now() / 1000) * 1000 - 1000;

    const health = await daemons[2]!.api('GET', '/health');
    expect(health.status).to.equal(200);
    expect(health.body.cluster).to.deep.equal({ node: names[2], lease: 'held', nodes: { alive: 3, dead: 0 } });
    const nodes = await daemons[1]!.api('GET', '/api/v1/nodes');
    expect(nodes.status).to.equal(200);
    expect(nodes.body.data.map((n: { name: string }) => n.name).sort()).to.deep.equal([...names].sort());
    for (const n of nodes.body.data) {
      expect(n.state).to.equal('alive');
      expect(n.version).to.match(/^\d+\.\d+\.\d+/);
      expect(n.address).to.equal(daemons[names.indexOf(n.name)]!.url);
      expect(Date.now() - Date.parse(n.last_heartbeat)).to.be.below(10_000);
    }

    // Through the API: each node lists what it ran; together, exactly one per (job, slot).
    const apiAt = Date.now();
    const viaApi = new Map<string, string[]>();
    for (const [i, d] of daemons.entries()) {
      for (let j = 0; j < JOBS; j++) {
        const page = await d.api('GET', `/api/v1/jobs/every-second-${j}/executions?limit=100`);
        expect(page.status).to.equal(200);
        for (const e of page.body.data as Array<{ scheduled_at: string | null; node: string; job_id: string }>) {
          if (e.node !== names[i]) continue; // one loaded at start from another node's earlier runs
          const key = `${e.job_id} ${e.scheduled_at}`;
          viaApi.set(key, [...(viaApi.get(key) ?? []), e.node]);
        }
      }
    }
    await Promise.all(daemons.map((d) => d.stop()));

    // In the database: the whole history, whichever node ran it.
    const rows = await sql<{ job_id: string; slot: string; n: string; nodes: string[] }>(
      `SELECT job_id, body->>'scheduled_at' AS slot, count(*) AS n, array_agg(body->>'node') AS nodes
       FROM "${schema}".executions WHERE body->>'trigger' IN ('schedule', 'catch_up') GROUP BY 1, 2`,
    );
    const doubles = rows.filter((r) => Number(r.n) !== 1);
    expect(doubles, `slots run more than once: ${JSON.stringify(doubles.slice(0, 5))}`).to.deep.equal([]);
    const bySlot = new Map(rows.map((r) => [`${r.job_id} ${new Date(r.slot).toISOString()}`, r.nodes[0]]));
    const missed: string[] = [];
    const apiMissed: string[] = [];
    let expected = 0;
    for (let j = 0; j < JOBS; j++) {
      for (let t = from; t <= to; t += 1000) {
        expected++;
        const key = `every-second-${j} ${new Date(t).toISOString()}`;
        if (!bySlot.has(key)) missed.push(key);
        else expect(names).to.include(bySlot.get(key));
        if (viaApi.get(key)?.length !== 1 && t <= apiAt - 3000) apiMissed.push(`${key}: ${JSON.stringify(viaApi.get(key))}`);
      }
    }
    expect(expected).to.be.above(JOBS * (RUN_MS / 1000 - 4));
    expect(missed, `slots never run: ${missed.slice(0, 5).join(', ')}`).to.deep.equal([]);
    // The API was read before the stop: slots of its last seconds may not have been recorded yet.
    expect(apiMissed, `slots the API does not show once: ${apiMissed.slice(0, 5).join(', ')}`).to.deep.equal([]);
    const perNode = names.map((n) => rows.filter((r) => r.nodes[0] === n).length);
    console.log(`      ${expected} slots, ${rows.length} executions in all, per node ${perNode.join(' / ')}`);
  });

  it('refuses to start a second node with a live name, saying whose it is', async () => {
    const store = testStoreUrl();
    daemons = [await startNode(store, '  node: twin\n')];
    const dir = await tempDir();
    dirs.push(dir);
    const err = await startDaemon({ dir, config: configText('  {}\n', '  node: twin\n'), env: { WATCHBELL_STORE: store } }).then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/node name "twin" is held by a live node \(host [^,]+(, http:\/\/127\.0\.0\.1:\d+)?, data dir [^,]+, last heartbeat [\d.]+s ago\); give this daemon another daemon\.node/);
  });
});
