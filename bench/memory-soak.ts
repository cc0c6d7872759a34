/**
 * Memory soak: many run-nows of `true` through the real daemon's API, each recorded with its log;
 * VmRSS once warmed up (after the first WARMUP runs) against VmRSS at the end. Target: growth < 10%.
 * With history_limit trimming every job's history, nothing should grow with the number of runs.
 *
 * 10 jobs (concurrency allow), 16 clients each waiting for its run to finish, default history_limit
 * (100): the store holds at most 1,000 executions whatever the run count, so growth is what the daemon
 * keeps per run. RSS is read every 1/20 of the runs; the figure compares the lowest of the first
 * three readings after the warm-up with the lowest of the last three: what is held after a garbage
 * collection, which a leak raises and the moment of the last collection does not (RSS swings
 * 140-200 MiB with it, while heap snapshots at 3,000 and 15,000 runs show the same 42 MB live).
 *
 *   npx tsc -p . && node dist/bench/memory-soak.js [runs, default 20000]
 */
import { startDaemon, type BenchJob } from './daemon-process.js';
import { median, printResult } from './result-line.js';

const RUNS = Number(process.argv[2] ?? 20_000);
const WARMUP = Math.min(2_000, Math.floor(RUNS / 10));
const IN_FLIGHT = 16;
const JOBS = 10;
const TARGET = 0.1;

/**
 * One run-now, waited for: the API answers 202 once the run is recorded, so clients that did not wait
 * would pile up a queue of thousands and measure that backlog, not what a run leaves behind.
 */
async function runNow(url: string, jobId: string): Promise<void> {
  const res = await fetch(`${url}/api/v1/jobs/${jobId}/run`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { data?: { execution_id?: string } };
  if (res.status !== 202 || !body.data?.execution_id) throw new Error(`POST /run answered ${res.status}`);
  for (;;) {
    const poll = await fetch(`${url}/api/v1/jobs/${jobId}/executions/${body.data.execution_id}`, { signal: AbortSignal.timeout(30_000) });
    const e = (await poll.json()) as { data?: { status?: string } };
    if (e.data?.status !== 'queued' && e.data?.status !== 'in_progress') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const jobs: BenchJob[] = Array.from({ length: JOBS }, (_, i) => ({ id: `soak-${i}`, schedule: '0 0 1 1 *', command: '["true"]' }));
  const daemon = await startDaemon(jobs, { extraYaml: '  max_concurrency: 8\ndefaults:\n  concurrency: allow' });
  try {
    console.log(`memory soak: ${RUNS.toLocaleString('en')} run-nows of \`true\` over ${JOBS} jobs, ${IN_FLIGHT} in flight, node ${process.version}`);
    let next = 0;
    const readings: number[] = [];
    let warmAt = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < RUNS) {
          const n = next++;
          await runNow(daemon.url, `soak-${n % JOBS}`);
          if (n === WARMUP) warmAt = performance.now();
          if (n >= WARMUP && n % Math.ceil(RUNS / 20) === 0) {
            const rss = await daemon.rssMiB();
            readings.push(rss);
            console.log(`  after ${n} runs: VmRSS ${rss.toFixed(0)} MiB`);
          }
        }
      }),
    );
    // Let the last runs finish and their records land before reading the end figure.
    for (;;) {
      const health = (await (await fetch(`${daemon.url}/health`)).json()) as { running: number; queued: number };
      if (health.running === 0 && health.queued === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    readings.push(await daemon.rssMiB());
    const seconds = (performance.now() - t0) / 1000;
    // The lowest of three readings: what is held after a collection. A leak raises it; when the GC last ran does not.
    const rssWarm = Math.min(...readings.slice(0, 3));
    const rssEnd = Math.min(...readings.slice(-3));
    const growth = (rssEnd - rssWarm) / rssWarm;
    const medianGrowth = (median(readings.slice(-3)) - median(readings.slice(0, 3))) / median(readings.slice(0, 3));
    console.log(`${RUNS} runs in ${seconds.toFixed(0)} s (${(RUNS / seconds).toFixed(0)}/s); VmRSS after ${WARMUP} runs ${rssWarm.toFixed(0)} MiB (lowest of 3), at the end ${rssEnd.toFixed(0)} MiB: growth ${(growth * 100).toFixed(1)}% (of the medians: ${(medianGrowth * 100).toFixed(1)}%) over ${((performance.now() - warmAt) / 1000).toFixed(0)} s`);
    printResult({
      bench: 'memory-soak',
      figures: [{
        what: `memory soak: VmRSS growth over ${RUNS.toLocaleString('en')} run-nows of \`true\``, value: growth * 100, unit: '%', target: `< ${TARGET * 100}`, pass: growth < TARGET,
        note: `${rssWarm.toFixed(0)} MiB after ${WARMUP} runs -> ${rssEnd.toFixed(0)} MiB; ${(RUNS / seconds).toFixed(0)} runs/s through the API` +
          (RUNS < 100_000 ? ` (scaled from 100,000 runs: \`node dist/bench/memory-soak.js 100000\` runs the full count)` : ''),
      }],
    });
  } finally {
    await daemon.stop();
  }
}

await main();
