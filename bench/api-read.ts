/**
 * API read: `GET /api/v1/jobs/{id}` under autocannon (loopback, 50 connections) against the real daemon
 * process, and in the same run against a bare Koa app serving the same JSON body (fetched once from the
 * daemon). Target: watchbell >= 70% of bare Koa's requests/s. The bare app runs in a child process of
 * its own, like the daemon, so autocannon (in this process) does not share its event loop with either.
 *
 *   npx tsc -p . && node dist/bench/api-read.js [seconds, default 10] [connections, default 50] [rounds, default 5]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Koa from 'koa';
import { startDaemon } from './daemon-process.js';
import { median, printResult } from './result-line.js';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = Number(process.argv[3] ?? 50);
const ROUNDS = Number(process.argv[4] ?? 5);
const TARGET = 0.7;

/** Child mode: serve `body` on 127.0.0.1:0 from a bare Koa app, report the port, exit on disconnect. */
function serveBare(): void {
  process.once('message', (body: string) => {
    const app = new Koa();
    app.use((ctx) => {
      ctx.type = 'application/json';
      ctx.body = body;
    });
    const server = app.listen(0, '127.0.0.1', () => {
      const address = server.address();
      process.send!(typeof address === 'object' && address ? address.port : 0);
    });
    process.once('disconnect', () => server.close(() => process.exit(0)));
  });
}

async function startBare(body: string): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['--bare-koa'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((done, fail) => {
    child.once('message', (p) => done(p as number));
    child.once('exit', (code) => fail(new Error(`bare Koa exited with ${code}`)));
    child.send(body);
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

interface Load { rate: number; cpuUsPerRequest: number }

/** req/s under autocannon, and the server's CPU time per request (steadier than req/s on a shared machine). */
async function load(name: string, url: string, pid: number): Promise<Load> {
  // A short warm-up so both servers are JIT-compiled before the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: 1 });
  const cpu0 = await cpuSeconds(pid);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
  const cpuUsPerRequest = ((await cpuSeconds(pid)) - cpu0) * 1e6 / r.requests.total;
  const bad = r.errors + r.timeouts + r.non2xx;
  console.log(`${name.padEnd(24)} ${r.requests.average.toFixed(0).padStart(8)} req/s  latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms  server CPU ${cpuUsPerRequest.toFixed(0)} us/request  (${r.requests.total} requests, ${bad} errors/non-2xx)`);
  if (bad > 0) throw new Error(`${name}: ${bad} errors or non-2xx answers`);
  return { rate: r.requests.average, cpuUsPerRequest };
}

async function main(): Promise<void> {
  const daemon = await startDaemon([{ id: 'backup-database', schedule: '0 0 * * *', command: '["true"]' }]);
  let bare: ChildProcess | undefined;
  try {
    const jobUrl = `${daemon.url}/api/v1/jobs/backup-database`;
    const res = await fetch(jobUrl);
    const body = await res.text();
    if (!res.ok) throw new Error(`GET ${jobUrl} answered ${res.status}: ${body}`);
    const started = await startBare(body);
    bare = started.child;
    console.log(`API read: GET /api/v1/jobs/{id} (${body.length} bytes), ${CONNECTIONS} connections, ${SECONDS} s each, ${ROUNDS} rounds, node ${process.version}`);
    // Bare, watchbell, bare, watchbell, ..., bare: each watchbell run is compared with the mean of the bare
    // runs just before and after it, so a drift in the machine's load favours neither side, and the median
    // of the rounds' ratios is reported, so one disturbed run does not decide the figure.
    const bareUrl = `${started.url}/api/v1/jobs/backup-database`;
    const bareRuns = [await load('bare Koa', bareUrl, started.child.pid!)];
    const ourRuns: Load[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ourRuns.push(await load('watchbell daemon', jobUrl, daemon.pid));
      bareRuns.push(await load('bare Koa', bareUrl, started.child.pid!));
    }
    const rateRatios = ourRuns.map((mine, i) => mine.rate / ((bareRuns[i]!.rate + bareRuns[i + 1]!.rate) / 2));
    const cpuRatios = ourRuns.map((mine, i) => (bareRuns[i]!.cpuUsPerRequest + bareRuns[i + 1]!.cpuUsPerRequest) / 2 / mine.cpuUsPerRequest);
    const ratio = median(rateRatios);
    const cpuRatio = median(cpuRatios);
    const shown = (xs: number[], digits: number) => xs.map((x) => x.toFixed(digits)).join(', ');
    console.log(`watchbell / bare Koa   ${ratio.toFixed(2)} (target >= ${TARGET}) ${ratio >= TARGET ? 'OK' : 'MISS'}; rounds ${shown(rateRatios, 2)}; by server CPU per request ${cpuRatio.toFixed(2)}`);
    printResult({
      bench: 'api-read',
      figures: [
        { what: 'API read: watchbell / bare Koa req/s', value: ratio, unit: 'ratio', target: `>= ${TARGET}`, pass: ratio >= TARGET,
          note: `median of ${ROUNDS} rounds (${shown(rateRatios, 2)}); watchbell ${shown(ourRuns.map((r) => r.rate), 0)} req/s, bare Koa ${shown(bareRuns.map((r) => r.rate), 0)} req/s; ${CONNECTIONS} conns, ${SECONDS} s each` },
        { what: 'API read: bare Koa / watchbell server CPU per request', value: cpuRatio, unit: 'ratio', target: 'report', pass: null,
          note: `median of ${ROUNDS} rounds (${shown(cpuRatios, 2)}); watchbell ${shown(ourRuns.map((r) => r.cpuUsPerRequest), 0)} us, bare Koa ${shown(bareRuns.map((r) => r.cpuUsPerRequest), 0)} us of server CPU per request: the same comparison, less moved by other load on the machine` },
      ],
    });
  } finally {
    bare?.disconnect();
    await daemon.stop();
  }
}

if (process.argv.includes('--bare-koa')) serveBare();
else await main();
