/**
 * The daemon at scale, over HTTP against the real process:
 * - startup: a config of N jobs (default 100,000) drawn from 1,000 distinct expressions; ms from spawn
 *   to the first 200 from /health (target < 10 s), and VmRSS after load (target < 500 MiB);
 * - list: p99 of `GET /api/v1/jobs?limit=100&offset=N`, of `?q=...&limit=100` and of `?sort=next_run`,
 *   `-last_run` and `-created_at` (first pages, and a quarter deep ones) over REQUESTS sequential requests
 *   each (target < 50 ms);
 * - memory per job, second case: 10,000 jobs on 10,000 distinct expressions, VmRSS after load (report);
 *   and an empty config's VmRSS as the floor both are read against.
 * The jobs fire at most once a day at a fixed minute, so they idle during the measurement... unless the
 * run crosses one of those minutes; the expressions avoid the next 10 minutes for that reason.
 *
 *   npx tsc -p . && node dist/bench/api-scale.js [jobs, default 100000] [requests, default 200]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, type BenchJob, type RunningDaemon } from './daemon-process.js';
import { percentile, printResult, type Figure } from './result-line.js';

const JOBS = Number(process.argv[2] ?? 100_000);
const REQUESTS = Number(process.argv[3] ?? 200);
const DISTINCT = 1000;
const TARGET_STARTUP_MS = 10_000;
const TARGET_RSS_MIB = 500;
const TARGET_P99_MS = 50;
/** Scaled targets hold the same per-job budget when fewer than 100,000 jobs are loaded. */
const FULL_SCALE = 100_000;

/** The k-th of many distinct daily expressions, none firing in the next 10 minutes (from now, UTC). */
function dailyExpressions(count: number, withDayOfMonth: boolean): string[] {
  const now = new Date();
  const skip = new Set<string>();
  for (let m = 0; m <= 10; m++) {
    const t = new Date(now.getTime() + m * 60_000);
    skip.add(`${t.getUTCMinutes()} ${t.getUTCHours()}`);
  }
  const out: string[] = [];
  for (let k = 0; out.length < count; k++) {
    const minuteHour = `${k % 60} ${Math.floor(k / 60) % 24}`;
    if (skip.has(minuteHour)) continue;
    out.push(withDayOfMonth ? `${minuteHour} ${(Math.floor(k / 1440) % 28) + 1} * *` : `${minuteHour} * * *`);
  }
  return out;
}

function jobs(count: number, expressions: readonly string[]): BenchJob[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `job-${String(i).padStart(6, '0')}`,
    schedule: expressions[i % expressions.length]!,
    command: `["echo", "bench ${i % 97}"]`,
  }));
}

