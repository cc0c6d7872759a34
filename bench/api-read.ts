/**
 * API read: `GET /api/v1/jobs/{id}` under autocannon (loopback, 50 connections) against the real daemon
 * process, and in the same run against a bare Koa app serving the same JSON body (fetched once from the
 * daemon). Target: watchbell >= 70% of bare Koa's requests/s. The bare app runs in a child process of
 * its own, like the daemon, so autocannon (in this process) does not share its event loop with either.
 *
 *   npx tsc -p . && node dist/bench/api-read.js [seconds, default 10] [connections, default 50]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Koa from 'koa';
import { startDaemon } from './daemon-process.js';
import { printResult } from './result-line.js';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = Number(process.argv[3] ?? 50);
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
    console.log(`API read: GET /api/v1/jobs/{id} (${body.length} bytes), ${CONNECTIONS} connections, ${SECONDS} s each, node ${process.version}`);
    // Bare first, then watchbell, then bare again: the floor is the mean of the two, so a drift in
    // the machine's load during the run does not favour either side.
    const bareUrl = `${started.url}/api/v1/jobs/backup-database`;
    const koa1 = await load('bare Koa', bareUrl, started.child.pid!);
    const mine = await load('watchbell daemon', jobUrl, daemon.pid);
    const koa2 = await load('bare Koa (again)', bareUrl, started.child.pid!);
    const floor = (koa1.rate + koa2.rate) / 2;
    const ours = mine.rate;
    const ratio = ours / floor;
    const cpuRatio = (koa1.cpuUsPerRequest + koa2.cpuUsPerRequest) / 2 / mine.cpuUsPerRequest;
    console.log(`watchbell / bare Koa   ${ratio.toFixed(2)} (target >= ${TARGET}) ${ratio >= TARGET ? 'OK' : 'MISS'}; by server CPU per request ${cpuRatio.toFixed(2)}`);
    printResult({
      bench: 'api-read',
      figures: [
        { what: 'API read: watchbell / bare Koa req/s', value: ratio, unit: 'ratio', target: `>= ${TARGET}`, pass: ratio >= TARGET,
          note: `watchbell ${ours.toFixed(0)} req/s, bare Koa ${floor.toFixed(0)} req/s (${koa1.rate.toFixed(0)}, ${koa2.rate.toFixed(0)}); ${CONNECTIONS} conns, ${SECONDS} s` },
        { what: 'API read: bare Koa / watchbell server CPU per request', value: cpuRatio, unit: 'ratio', target: 'report', pass: null,
          note: `watchbell ${mine.cpuUsPerRequest.toFixed(0)} us, bare Koa ${koa1.cpuUsPerRequest.toFixed(0)} / ${koa2.cpuUsPerRequest.toFixed(0)} us of server CPU per request: the same comparison, less moved by other load on the machine` },
      ],
    });
  } finally {
    bare?.disconnect();
    await daemon.stop();
  }
}

if (process.argv.includes('--bare-koa')) serveBare();
else await main();
