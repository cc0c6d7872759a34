/**
 * Serial run-now throughput of `true`: through Runner (recorded to a LowdbStore, with a log file),
 * against bare execa and raw child_process.spawn measured in the same run, in alternating turns of
 * 250 ms, so the ratios hold on any machine and a drift in its load weighs on all three alike.
 * Then bursts of BURST triggers at once through a Runner with POOL slots (most of them `queued` first),
 * against execa with POOL at a time: what the max_concurrency queue costs.
 *
 *   npx tsc -p . && node dist/bench/run-throughput.js [seconds per case, default 3]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { Events } from '../src/jobs/events.js';
import { JOB_DEFAULTS, type Job } from '../src/jobs/job.js';
import { Runner } from '../src/run/runner.js';
import { LowdbStore } from '../src/store/lowdb-store.js';
import { printResult } from './result-line.js';

const SECONDS = Number(process.argv[2] ?? 3);
const WARMUP_RUNS = 20;
/** Slots of the queued case, and triggers fired at once into them. */
const POOL = 2;
const BURST = 16;

/**
 * Runs the cases in turns of ROUND_MS each, round after round, for SECONDS per case, so a change in the
 * machine's load (others share it) weighs on every case alike; returns runs per second of each.
 */
async function interleaved(cases: Array<{ name: string; once: () => Promise<void>; runsPerCall?: number }>): Promise<number[]> {
  for (const c of cases) for (let i = 0; i < Math.ceil(WARMUP_RUNS / (c.runsPerCall ?? 1)); i++) await c.once();
  const runs = cases.map(() => 0);
  const nanos = cases.map(() => 0n);
  const budget = BigInt(Math.round(SECONDS * 1e9));
  while (nanos.some((n) => n < budget)) {
    for (const [i, c] of cases.entries()) {
      if (nanos[i]! >= budget) continue;
      const start = process.hrtime.bigint();
      const end = start + BigInt(ROUND_MS * 1e6);
      let now = start;
      while (now < end) {
        await c.once();
        runs[i]! += c.runsPerCall ?? 1;
        now = process.hrtime.bigint();
      }
      nanos[i]! += now - start;
    }
  }
  return cases.map((c, i) => {
    const rate = runs[i]! / (Number(nanos[i]!) / 1e9);
    console.log(`${c.name.padEnd(34)} ${rate.toFixed(1).padStart(8)} runs/s  (${runs[i]} runs)`);
    return rate;
  });
}
const ROUND_MS = 250;

function rawSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`true exited with ${code}`))));
  });
}

async function bareExeca(): Promise<void> {
  await execa('true');
}

/** BURST runs of `true`, POOL at a time. */
async function execaPool(): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: POOL }, async () => {
      while (next++ < BURST) await execa('true');
    }),
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-'));
  const store = new LowdbStore(dir);
  await store.open();
  const events = new Events();
  events.on('error', ({ where, error }) => console.error(`error in ${where}:`, error));
  const runner = new Runner({ store, events });
  const job: Job = {
    ...JOB_DEFAULTS,
    id: 'bench',
    name: 'bench',
    schedule: '@every 1h',
    command: ['true'],
    tags: [],
    environment: {},
    source: 'api',
    status: 'active',
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
  const viaRunner = async () => {
    const started = await runner.trigger(job, 'manual', null);
    const done = await runner.whenFinished(started.id);
    if (done.status !== 'success') throw new Error(`run failed: ${done.error}`);
  };
  // The same command as a job of one step: what the step machinery (records, outputs file, header) costs.
  const stepJob: Job = { ...job, id: 'bench-steps', name: 'bench-steps', command: null, steps: [{ name: 'only', command: ['true'] }] };
  const viaSteps = async () => {
    const started = await runner.trigger(stepJob, 'manual', null);
    const done = await runner.whenFinished(started.id);
    if (done.status !== 'success') throw new Error(`run failed: ${done.error}`);
  };
  // One job per trigger of a burst, since the triggers of one job decide one after another.
  const pooled = new Runner({ store, events, maxConcurrency: POOL });
  const burstJobs = Array.from({ length: BURST }, (_, i) => ({ ...job, id: `bench-${i}`, name: `bench-${i}`, concurrency: 'allow' as const }));
  const viaQueue = async () => {
    const started = await Promise.all(burstJobs.map((j) => pooled.trigger(j, 'manual', null)));
    const done = await Promise.all(started.map((e) => pooled.whenFinished(e.id)));
    const failed = done.find((e) => e.status !== 'success');
    if (failed) throw new Error(`run failed: ${failed.error}`);
  };

  try {
    console.log(`serial runs of \`true\`, ${SECONDS}s each (node ${process.version}, history_limit ${job.history_limit})`);
    const [raw, bare, full, oneStep] = await interleaved([
      { name: 'child_process.spawn', once: rawSpawn },
      { name: 'execa', once: bareExeca },
      { name: 'Runner (store + log file)', once: viaRunner },
      { name: 'Runner, a job of 1 step', once: viaSteps },
    ]);
    const [pool, queued] = await interleaved([
      { name: `execa, ${POOL} at a time`, once: execaPool, runsPerCall: BURST },
      { name: `Runner, ${BURST} at once, ${POOL} slots`, once: viaQueue, runsPerCall: BURST },
    ]);
    console.log('');
    console.log(`execa  / spawn   ${(bare / raw).toFixed(2)}`);
    console.log(`Runner / execa   ${(full / bare).toFixed(2)}`);
    console.log(`Runner / spawn   ${(full / raw).toFixed(2)}`);
    console.log(`queued Runner / execa pool   ${(queued / pool).toFixed(2)}`);
    console.log(`1-step job / command job   ${(oneStep / full).toFixed(2)}`);
    printResult({
      bench: 'run-throughput',
      figures: [
        { what: 'run throughput: Runner / bare execa runs/s', value: full / bare, unit: 'ratio', target: '>= 0.80', pass: full / bare >= 0.8,
          note: `Runner ${full.toFixed(0)}/s, execa ${bare.toFixed(0)}/s, spawn ${raw.toFixed(0)}/s; serial \`true\`, ${SECONDS} s per case` },
        { what: 'run throughput: Runner / raw spawn runs/s', value: full / raw, unit: 'ratio', target: '>= 0.60', pass: full / raw >= 0.6,
          note: `execa / spawn ${(bare / raw).toFixed(2)}` },
        { what: 'run throughput: a job of 1 step / the same command job', value: oneStep / full, unit: 'ratio', target: 'report', pass: null,
          note: `${oneStep.toFixed(0)}/s vs ${full.toFixed(0)}/s` },
        { what: `run throughput: queued Runner (${BURST} at once, ${POOL} slots) / execa pool`, value: queued / pool, unit: 'ratio', target: 'report', pass: null,
          note: `${queued.toFixed(0)}/s vs ${pool.toFixed(0)}/s` },
      ],
    });
  } finally {
    await pooled.shutdown(0);
    await runner.shutdown(0);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
