/**
 * Cluster mode (issue 18) on this machine, every figure against a baseline measured in the same run:
 * - claims per second: N claimers (1, 2, 3 nodes' PgSlotClaims, each on its own connection, as each node has)
 *   all claim the same slots of JOBS jobs, as every node does when a second ticks; slots decided per second,
 *   against the raw rate of the same batched insert into a plain table by one client (the database's floor).
 *   Also the p99 of one batch's round trip with 3 claimers at 1,000 jobs a second (the claim's share of
 *   dispatch lateness).
 * - run throughput: real daemons (1, 2, 3 nodes on one store) with RUN_JOBS jobs every second running `true`;
 *   runs that ended successfully per second in a window (what the cluster sustains of the RUN_JOBS a second
 *   offered), and start lateness (started_at - scheduled_at) p99 of the runs started in it, against 1 node.
 *   The database holds the truth: rows per (job, slot) are also checked for doubles.
 * The database is WATCHBELL_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test), a schema per case,
 * dropped at the end. The machine's load average is printed with the figures: it is shared.
 *
 *   npx tsc -p . && node dist/bench/cluster.js [claim seconds, default 3] [run seconds, default 10] [run jobs, default 50]
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { PgSlotClaims } from '../src/cluster/slot-claims.js';
import { connect, type Connection } from '../src/store/postgres/connection.js';
import { migrate } from '../src/store/postgres/migrate.js';
import { startDaemon, type BenchJob, type RunningDaemon } from './daemon-process.js';
import { percentile, printResult, type Figure } from './result-line.js';

const CLAIM_SECONDS = Number(process.argv[2] ?? 3);
const RUN_SECONDS = Number(process.argv[3] ?? 10);
const RUN_JOBS = Number(process.argv[4] ?? 50);
const BASE_URL = process.env.WATCHBELL_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Jobs due in each second of the claim bench: the 1,000 jobs a second. */
const JOBS = 1000;

function storeUrl(schema: string): string {
  const u = new URL(BASE_URL);
  u.searchParams.set('schema', schema);
  return u.toString();
}

function load(): string {
  return loadavg().map((l) => l.toFixed(1)).join(' ');
}

/** A node row of a live node, so the claim statement's lease check passes. */
async function addNode(conn: Connection, name: string, instance: string): Promise<void> {
  await conn.pool.query(
    `INSERT INTO ${conn.schema}.nodes (name, instance, version, address, hostname, data_dir, started_at, last_heartbeat, lease_seconds)
     VALUES ($1, $2, 'bench', '', 'bench', '/bench', now(), now(), 3600)`,
    [name, instance],
  );
}

/** Slots decided per second by `n` claimers racing for every slot, and each batch's round trip (ms). */
async function claimRate(n: number): Promise<{ rate: number; trips: number[] }> {
  const schema = `bench_claims_${n}_${randomBytes(3).toString('hex')}`;
  const conns = await Promise.all(Array.from({ length: n }, () => connect(storeUrl(schema), { poolSize: 3 })));
  try {
    await migrate(conns[0]!);
    const claimers = await Promise.all(conns.map(async (conn, i) => {
      const instance = randomBytes(8).toString('hex');
      await addNode(conn, `node-${i}`, instance);
      // Claims only: no slot is started, so no shared queue.
      const none = () => Promise.reject(new Error('the claim bench starts no run'));
      const queue = { start: none, startUnscheduled: none, cancelQueued: async () => null };
      return new PgSlotClaims(conn, { node: `node-${i}`, instance, holdsLease: () => true, queue });
    }));
    const jobs = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
    const trips: number[] = [];
    let slot = Date.parse('2030-01-01T00:00:00Z');
    let decided = 0;
    const start = performance.now();
    while (performance.now() - start < CLAIM_SECONDS * 1000) {
      const at = new Date(slot);
      slot += 1000;
      // Every node claims every job's slot in one turn (one statement each), as when a second ticks.
      const won = await Promise.all(claimers.map(async (c) => {
        const t0 = performance.now();
        const results = await Promise.all(jobs.map((j) => c.claim(j, at)));
        trips.push(performance.now() - t0);
        return results.filter(Boolean).length;
      }));
      const total = won.reduce((a, b) => a + b, 0);
      if (total !== JOBS) throw new Error(`slot ${at.toISOString()}: ${total} claims won of ${JOBS}`);
      decided += total;
    }
    return { rate: decided / ((performance.now() - start) / 1000), trips: trips.sort((a, b) => a - b) };
  } finally {
    await conns[0]!.pool.query(`DROP SCHEMA IF EXISTS ${conns[0]!.schema} CASCADE`).catch(() => undefined);
    await Promise.all(conns.map((c) => c.end()));
  }
}

