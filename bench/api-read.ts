/**
 * API read: `GET /api/v1/jobs/{id}` under autocannon (loopback, 50 connections) against the real daemon
 * process, and in the same run against a bare Koa app serving the same JSON body (fetched once from the
 * daemon). Target: watchbell >= 70% of bare Koa's requests/s. The bare app runs in a child process of
 * its own, like the daemon, so autocannon (in this process) does not share its event loop with either.
 *
 *   npx tsc -p . && node dist/bench/api-read.js [seconds, default 10] [connections, default 50]
 */
import { fork, type ChildProcess } from 'node:child_process';
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

async function load(name: string, url: string): Promise<number> {
  // A short warm-up so both servers are JIT-compiled before the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: 1 });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
  const bad = r.errors + r.timeouts + r.non2xx;
  console.log(`${name.padEnd(24)} ${r.requests.average.toFixed(0).padStart(8)} req/s  latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms  (${r.requests.total} requests, ${bad} errors/non-2xx)`);
  if (bad > 0) throw new Error(`${name}: ${bad} errors or non-2xx answers`);
  return r.requests.average;
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
    const koa1 = await load('bare Koa', `${started.url}/api/v1/jobs/backup-database`);
    const ours = await load('watchbell daemon', jobUrl);
    const koa2 = await load('bare Koa (again)', `${started.url}/api/v1/jobs/backup-database`);
    const floor = (koa1 + koa2) / 2;
    const ratio = ours / floor;
    console.log(`watchbell / bare Koa   ${ratio.toFixed(2)} (target >= ${TARGET}) ${ratio >= TARGET ? 'OK' : 'MISS'}`);
    printResult({
      bench: 'api-read',
      figures: [
        { what: 'API read: watchbell / bare Koa req/s', value: ratio, unit: 'ratio', target: `>= ${TARGET}`, pass: ratio >= TARGET,
          note: `watchbell ${ours.toFixed(0)} req/s, bare Koa ${floor.toFixed(0)} req/s (${koa1.toFixed(0)}, ${koa2.toFixed(0)}); ${CONNECTIONS} conns, ${SECONDS} s` },
      ],
    });
  } finally {
    bare?.disconnect();
    await daemon.stop();
  }
}

if (process.argv.includes('--bare-koa')) serveBare();
else await main();
