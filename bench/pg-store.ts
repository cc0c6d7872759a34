/**
 * The PostgreSQL store beside the embedded one, in the same run (issue 17's targets):
 * - run throughput: serial run-now of `true` through a Runner recording to a PgStore, against a Runner
 *   recording to a LowdbStore, in alternating turns of 250 ms. Target: PostgreSQL >= 0.6 of embedded.
 * - store growth: recording an execution (add + finish) into a job at its history_limit with 100
 *   executions stored, then with 100,000 (1,000 jobs x 100), on PostgreSQL. Target: ratio < 1.5.
 * The database is WATCHBELL_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test), in a schema
 * of its own, dropped at the end. Exit code 1 when a target is missed.
 *
 *   npx tsc -p . && node dist/bench/pg-store.js [seconds per case, default 3]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Events } from '../src/jobs/events.js';
import { JOB_DEFAULTS, type Job } from '../src/jobs/job.js';
import { Runner } from '../src/run/runner.js';
import { LowdbStore } from '../src/store/lowdb-store.js';
import { PgStore } from '../src/store/postgres/pg-store.js';
import type { Store } from '../src/store/store.js';
import { execution, finish, recordTimes, seed } from './execution-fixtures.js';
import { median, printResult } from './result-line.js';

const SECONDS = Number(process.argv[2] ?? 3);
const BASE_URL = process.env.WATCHBELL_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROUND_MS = 250;
const WARMUP_RUNS = 20;
const HISTORY_LIMIT = 100;
const BIG_JOBS = 1000;
const RECORDS = 300;
const THROUGHPUT_TARGET = 0.6;
const GROWTH_TARGET = 1.5;

/** Alternates the cases in turns of ROUND_MS for SECONDS each; runs per second of each. */
async function interleaved(cases: Array<{ name: string; once: () => Promise<void> }>): Promise<number[]> {
  for (const c of cases) for (let i = 0; i < WARMUP_RUNS; i++) await c.once();
  const runs = cases.map(() => 0);
  const spent = cases.map(() => 0);
  while (spent.some((ms) => ms < SECONDS * 1000)) {
    for (const [i, c] of cases.entries()) {
      const start = performance.now();
      let now = start;
      while (now - start < ROUND_MS) {
        await c.once();
        runs[i]!++;
        now = performance.now();
      }
      spent[i]! += now - start;
    }
  }
  return cases.map((c, i) => {
    const rate = runs[i]! / (spent[i]! / 1000);
    console.log(`${c.name.padEnd(30)} ${rate.toFixed(1).padStart(8)} runs/s  (${runs[i]} runs)`);
    return rate;
  });
}

function schemaUrl(schema: string): string {
  const url = new URL(BASE_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-pg-'));
  const tag = randomBytes(4).toString('hex');
  const schemas = [`wb_bench_run_${tag}`, `wb_bench_small_${tag}`, `wb_bench_big_${tag}`];
  const embedded = new LowdbStore(join(dir, 'embedded'));
  const onPg = new PgStore({ url: schemaUrl(schemas[0]!), dataDir: join(dir, 'pg') });
  const small = new PgStore({ url: schemaUrl(schemas[1]!), dataDir: join(dir, 'small') });
  const big = new PgStore({ url: schemaUrl(schemas[2]!), dataDir: join(dir, 'big') });
  const events = new Events();
  events.on('error', ({ where, error }) => console.error(`error in ${where}:`, error));
  const job: Job = {
    ...JOB_DEFAULTS, id: 'bench', name: 'bench', schedule: '@every 1h', command: ['true'], tags: [], environment: {},
    source: 'api', status: 'active', created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
  };
  const runners = [new Runner({ store: embedded, events }), new Runner({ store: onPg, events })];
  const via = (runner: Runner) => async () => {
    const started = await runner.trigger(job, 'manual', null);
    const done = await runner.whenFinished(started.id);
    if (done.status !== 'success') throw new Error(`run failed: ${done.error}`);
  };
  try {
    await Promise.all([embedded, onPg, small, big].map((s) => s.open()));
    console.log(`serial runs of \`true\`, ${SECONDS}s each (node ${process.version}, history_limit ${job.history_limit})`);
    const [rateEmbedded, ratePg] = await interleaved([
      { name: 'Runner on the embedded store', once: via(runners[0]!) },
      { name: 'Runner on PostgreSQL', once: via(runners[1]!) },
    ]);
    const throughput = ratePg / rateEmbedded;
    console.log(`PostgreSQL / embedded ${throughput.toFixed(2)} (target >= ${THROUGHPUT_TARGET})`);

    let t = performance.now();
    await seed(small, 1, HISTORY_LIMIT);
    await seed(big, BIG_JOBS, HISTORY_LIMIT);
    const stored = (s: Store) => s.listAllExecutions({ limit: 0, offset: 0 }).total;
    console.log(`seeded ${stored(small)} and ${stored(big)} executions in ${((performance.now() - t) / 1000).toFixed(1)}s`);
    t = performance.now();
    const times = await recordTimes(small, big, { bigJobs: BIG_JOBS, warmup: 50, records: RECORDS, historyLimit: HISTORY_LIMIT });
    const base = median(times.small);
    const grown = median(times.big);
    const growth = grown / base;
    console.log(`record one execution (add + finish) on PostgreSQL: ${base.toFixed(3)} ms with ${stored(small)} stored, ${grown.toFixed(3)} ms with ${stored(big)}: ratio ${growth.toFixed(2)} (target < ${GROWTH_TARGET}); ${((performance.now() - t) / 1000).toFixed(1)}s`);
    printResult({
      bench: 'pg-store',
      figures: [
        { what: 'PostgreSQL store: run throughput / embedded store', value: throughput, unit: 'ratio', target: `>= ${THROUGHPUT_TARGET}`, pass: throughput >= THROUGHPUT_TARGET,
          note: `PostgreSQL ${ratePg.toFixed(0)}/s, embedded ${rateEmbedded.toFixed(0)}/s; serial \`true\`, ${SECONDS} s per case` },
        { what: `PostgreSQL store growth: record time with ${stored(big)} / ${stored(small)} stored`, value: growth, unit: 'ratio', target: `< ${GROWTH_TARGET}`, pass: growth < GROWTH_TARGET,
          note: `median ${base.toFixed(3)} ms vs ${grown.toFixed(3)} ms per record (add + finish), ${RECORDS} records each` },
      ],
    });
    if (throughput < THROUGHPUT_TARGET || growth >= GROWTH_TARGET) process.exitCode = 1;
  } finally {
    for (const r of runners) await r.shutdown(0);
    await Promise.all([embedded, onPg, small, big].map((s) => s.close()));
    const client = new pg.Client({ connectionString: BASE_URL });
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await client.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