async function timeGets(daemon: RunningDaemon, paths: readonly string[]): Promise<number[]> {
  const times: number[] = [];
  for (const path of paths) {
    const t = performance.now();
    const res = await fetch(daemon.url + path);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status}`);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b);
}

async function settledRss(daemon: RunningDaemon): Promise<number> {
  await sleep(1000); // let start-up garbage be collected by the daemon's own GC
  return daemon.rssMiB();
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

async function main(): Promise<void> {
  const scale = JOBS / FULL_SCALE;
  const scaled = JOBS === FULL_SCALE ? '' : ` (scaled from 100,000 to ${JOBS} jobs: target = empty daemon's figure + the per-job budget x ${JOBS})`;
  console.log(`api at scale: ${JOBS.toLocaleString('en')} jobs over ${DISTINCT} expressions, ${REQUESTS} requests per list case, node ${process.version}`);
  const figures: Figure[] = [];

  const empty = await startDaemon([]);
  const emptyRss = await settledRss(empty);
  await empty.stop();
  console.log(`empty config:  first /health ${fmt(empty.firstHealthMs, 0)} ms, VmRSS ${fmt(emptyRss)} MiB`);

  let t = performance.now();
  const big = await startDaemon(jobs(JOBS, dailyExpressions(DISTINCT, false)), { timeoutMs: 120_000 });
  try {
    console.log(`(config written and daemon started in ${fmt((performance.now() - t) / 1000)} s, incl. writing the YAML)`);
    const rss = await settledRss(big);
    const perJobKiB = ((rss - emptyRss) * 1024) / JOBS;
    console.log(`${JOBS} jobs:   first /health ${fmt(big.firstHealthMs, 0)} ms (daemon.started at ${fmt(big.startedAfterMs, 0)} ms), VmRSS ${fmt(rss)} MiB (${fmt(perJobKiB, 2)} KiB/job over empty)`);
    // Scaled down, the fixed part (an empty daemon's start-up time and RSS) stays whole and only the
    // per-job part of the budget shrinks, so the scaled target asks for the same cost per job.
    const startupTarget = empty.firstHealthMs + (TARGET_STARTUP_MS - empty.firstHealthMs) * scale;
    const rssTarget = emptyRss + (TARGET_RSS_MIB - emptyRss) * scale;
    figures.push(
      { what: `startup at scale: spawn -> first /health, ${JOBS} jobs`, value: big.firstHealthMs, unit: 'ms', target: `< ${fmt(startupTarget, 0)}${scaled ? ' (scaled)' : ''}`, pass: big.firstHealthMs < startupTarget,
        note: `empty config ${fmt(empty.firstHealthMs, 0)} ms${scaled}` },
      { what: `memory: VmRSS after load, ${JOBS} jobs / ${DISTINCT} expressions`, value: rss, unit: 'MiB', target: `< ${fmt(rssTarget, 0)}${scaled ? ' (scaled)' : ''}`, pass: rss < rssTarget,
        note: `empty config ${fmt(emptyRss)} MiB; ${fmt(perJobKiB, 2)} KiB/job over it${scaled}` },
    );

    const span = Math.max(1, JOBS - 100);
    const offsets = Array.from({ length: REQUESTS }, (_, i) => Math.floor(((i * 7919) % REQUESTS) / REQUESTS * span));
    const queries = ['job-0123', 'bench 42', 'JOB-09', 'echo', '15 3 * * *', 'no-such-job'];
    // warm-up, not counted
    await timeGets(big, ['/api/v1/jobs?limit=100&offset=0', '/api/v1/jobs?q=x&limit=100']);
    const offsetTimes = await timeGets(big, offsets.map((o) => `/api/v1/jobs?limit=100&offset=${o}`));
    const qTimes = await timeGets(big, Array.from({ length: REQUESTS }, (_, i) => `/api/v1/jobs?limit=100&q=${encodeURIComponent(queries[i % queries.length]!)}`));
    // The other orders: the first pages (what a dashboard asks) and, for a quarter of the requests, deep ones.
    const sorted = (sort: string) => offsets.map((o, i) => `/api/v1/jobs?sort=${sort}&limit=100&offset=${i % 4 === 0 ? o : (i % 5) * 100}`);
    const nextTimes = await timeGets(big, sorted('next_run'));
    const lastTimes = await timeGets(big, sorted('-last_run'));
    const createdTimes = await timeGets(big, sorted('-created_at'));
    for (const [name, times] of [
      ['?limit=100&offset=N', offsetTimes], ['?limit=100&q=...', qTimes],
      ['?sort=next_run&limit=100', nextTimes], ['?sort=-last_run&limit=100', lastTimes], ['?sort=-created_at&limit=100', createdTimes],
    ] as const) {
      const p50 = percentile(times, 50);
      const p99 = percentile(times, 99);
      console.log(`GET /api/v1/jobs${name.padEnd(20)} p50 ${fmt(p50, 2)} ms  p99 ${fmt(p99, 2)} ms  max ${fmt(times.at(-1)!, 2)} ms`);
      figures.push({ what: `list at scale: GET /api/v1/jobs${name} p99, ${JOBS} jobs`, value: p99, unit: 'ms', target: `< ${TARGET_P99_MS}`, pass: p99 < TARGET_P99_MS,
        note: `p50 ${fmt(p50, 2)} ms, max ${fmt(times.at(-1)!, 2)} ms, ${REQUESTS} sequential requests${scaled}` });
    }
  } finally {
    await big.stop();
  }

  t = performance.now();
  const distinctCount = 10_000;
  const distinct = await startDaemon(jobs(distinctCount, dailyExpressions(distinctCount, true)), { timeoutMs: 120_000 });
  try {
    const rss = await settledRss(distinct);
    const perJobKiB = ((rss - emptyRss) * 1024) / distinctCount;
    console.log(`${distinctCount} distinct expressions: first /health ${fmt(distinct.firstHealthMs, 0)} ms, VmRSS ${fmt(rss)} MiB (${fmt(perJobKiB, 2)} KiB/job over empty)`);
    figures.push({ what: 'memory: VmRSS after load, 10000 jobs / 10000 distinct expressions', value: rss, unit: 'MiB', target: 'report', pass: null,
      note: `empty config ${fmt(emptyRss)} MiB; ${fmt(perJobKiB, 2)} KiB/job over it; first /health ${fmt(distinct.firstHealthMs, 0)} ms` });
  } finally {
    await distinct.stop();
  }
  printResult({ bench: 'api-scale', figures });
}

await main();
