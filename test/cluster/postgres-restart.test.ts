/**
 * Cluster mode, the database restarted under a 2-node cluster (a throwaway PostgreSQL of this test's own,
 * helpers/pg-cluster.ts): both nodes go DOWN while it is away and come back UP without a restart, and no
 * slot of a per-second job runs twice, counted per (job, scheduled slot) in the database.
 */
import { expect } from 'chai';
import pg from 'pg';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';

const CLUSTER = '  heartbeat: 1s\n  lease: 3s\n';
const JOBS = '  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    history_limit: 1000\n';

/** /health's status code once `ok` holds for it, read every 100 ms for up to `ms`. */
async function healthUntil(d: DaemonProcess, ok: (status: number) => boolean, ms: number): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const { status } = await d.api('GET', '/health');
    if (ok(status)) return status;
    if (Date.now() > end) throw new Error(`/health of ${d.url} stayed ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('cluster: PostgreSQL restarted under 2 nodes', function () {
  this.timeout(180_000);
  let server: PgCluster | undefined;
  let daemons: DaemonProcess[] = [];
  const dirs: string[] = [];

  before(async function () {
    this.timeout(120_000);
    server = await startPgCluster();
  });

  after(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await server?.destroy();
    await Promise.all(dirs.map(removeDir));
  });

  it('both nodes go DOWN and come back UP; no slot runs twice', async () => {
    const store = `${server!.url}?schema=restart`;
    for (const name of ['node-a', 'node-b']) {
      const dir = await tempDir();
      dirs.push(dir);
      daemons.push(await startDaemon({ dir, config: configText(JOBS, `${CLUSTER}  node: ${name}\n`), env: { WATCHBELL_STORE: store } }));
    }
    const a = daemons[0]!;
    const count = async () => {
      const client = new pg.Client({ connectionString: server!.url });
      await client.connect();
      try {
        return Number((await client.query(`SELECT count(*) AS n FROM restart.executions WHERE job_id = 'tick'`)).rows[0].n);
      } finally {
        await client.end();
      }
    };
    /** Waits for `more` runs of tick recorded after `from` (whichever node wins each slot). */
    const runs = async (from: number, more: number) => {
      const end = Date.now() + 20_000;
      while ((await count()) < from + more && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(await count()).to.be.at.least(from + more);
    };
    await runs(0, 2);

    await server!.stop();
    await Promise.all(daemons.map((d) => healthUntil(d, (s) => s === 503, 20_000)));
    await server!.start();
    await Promise.all(daemons.map((d) => healthUntil(d, (s) => s === 200, 60_000)));
    await runs(await count(), 3);
    const client = new pg.Client({ connectionString: server!.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ slot: string; n: string }>(
        `SELECT body->>'scheduled_at' AS slot, count(*) AS n FROM restart.executions WHERE job_id = 'tick' GROUP BY 1 HAVING count(*) > 1`,
      );
      expect(rows, 'slots run twice').to.deep.equal([]);
      const nodes = (await a.api('GET', '/api/v1/nodes')).body.data as Array<{ name: string; state: string }>;
      expect(nodes.map((n) => `${n.name} ${n.state}`).sort()).to.deep.equal(['node-a alive', 'node-b alive']);
    } finally {
      await client.end();
    }
  });
});
