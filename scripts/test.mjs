// `npm test`: the suite in two phases, so that it stays within CI's 15 minutes on 2 cores as it grows.
//  1. Most test files run side by side (mocha --parallel: each file in a worker process of its own). The
//     tests were written for that: each makes its own port, data dir, database and temp files. Most of
//     their time is spent waiting on daemons, child processes and the container engine, not on the CPU.
//  2. The files in SERIAL then run one at a time, alone: they load the machine on purpose (hundreds of
//     processes, kill -9 storms, thousands of requests) and assert that the daemon stays on time under
//     that load, which holds only when no other test adds its own.
// Arguments are passed to both phases' mocha (e.g. `npm test -- --bail`). Ends with mocha's summary lines
// for the whole run ("N passing", "N failing"), which .ci/run reads. The files are named here, not in
// .mocharc.json, because mocha adds a config's spec to the files given on its command line: with none
// there, `npx mocha dist/test/x.test.js` runs just that file.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * The longest files of phase 1, longest first: mocha hands files to its workers in the order given, so these
 * start at once and the short ones fill the gaps, instead of a 4-minute image build starting last.
 */
const LONG_FIRST = [
  'dist/test/image/image.test.js', // builds the Dockerfile with podman: ~3.5 min
  'dist/test/store/api-on-postgres.test.js',
  'dist/test/cli/cli.test.js',
  'dist/test/cluster/work-spread.test.js',
  'dist/test/cluster/exactly-once.test.js',
  'dist/test/steps/flow.test.js',
  'dist/test/cluster/takeover.test.js',
  'dist/test/cluster/paused-node.test.js',
  'dist/test/api/logs.test.js',
  'dist/test/daemon/lifecycle.test.js',
  'dist/test/store/pg-store.test.js',
];

/** Test files (compiled, relative to the project) that must run alone; why beside each. */
const SERIAL = [
  'dist/test/api/body-stall.test.js', // /health latency while four clients send the costliest bodies
  'dist/test/api/fuzz.test.js', // 15,000 requests at 12 in flight: loads the machine for ~40 s
  'dist/test/daemon/crash.test.js', // kill -9 at random moments; a number of kills must fit in a time
  'dist/test/faults/file-descriptors.test.js', // a per-second job on time while connections are refused
  'dist/test/faults/mass-timeout.test.js', // 300 process groups stopped within a bound
  'dist/test/faults/clock-step.test.js', // libfaketime steps; slots judged against wall time
  'dist/test/faults/sigstop.test.js', // a stopped daemon's catch-up timing
];

/** Workers for phase 1: the tests mostly wait, so one more than the cores keeps both busy. */
const JOBS = Number(process.env.WATCHBELL_TEST_JOBS ?? availableParallelism() + 1);

const extra = process.argv.slice(2);
const started = Date.now();
const totals = { passing: 0, failing: 0, pending: 0 };
let status = 0;

const files = testFiles('dist/test').filter((f) => !SERIAL.includes(f));
const ordered = [...LONG_FIRST.filter((f) => files.includes(f)), ...files.filter((f) => !LONG_FIRST.includes(f))];
const parallel = ['--parallel', '--jobs', String(JOBS), ...extra, ...ordered];
status ||= await mocha(parallel);
const serial = await mocha([...extra, ...SERIAL]);
status ||= serial;

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n  all phases (${minutes} min, ${JOBS} workers in phase 1):`);
console.log(`  ${totals.passing} passing`);
if (totals.pending) console.log(`  ${totals.pending} pending`);
console.log(`  ${totals.failing} failing`);
process.exit(status || (totals.failing ? 1 : 0));

/** The `*.test.js` files under `dir`, sorted. */
function testFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => join(dir, f))
    .sort();
}

/** Runs mocha with `args`, echoing its output and adding its summary to `totals`; resolves to its exit status. */
function mocha(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['node_modules/mocha/bin/mocha.js', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString();
    });
    child.on('close', (code, signal) => {
      // Mocha's summary is the first "N passing (time)" line at the top level; failure details come after it
      // and may quote other mocha output (a test that runs mocha), so only the lines right after it count.
      const summary = /^ {2}(\d+) passing \(.*\)\n(?: {2}(\d+) pending\n)?(?: {2}(\d+) failing\n)?/m.exec(output);
      if (summary) {
        totals.passing += Number(summary[1]);
        totals.pending += Number(summary[2] ?? 0);
        totals.failing += Number(summary[3] ?? 0);
      } else if (code !== 0) totals.failing += 1; // mocha died before its summary
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
