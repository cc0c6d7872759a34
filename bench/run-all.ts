/**
 * `npm run bench`: runs every bench as a child process of its own (so one's heap and timers do not
 * distort another's), each within a time bound, collects the `RESULT {...}` line each prints last,
 * prints one table of figures with their targets and pass/miss, and writes bench/results.json with
 * the machine it ran on. Exit code 1 when a bench failed or a figure missed its target.
 *
 *   npx tsc -p . && node dist/bench/run-all.js [name ...]   (names filter, e.g. `api-read store-growth`)
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem, type as osType, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX, type BenchResult, type Figure } from './result-line.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_FILE = resolve(HERE, '../../bench/results.json');

interface BenchSpec {
  name: string;
  args: string[];
  /** Killed (SIGTERM to its process group, SIGKILL 10 s later) past this. */
  timeoutS: number;
}

/** Sized to run in about 12 minutes on 2 cores; the docs say what each one scaled down. */
const BENCHES: BenchSpec[] = [
  { name: 'lean-start', args: ['7'], timeoutS: 240 },
  { name: 'store-growth', args: [], timeoutS: 120 },
  { name: 'run-throughput', args: ['3'], timeoutS: 60 },
  { name: 'pg-store', args: ['3'], timeoutS: 300 },
  { name: 'dispatch-lateness', args: [], timeoutS: 90 },
  { name: 'dispatch-process', args: ['500,2000', '3'], timeoutS: 600 },
  { name: 'api-read', args: ['10', '50', '5'], timeoutS: 200 },
  { name: 'api-scale', args: ['100000', '200'], timeoutS: 300 },
  { name: 'api-storm', args: ['10000', '10'], timeoutS: 150 },
  { name: 'memory-soak', args: ['20000'], timeoutS: 420 },
];

interface Outcome {
  bench: string;
  seconds: number;
  exit: string;
  figures: Figure[];
  error?: string;
}

function runBench(spec: BenchSpec): Promise<Outcome> {
  return new Promise((done) => {
    const started = performance.now();
    // Own process group, so a timeout also stops the daemons a bench started (they stop gracefully on SIGTERM).
    const child = spawn(process.execPath, [join(HERE, `${spec.name}.js`), ...spec.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let result: BenchResult | undefined;
    let stderrTail = '';
    let timedOut = false;
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchResult;
        else console.log(`  ${line}`);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString()).slice(-2000);
    });
    const killGroup = (signal: NodeJS.Signals) => { try { process.kill(-child.pid!, signal); } catch { /* already gone */ } };
    let force: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      force = setTimeout(() => killGroup('SIGKILL'), 10_000);
    }, spec.timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(force);
      const seconds = (performance.now() - started) / 1000;
      const exit = timedOut ? `timed out after ${spec.timeoutS} s` : signal ? `signal ${signal}` : `exit ${code}`;
      const error = result ? undefined : `no RESULT line (${exit})${stderrTail ? `: ${stderrTail.trim().split('\n').at(-1)}` : ''}`;
      done({ bench: spec.name, seconds, exit, figures: result?.figures ?? [], ...(error ? { error } : {}) });
    });
  });
}

function formatValue(f: Figure): string {
  const digits = f.unit === 'ratio' ? 2 : f.value >= 100 ? 0 : 2;
  return `${f.value.toFixed(digits)}${f.unit === 'ratio' ? '' : ` ${f.unit}`}`;
}

function table(outcomes: Outcome[]): string {
  const rows: string[][] = [['figure', 'value', 'target', 'result']];
  for (const o of outcomes) {
    if (o.error) rows.push([`${o.bench}: FAILED`, '-', '-', o.error]);
    for (const f of o.figures) rows.push([f.what, formatValue(f), f.target, f.pass === null ? 'report' : f.pass ? 'pass' : 'MISS']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r, n) => {
    const text = r.map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
    return n === 0 ? `${text}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : text;
  }).join('\n');
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const specs = only.length ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    total_memory_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
    os: `${osType()} ${release()}`,
    node: process.version,
    load_average_at_start: loadavg().map((l) => Number(l.toFixed(2))),
    date: new Date().toISOString(),
  };
  console.log(`watchbell benchmarks on ${machine.cpus} x ${machine.cpu}, ${machine.total_memory_gib} GiB, node ${machine.node}, load ${machine.load_average_at_start.join(' ')}`);
  const outcomes: Outcome[] = [];
  for (const spec of specs) {
    console.log(`\n== ${spec.name} ${spec.args.join(' ')} (bound ${spec.timeoutS} s)`);
    const outcome = await runBench(spec);
    console.log(`== ${spec.name}: ${outcome.exit} in ${outcome.seconds.toFixed(1)} s`);
    outcomes.push(outcome);
  }
  console.log(`\n${table(outcomes)}`);
  await writeFile(RESULTS_FILE, JSON.stringify({ machine, benches: outcomes }, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_FILE}`);
  const missed = outcomes.some((o) => o.error || o.figures.some((f) => f.pass === false));
  if (missed) process.exitCode = 1;
}

await main();
