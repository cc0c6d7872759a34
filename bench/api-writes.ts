/**
 * API write cost: p50 and p99 of sequential `POST /api/v1/jobs`, `PUT /api/v1/jobs/{id}`,
 * `POST .../pause` and `.../resume` against the real daemon, after N API jobs (default 1,000) exist,
 * (before issue 16 each create and update rewrote an `api-jobs.json` of N jobs; now each is a line in the
 * write-ahead log, see api-job-growth.ts); and VmRSS at the end. A baseline
 * build (another checkout's bin/watchbell) measured in the same run gives the before/after.
 *
 *   npx tsc -p . && node dist/bench/api-writes.js [jobs, default 1000] [baseline bin/watchbell]
 */
import { startDaemon, type RunningDaemon } from './daemon-process.js';
import { percentile, printResult, type Figure } from './result-line.js';

const JOBS = Number(process.argv[2] ?? 1000);
const BASELINE = process.argv[3];
/** Requests of each kind measured. */
const SAMPLES = 200;

async function send(d: RunningDaemon, method: string, path: string, body?: unknown): Promise<number> {
  const t = performance.now();
  const res = await fetch(d.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
  return performance.now() - t;
}

const job = (id: string, command = 'true') => ({ id, schedule: '0 0 1 1 *', command, environment: { A: 'x'.repeat(200) } });

/** Milliseconds per kind of write, sorted, and the RSS at the end. */
async function measure(bin: string | undefined): Promise<{ times: Record<string, number[]>; rss: number }> {
  const d = await startDaemon([], { bin });
  try {
    for (let i = 0; i < JOBS; i++) await send(d, 'POST', '/api/v1/jobs', job(`seed-${i}`));
    const times: Record<string, number[]> = { create: [], update: [], pause: [], resume: [] };
    for (let i = 0; i < SAMPLES; i++) {
      times.create!.push(await send(d, 'POST', '/api/v1/jobs', job(`new-${i}`)));
      times.update!.push(await send(d, 'PUT', `/api/v1/jobs/seed-${i}`, job(`seed-${i}`, 'echo changed')));
      times.pause!.push(await send(d, 'POST', `/api/v1/jobs/seed-${i}/pause`));
      times.resume!.push(await send(d, 'POST', `/api/v1/jobs/seed-${i}/resume`));
    }
    for (const k of Object.keys(times)) times[k]!.sort((a, b) => a - b);
    return { times, rss: await d.rssMiB() };
  } finally {
    await d.stop();
  }
}

// The baseline first, then ours, then the baseline again: a drift in the machine's load weighs on both.
const base1 = BASELINE ? await measure(BASELINE) : undefined;
const ours = await measure(undefined);
const base2 = BASELINE ? await measure(BASELINE) : undefined;
const base = base1 && base2 ? merged(base1, base2) : undefined;

/** Two runs' samples as one. */
function merged(a: Awaited<ReturnType<typeof measure>>, b: Awaited<ReturnType<typeof measure>>): Awaited<ReturnType<typeof measure>> {
  const times: Record<string, number[]> = {};
  for (const k of Object.keys(a.times)) times[k] = [...a.times[k]!, ...b.times[k]!].sort((x, y) => x - y);
  return { times, rss: (a.rss + b.rss) / 2 };
}
const figures: Figure[] = [];
for (const kind of Object.keys(ours.times)) {
  for (const p of [50, 99]) {
    const value = percentile(ours.times[kind]!, p);
    const before = base ? percentile(base.times[kind]!, p) : undefined;
    figures.push({
      what: `API ${kind} p${p} with ${JOBS} API jobs`, value: Math.round(value * 100) / 100, unit: 'ms', target: 'report', pass: null,
      note: before === undefined ? undefined : `baseline ${Math.round(before * 100) / 100} ms`,
    });
  }
}
figures.push({ what: 'VmRSS after the writes', value: Math.round(ours.rss), unit: 'MiB', target: 'report', pass: null, note: base ? `baseline ${Math.round(base.rss)} MiB` : undefined });
printResult({ bench: 'api-writes', figures });