/** The floor: the same batched insert of JOBS rows into a plain table (no conflict, no lease check), one client. */
async function rawInsertRate(): Promise<number> {
  const client = new pg.Client({ connectionString: BASE_URL });
  await client.connect();
  const table = `bench_raw_${randomBytes(3).toString('hex')}`;
  try {
    await client.query(`CREATE TABLE ${table} (job_id text NOT NULL, slot timestamptz NOT NULL, node text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job_id, slot))`);
    const jobs = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
    let slot = Date.parse('2030-01-01T00:00:00Z');
    let rows = 0;
    const start = performance.now();
    while (performance.now() - start < CLAIM_SECONDS * 1000) {
      await client.query(
        `INSERT INTO ${table} (job_id, slot, node) SELECT j, to_timestamp($2 / 1000.0), 'raw' FROM unnest($1::text[]) AS j`,
        [jobs, slot],
      );
      slot += 1000;
      rows += JOBS;
    }
    return rows / ((performance.now() - start) / 1000);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}

interface RunFigures { rate: number; p99: number; doubles: number; perNode: number[] }

/** `n` daemons on one store, RUN_JOBS jobs every second: executions per second and start lateness p99 (ms). */
async function runThroughput(n: number): Promise<RunFigures> {
  const schema = `bench_runs_${n}_${randomBytes(3).toString('hex')}`;
  const url = storeUrl(schema);
  const jobs: BenchJob[] = Array.from({ length: RUN_JOBS }, (_, i) => ({ id: `tick-${i}`, schedule: '* * * * * *', command: '"true"' }));
  const daemons: RunningDaemon[] = [];
  const client = new pg.Client({ connectionString: BASE_URL });
  await client.connect();
  try {
    for (let i = 0; i < n; i++) {
      daemons.push(await startDaemon(jobs, { extraYaml: `  store: "${url}"\n  node: bench-${i}\n  max_concurrency: ${RUN_JOBS}` }));
    }
    // A window of RUN_SECONDS from the first whole second after all have started: runs that ended in it
    // (the rate the cluster sustains, whether or not it keeps up with the RUN_JOBS a second offered) and
    // the start lateness of runs that started in it.
    const from = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const to = from + RUN_SECONDS * 1000;
    await new Promise((r) => setTimeout(r, to - Date.now()));
    // Stopped before counting: a loaded node records ends late, and a graceful stop writes them all.
    await Promise.all(daemons.splice(0).map((d) => d.stop()));
    const { rows } = await client.query<{ n: string; node: string; p99: number | null }>(
      `WITH e AS (
         SELECT body->>'node' AS node, body->>'status' AS status, (body->>'finished_at')::timestamptz AS ended,
                (body->>'started_at')::timestamptz AS started,
                extract(epoch FROM (body->>'started_at')::timestamptz - (body->>'scheduled_at')::timestamptz) * 1000 AS late
         FROM "${schema}".executions)
       SELECT count(*) FILTER (WHERE status = 'success' AND ended >= to_timestamp($1 / 1000.0) AND ended < to_timestamp($2 / 1000.0)) AS n, node,
              (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY late) FROM e
               WHERE started >= to_timestamp($1 / 1000.0) AND started < to_timestamp($2 / 1000.0)) AS p99
       FROM e GROUP BY node ORDER BY node`,
      [from, to],
    );
    const doubled = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM "${schema}".executions GROUP BY job_id, body->>'scheduled_at' HAVING count(*) > 1) d`,
    );
    const total = rows.reduce((a, r) => a + Number(r.n), 0);
    return { rate: total / RUN_SECONDS, p99: Number(rows[0]?.p99 ?? NaN), doubles: Number(doubled.rows[0]!.n), perNode: rows.map((r) => Number(r.n)) };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
  }
}

async function main(): Promise<void> {
  const figures: Figure[] = [];
  console.log(`load average at start: ${load()}`);
  const raw = await rawInsertRate();
  console.log(`raw batched insert, 1 client          ${raw.toFixed(0).padStart(8)} rows/s`);
  const claims: number[] = [];
  let trips3: number[] = [];
  for (const n of [1, 2, 3]) {
    const { rate, trips } = await claimRate(n);
    claims.push(rate);
    if (n === 3) trips3 = trips;
    console.log(`claims, ${n} node(s) racing for each slot  ${rate.toFixed(0).padStart(8)} slots/s  (batch p99 ${percentile(trips, 99).toFixed(1)} ms, load ${load()})`);
    figures.push({ what: `claims: slots decided per second, ${n} node(s) / raw insert`, value: rate / raw, unit: 'ratio', target: 'report', pass: null, note: `${rate.toFixed(0)} slots/s vs ${raw.toFixed(0)} rows/s, ${JOBS} jobs a slot` });
  }
  const trip99 = percentile(trips3, 99);
  figures.push({ what: 'claim batch round trip p99, 3 nodes, 1,000 jobs a second', value: trip99, unit: 'ms', target: 'report', pass: null, note: `median ${percentile(trips3, 50).toFixed(1)} ms` });

  const runs: RunFigures[] = [];
  for (const n of [1, 2, 3]) {
    const r = await runThroughput(n);
    runs.push(r);
    console.log(`runs, ${n} node(s), ${RUN_JOBS} jobs every second  ${r.rate.toFixed(1).padStart(8)} runs/s  start lateness p99 ${r.p99.toFixed(0)} ms  per node ${r.perNode.join('/')}  doubles ${r.doubles}  (load ${load()})`);
    if (r.doubles !== 0) throw new Error(`${r.doubles} slots ran twice with ${n} nodes`);
    figures.push({ what: `run throughput, ${n} node(s) / 1 node`, value: r.rate / runs[0]!.rate, unit: 'ratio', target: 'report', pass: null, note: `${r.rate.toFixed(1)} runs/s of ${RUN_JOBS} offered; per node ${r.perNode.join('/')}` });
    figures.push({ what: `start lateness p99, ${n} node(s), ${RUN_JOBS} jobs a second`, value: r.p99, unit: 'ms', target: 'report', pass: null });
  }
  console.log(`load average at end: ${load()}`);
  printResult({ bench: 'cluster', figures });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
