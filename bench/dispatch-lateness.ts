/**
 * Scheduler callback lateness (the moment the scheduler hands a due job on, not the process start: that is
 * dispatch-process.ts): 10,000 jobs on `* * * * * *`, fired by our Scheduler (one timer over one queue)
 * and, in the same run, by bare croner (one `new Cron(...)` timer per job), measured the same way.
 * Prints p50/p99/max of (fire time - slot) and the ratio. Run: `node dist/bench/dispatch-lateness.js`.
 */
import { Cron } from 'croner';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PatternCache } from '../src/schedule/pattern-cache.js';
import { printResult } from './result-line.js';
import { Scheduler } from '../src/schedule/scheduler.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 5_000);
const PATTERN = '* * * * * *';
const TIMEZONE = 'UTC'; // the daemon's default; both sides get it, so both pay croner's zone math

// Heap figures need a full GC before reading; this works without `node --expose-gc`.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Wall clock with sub-millisecond precision, comparable to epoch-ms slots. */
const preciseNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Result {
  name: string;
  fires: number;
  expected: number;
  lateness: number[];
  heapMb: number;
  /** Share of the window the event loop was busy: what is left for the API, the runner and I/O. */
  loopBusy: number;
}

/** Collects lateness for slots inside [windowStart, windowStart + WINDOW_MS). */
class Window {
  readonly lateness: number[] = [];
  constructor(readonly start: number) {}
  record(slot: number, firedAt: number): void {
    if (slot >= this.start && slot < this.start + WINDOW_MS) this.lateness.push(firedAt - slot);
  }
  /** Resolves once the last slot of the window has had a second to fire. */
  done(): Promise<void> {
    return sleep(this.start + WINDOW_MS + 1_000 - Date.now());
  }
}

/** The window opens at the second whole second after setup, so setup work is not measured. */
function windowAfterSetup(): Window {
  return new Window(Math.ceil(Date.now() / 1000) * 1000 + 1000);
}

async function measure(name: string, setup: (window: () => Window) => () => void): Promise<Result> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let window: Window | undefined;
  const teardown = setup(() => window!);
  window = windowAfterSetup();
  gc();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  await sleep(window.start - Date.now());
  const elu = performance.eventLoopUtilization();
  await window.done();
  const loopBusy = performance.eventLoopUtilization(elu).utilization;
  teardown();
  return {
    name,
    fires: window.lateness.length,
    expected: JOBS * (WINDOW_MS / 1000),
    lateness: window.lateness,
    heapMb,
    loopBusy,
  };
}

function ours(window: () => Window): () => void {
  const scheduler = new Scheduler({
    onDue: (_jobId, slot) => window().record(slot.getTime(), preciseNow()),
    patterns: new PatternCache(),
  });
  for (let i = 0; i < JOBS; i++) scheduler.set({ id: `job-${i}`, schedule: PATTERN, timezone: TIMEZONE });
  scheduler.start();
  return () => scheduler.stop();
}

function bareCroner(window: () => Window): () => void {
  const crons: Cron[] = [];
  for (let i = 0; i < JOBS; i++) {
    // croner does not tell the callback its slot; for a one-second pattern it is the whole second
    // at or before the call. A fire later than 1 s would be under-counted here, and shows up as
    // missing fires instead.
    crons.push(new Cron(PATTERN, { timezone: TIMEZONE }, () => {
      const firedAt = preciseNow();
      window().record(Math.floor(firedAt / 1000) * 1000, firedAt);
    }));
  }
  return () => crons.forEach((cron) => cron.stop());
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summarise(r: Result): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(r.lateness).sort();
  const list = Array.from(sorted);
  return { p50: percentile(list, 50), p99: percentile(list, 99), max: list.at(-1) ?? NaN };
}

function row(cells: Array<string | number>): string {
  const widths = [28, 16, 9, 9, 9, 10, 9];
  return cells
    .map((cell, i) => {
      const text = typeof cell === 'number' ? (Number.isFinite(cell) ? cell.toFixed(cell >= 100 ? 0 : 2) : '-') : cell;
      return i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
    })
    .join(' ');
}

async function main(): Promise<void> {
  console.log(`scheduler callback lateness: ${JOBS.toLocaleString('en')} jobs on "${PATTERN}" (${TIMEZONE}), ${WINDOW_MS / 1000} s window, Node ${process.version}`);
  const results = [await measure('watchbell Scheduler', ours), await measure('bare croner, timer per job', bareCroner)];
  const stats = results.map(summarise);
  console.log(row(['', 'fires/expected', 'p50 ms', 'p99 ms', 'max ms', 'heap MB', 'loop busy']));
  results.forEach((r, i) => console.log(row([r.name, `${r.fires}/${r.expected}`, stats[i]!.p50, stats[i]!.p99, stats[i]!.max, r.heapMb, `${(r.loopBusy * 100).toFixed(1)}%`])));
  const [a, b] = [stats[0]!, stats[1]!];
  console.log(row(['ratio croner / watchbell', '', b.p50 / a.p50, b.p99 / a.p99, b.max / a.max, results[1]!.heapMb / results[0]!.heapMb, results[1]!.loopBusy / results[0]!.loopBusy]));
  const [ourRun, croner] = [results[0]!, results[1]!];
  const fired = `${ourRun.fires}/${ourRun.expected} fired (croner ${croner.fires}/${croner.expected})`;
  printResult({
    bench: 'dispatch-lateness',
    figures: [
      { what: `scheduler callback lateness p99, ${JOBS} jobs on "${PATTERN}"`, value: a.p99, unit: 'ms', target: '< 25', pass: a.p99 < 25 && ourRun.fires === ourRun.expected,
        note: `p50 ${a.p50.toFixed(2)} ms, max ${a.max.toFixed(2)} ms; ${fired}; ${WINDOW_MS / 1000} s window` },
      { what: 'scheduler callback lateness: bare croner p99 / watchbell p99', value: b.p99 / a.p99, unit: 'ratio', target: '> 10', pass: b.p99 / a.p99 > 10,
        note: `bare croner (one Cron per job) p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, heap ${croner.heapMb.toFixed(0)} MB vs ours ${ourRun.heapMb.toFixed(1)} MB` },
    ],
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
