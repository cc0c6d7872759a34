/**
 * Does changing an API job get slower as API jobs grow? Times create, update, pause and delete of an
 * API job through the embedded store with 100 API jobs stored, then with 100,000, and prints each
 * median and the ratio (target < 1.5). Operations alternate between the two stores, so the disk's slow
 * moments hit both alike. Then the real daemon: VmRSS after creating 5,000 API jobs over HTTP, and after
 * a restart on the same data dir (target: within 15%), each the median of 3 readings from 2 s on.
 *
 * A baseline build (another checkout's root, built) measured in the same run gives the before/after:
 *
 *   npx tsc -p . && node dist/bench/api-job-growth.js [baseline checkout]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Job } from '../src/jobs/job.js';
import type { Store } from '../src/store/store.js';
import { startDaemon, type RunningDaemon } from './daemon-process.js';
import { median, printResult, type Figure } from './result-line.js';

const SMALL = 100;
const BIG = 100_000;
const WARMUP = 5;
const ROUNDS = 200;
/** Fewer for a baseline, whose changes at 100,000 API jobs each rewrite a file of ~30 MB. */
const BASELINE_ROUNDS = 20;
const TARGET = 1.5;
const RSS_JOBS = 5_000;
const RSS_TARGET = 0.15;
const BASELINE = process.argv[2] ? resolve(process.argv[2]) : undefined;

/** An API job as the service stores it, with some bulk, as a real definition has. */
function apiJob(id: string, command = 'true'): Job {
  return { id, source: 'api', schedule: '0 0 1 1 *', command, environment: { A: 'x'.repeat(200) } } as unknown as Job;
}

type Op = 'create' | 'update' | 'pause' | 'delete';
const OPS: Op[] = ['create', 'update', 'pause', 'delete'];

/** A store of the build at `root` (ours when undefined) on a data dir seeded with `jobs` API jobs. */
async function openSeeded(root: string | undefined, jobs: number): Promise<{ store: Store & { close(): Promise<void> }; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-apijobs-'));
  // Written as the file, not created one by one: seeding 100,000 through a store that rewrites the file per create takes hours.
  const seeded = Array.from({ length: jobs }, (_, i) => apiJob(`seed-${i}`));
  await writeFile(join(dir, 'api-jobs.json'), JSON.stringify({ jobs: seeded }, null, 2));
  const url = root ? pathToFileURL(join(root, 'dist/src/store/lowdb-store.js')).href : '../src/store/lowdb-store.js';
  const { LowdbStore } = (await import(url)) as typeof import('../src/store/lowdb-store.js');
  const store = new LowdbStore(dir);
  await store.open();
  return { store, dir };
}

/** Milliseconds of one operation on the `round`th job. */
async function timeOp(store: Store, op: Op, round: number): Promise<number> {
  const id = `new-${round}`;
  const t = performance.now();
  if (op === 'create') await store.saveApiJob(apiJob(id));
  else if (op === 'update') await store.saveApiJob(apiJob(id, 'echo changed'));
  else if (op === 'pause') await store.saveJobState(id, { paused: true });
  else await store.deleteJob(id);
  return performance.now() - t;
}

/** Median ms per operation at SMALL and at BIG API jobs, for the build at `root`. */
async function storeRatios(root: string | undefined, rounds: number): Promise<Record<Op, { small: number; big: number }>> {
  const small = await openSeeded(root, SMALL);
  const big = await openSeeded(root, BIG);
  const times = { small: new Map<Op, number[]>(), big: new Map<Op, number[]>() };
  for (const op of OPS) {
    times.small.set(op, []);
    times.big.set(op, []);
  }
  try {
    for (let round = 0; round < WARMUP + rounds; round++) {
      for (const op of OPS) {
        for (const [size, s] of [['small', small], ['big', big]] as const) {
          const ms = await timeOp(s.store, op, round);
          if (round >= WARMUP) times[size].get(op)!.push(ms);
        }
      }
    }
  } finally {
    for (const s of [small, big]) {
      await s.store.close();
      await rm(s.dir, { recursive: true, force: true });
    }
  }
  const out = {} as Record<Op, { small: number; big: number }>;
  for (const op of OPS) out[op] = { small: median(times.small.get(op)!), big: median(times.big.get(op)!) };
  return out;
}

async function post(d: RunningDaemon, body: unknown): Promise<void> {
  const res = await fetch(`${d.url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`POST /api/v1/jobs: ${res.status}`);
}

/**
 * The median of 3 VmRSS readings a second apart, from 3 s on: one reading swings with the garbage collector,
 * and the daemon gives back the young generation a burst grew once it has been idle for a second or two
 * (src/young-generation-trim.ts), which is the daemon at rest after the creates.
 */
async function settledRss(d: RunningDaemon): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, i === 0 ? 3000 : 1000));
    readings.push(await d.rssMiB());
  }
  return median(readings);
}

/** VmRSS (MiB) of the daemon of `root` after creating RSS_JOBS API jobs, and after a restart with them. */
async function rssAfterRestart(root: string | undefined): Promise<{ created: number; restarted: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'watchbell-bench-apijobs-data-'));
  const bin = root ? join(root, 'bin/watchbell') : undefined;
  try {
    const d = await startDaemon([], { bin, dataDir });
    let created: number;
    try {
      for (let i = 0; i < RSS_JOBS; i++) await post(d, { id: `job-${i}`, schedule: '0 0 1 1 *', command: 'true', environment: { A: 'x'.repeat(200) } });
      created = await settledRss(d);
    } finally {
      await d.stop();
    }
    const again = await startDaemon([], { bin, dataDir });
    try {
      return { created, restarted: await settledRss(again) };
    } finally {
      await again.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const figures: Figure[] = [];
const base = BASELINE ? await storeRatios(BASELINE, BASELINE_ROUNDS) : undefined;
const ours = await storeRatios(undefined, ROUNDS);
for (const op of OPS) {
  const { small, big } = ours[op];
  const ratio = big / small;
  const before = base?.[op];
  figures.push({
    what: `API job ${op}: ${BIG.toLocaleString('en')} / ${SMALL} API jobs`,
    value: round2(ratio),
    unit: 'x',
    target: `< ${TARGET}`,
    pass: ratio < TARGET,
    note: `${round2(small)} -> ${round2(big)} ms` + (before ? `; baseline ${round2(before.small)} -> ${round2(before.big)} ms (${round2(before.big / before.small)} x)` : ''),
  });
}
const baseRss = BASELINE ? await rssAfterRestart(BASELINE) : undefined;
const rss = await rssAfterRestart(undefined);
const growth = rss.created / rss.restarted - 1;
figures.push({
  what: `VmRSS after creating ${RSS_JOBS.toLocaleString('en')} API jobs / after a restart with them`,
  value: Math.round(growth * 1000) / 10,
  unit: '% over',
  target: `<= ${RSS_TARGET * 100}%`,
  pass: Math.abs(growth) <= RSS_TARGET,
  note: `${Math.round(rss.created)} vs ${Math.round(rss.restarted)} MiB` + (baseRss ? `; baseline ${Math.round(baseRss.created)} vs ${Math.round(baseRss.restarted)} MiB` : ''),
});
for (const f of figures) console.log(`${f.what}: ${f.value} ${f.unit} (target ${f.target}, ${f.pass ? 'pass' : 'miss'}) ${f.note ?? ''}`);
printResult({ bench: 'api-job-growth', figures });
