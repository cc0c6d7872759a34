/**
 * Dispatch measured at the process (issue 16 item 3): N jobs due at the same slot, each appending a high-resolution
 * timestamp (bash's $EPOCHREALTIME) to one file as its first act; the lateness of each start is stamp - slot.
 * The floor is a bare script spawning the same N processes at the same kind of slot (raw-spawn-at.ts), measured
 * the same way, in interleaved rounds (floor, watchbell, floor, watchbell, ...), so the ratio holds on a loaded
 * machine. Reports p50/p99/max start lateness for each N and the ratio of the medians of p99 to the floor's.
 * The scheduler's own callback lateness is dispatch-lateness.ts.
 *
 * The real daemon (bin/watchbell) runs the N jobs as one-shot jobs (an ISO-8601 instant as schedule) with
 * max_concurrency N, so none waits in the queue: what is measured is the daemon's own work per start.
 * With a second bin (a baseline build, see lean-start.ts) it is measured in the same rounds too.
 *
 *   npx tsc -p . && node dist/bench/dispatch-process.js [N,N,... default 500,2000] [rounds, default 3] [baseline bin]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, yamlConfig, type BenchJob } from './daemon-process.js';
import { median, percentile, printResult, type Figure } from './result-line.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SIZES = (process.argv[2] ?? '500,2000').split(',').map(Number);
const ROUNDS = Number(process.argv[3] ?? 3);
const BASELINE = process.argv[4];
const TARGET_500 = 1.5;

interface Lateness { p50: number; p99: number; max: number; count: number }

/** The job's command: one exec (bash), whose first act is to append its clock to the stamp file. */
function stampArgv(file: string): string[] {
  return ['/bin/bash', '-c', `echo $EPOCHREALTIME >> ${file}`];
}

/** Waits until `file` holds `n` stamps, then returns the lateness of each (ms after `slot`). */
async function stampsOf(file: string, n: number, slot: number, timeoutMs: number): Promise<Lateness> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? await readFile(file, 'utf8') : '';
    const lines = text.split('\n').filter(Boolean);
    if (lines.length >= n) {
      const late = lines.map((l) => Number(l) * 1000 - slot).sort((a, b) => a - b);
      return { p50: percentile(late, 50), p99: percentile(late, 99), max: late.at(-1)!, count: late.length };
    }
    if (Date.now() > deadline) throw new Error(`only ${lines.length} of ${n} processes started within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A whole second at least `aheadMs` from now. */
function slotAfter(aheadMs: number): number {
  return Math.ceil((Date.now() + aheadMs) / 1000) * 1000;
}

async function floorRound(n: number, dir: string): Promise<Lateness> {
  const file = join(dir, `raw-${n}-${Date.now()}.stamps`);
  const slot = slotAfter(1500);
  const child = spawn(process.execPath, [join(HERE, 'raw-spawn-at.js'), String(slot), String(n), JSON.stringify(stampArgv(file))], { stdio: 'inherit' });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const result = await stampsOf(file, n, slot, 120_000);
  if ((await exited) !== 0) throw new Error('raw-spawn-at failed');
  return result;
}

async function daemonRound(n: number, dir: string, bin: string | undefined): Promise<Lateness> {
  const file = join(dir, `daemon-${n}-${Date.now()}.stamps`);
  const command = JSON.stringify(stampArgv(file));
  const extra = `  max_concurrency: ${Math.max(8, n)}`;
  const jobsAt = (at: string): BenchJob[] => Array.from({ length: n }, (_, i) => ({ id: `stamp-${i}`, schedule: at, command }));
  // Started with the jobs far in the future, then given the slot by a reload once up: however long the start takes
  // on a loaded machine, the slot comes after it.
  const daemon = await startDaemon(jobsAt('2100-01-01T00:00:00Z'), { extraYaml: extra, ...(bin ? { bin } : {}) });
  try {
    const slot = slotAfter(1500 + n);
    await writeFile(daemon.configFile, yamlConfig(jobsAt(new Date(slot).toISOString()), extra));
    const reload = await fetch(`${daemon.url}/api/v1/config/reload`, { method: 'POST' });
    if (!reload.ok) throw new Error(`reload answered ${reload.status}: ${await reload.text()}`);
    if (Date.now() > slot - 200) throw new Error(`the reload of ${n} jobs ended less than 0.2 s before the slot; raise the lead time`);
    return await stampsOf(file, n, slot, 120_000);
  } finally {
    await daemon.stop();
  }
}

function show(what: string, l: Lateness): void {
  console.log(`  ${what.padEnd(24)} p50 ${l.p50.toFixed(0).padStart(6)} ms  p99 ${l.p99.toFixed(0).padStart(6)} ms  max ${l.max.toFixed(0).padStart(6)} ms`);
}

async function main(): Promise<void> {
  if (!existsSync('/bin/bash')) throw new Error('dispatch-process needs /bin/bash (its $EPOCHREALTIME stamps each start)');
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-dispatch-'));
  const figures: Figure[] = [];
  try {
    console.log(`dispatch at the process: ${SIZES.join(', ')} jobs due at one slot, ${ROUNDS} interleaved rounds, node ${process.version}`);
    for (const n of SIZES) {
      const floor: Lateness[] = [];
      const ours: Lateness[] = [];
      const before: Lateness[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        console.log(`${n} jobs, round ${r + 1}:`);
        floor.push(await floorRound(n, dir));
        show('raw spawn (floor)', floor.at(-1)!);
        ours.push(await daemonRound(n, dir, undefined));
        show('watchbell', ours.at(-1)!);
        if (BASELINE) {
          before.push(await daemonRound(n, dir, BASELINE));
          show('baseline', before.at(-1)!);
        }
      }
      const m = (ls: Lateness[], k: keyof Lateness) => median(ls.map((l) => l[k]));
      const ratio = m(ours, 'p99') / m(floor, 'p99');
      const baseline = BASELINE ? `; baseline p99 ${m(before, 'p99').toFixed(0)} ms (${(m(before, 'p99') / m(floor, 'p99')).toFixed(2)} x)` : '';
      console.log(`${n} jobs: p99 watchbell / raw spawn = ${ratio.toFixed(2)}${baseline}`);
      figures.push(
        { what: `process start lateness p99, ${n} jobs at one slot`, value: m(ours, 'p99'), unit: 'ms', target: 'report', pass: null,
          note: `p50 ${m(ours, 'p50').toFixed(0)} ms, max ${m(ours, 'max').toFixed(0)} ms; raw spawn floor p50 ${m(floor, 'p50').toFixed(0)} ms, p99 ${m(floor, 'p99').toFixed(0)} ms, max ${m(floor, 'max').toFixed(0)} ms; medians of ${ROUNDS} rounds` },
        { what: `process start lateness p99, ${n} jobs: watchbell / raw spawn`, value: ratio, unit: 'ratio',
          target: n === 500 ? `<= ${TARGET_500}` : 'report', pass: n === 500 ? ratio <= TARGET_500 : null,
          note: `rounds: ${ours.map((o, i) => (o.p99 / floor[i]!.p99).toFixed(2)).join(', ')}${baseline}` },
      );
    }
    printResult({ bench: 'dispatch-process', figures });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
