/** Black-box: execution logs over real HTTP, above all `follow=true` (live, chunked) and the 1 GiB memory bound. */
import { expect } from 'chai';
import { readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { get as httpGet, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { followLog } from '../../src/service/log-follow.js';
import { createLogWriter } from '../../src/store/log-file.js';
import { removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';

const MiB = 1024 * 1024;
const SHUTDOWN_NOTE = '[watchbell] the daemon is shutting down; follow ended before the execution did\n';

const JOBS = `
  ticker:
    schedule: "@yearly"
    command: 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.2; done'
  mixed:
    schedule: "@yearly"
    command: 'for i in 1 2 3 4 5; do echo "out $i"; echo "err $i" >&2; sleep 0.2; done'
  burst-then-late:
    schedule: "@yearly"
    command: 'seq 1 10; sleep 1; echo late'
  slow:
    schedule: "@yearly"
    concurrency: allow
    command: 'i=0; while [ $i -lt 300 ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done'
  flood:
    schedule: "@yearly"
    timeout: 60
    command: 'yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -c 1073741824'
`;

interface Piece {
  at: number;
  text: string;
}

/** A follow request read piece by piece, as the network delivers it. */
async function follow(d: DaemonProcess, path: string, signal?: AbortSignal): Promise<{ res: Response; pieces: Piece[]; text: string }> {
  const res = await fetch(d.url + path, { signal });
  const pieces: Piece[] = [];
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pieces.push({ at: Date.now(), text: decoder.decode(value, { stream: true }) });
  }
  return { res, pieces, text: pieces.map((p) => p.text).join('') };
}

async function run(d: DaemonProcess, job: string): Promise<string> {
  const res = await d.api('POST', `/api/v1/jobs/${job}/run`);
  expect(res.status, res.text).to.equal(202);
  return res.body.data.execution_id as string;
}

const logRoute = (job: string, eid: string, query = '') => `/api/v1/jobs/${job}/executions/${eid}/log${query}`;

/** Polls the plain log until it holds `needle` (the job writes it; no fixed sleep). */
async function untilLogHas(d: DaemonProcess, job: string, eid: string, needle: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if ((await d.api('GET', logRoute(job, eid))).text.includes(needle)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`log of ${eid} never held ${JSON.stringify(needle)}`);
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return path;
    if (entry.isDirectory()) {
      const found = await findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** Sockets a process holds open (its listener, and one per client connection). */
async function socketsOf(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith('socket:')) n++;
  }
  return n;
}

/** Peak resident set size of a process, from /proc (Linux). */
async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

describe('execution logs (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess;

  before(async function () {
    const dir = await tempDir();
    // A short shutdown_grace keeps the shutdown test quick.
    await writeFile(
      join(dir, 'watchbell.yaml'),
      `version: 1\ndaemon:\n  listen: 127.0.0.1:0\n  data_dir: ./data\n  shutdown_grace: 1s\n  kill_grace: 1s\njobs:\n${JOBS}`,
    );
    d = await startDaemon({ dir });
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it('follows a running execution: pieces arrive while it runs, and the response ends with the whole log', async function () {
    const eid = await run(d, 'ticker');
    const started = Date.now();
    const { res, pieces, text } = await follow(d, logRoute('ticker', eid, '?follow=true'));
    const ended = Date.now();
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
    expect(res.headers.get('transfer-encoding')).to.equal('chunked');
    expect(text).to.equal('line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n');

    const execution = (await d.api('GET', `/api/v1/jobs/ticker/executions/${eid}`)).body.data;
    expect(execution.status).to.equal('success');
    const finishedAt = Date.parse(execution.finished_at);
    const early = pieces.filter((p) => p.at < finishedAt && p.text.length > 0);
    expect(early.length, `pieces at +${pieces.map((p) => p.at - started).join(', +')} ms; finished at +${finishedAt - started} ms`).to.be.at.least(2);
    // It ended by itself, soon after the execution did (one poll, plus the time to record the end).
    expect(ended - finishedAt).to.be.below(1000);
    expect(await d.api('GET', logRoute('ticker', eid))).to.have.property('text', text);
  });

  it('follows one stream: stream=stderr has only stderr, stream=stdout only stdout', async function () {
    const eid = await run(d, 'mixed');
    const [err, out] = await Promise.all([
      follow(d, logRoute('mixed', eid, '?follow=true&stream=stderr')),
      follow(d, logRoute('mixed', eid, '?stream=stdout&follow=true')),
    ]);
    expect(err.res.status).to.equal(200);
    expect(err.text).to.equal('err 1\nerr 2\nerr 3\nerr 4\nerr 5\n');
    expect(out.text).to.equal('out 1\nout 2\nout 3\nout 4\nout 5\n');
    expect(err.pieces.filter((p) => p.text).length).to.be.at.least(2);
  });

  it('starts from the last N lines with tail=N, then follows (tail -n N -f)', async function () {
    const eid = await run(d, 'burst-then-late');
    await untilLogHas(d, 'burst-then-late', eid, '10\n');
    const { text, pieces } = await follow(d, logRoute('burst-then-late', eid, '?follow=true&tail=3'));
    expect(text).to.equal('8\n9\n10\nlate\n');
    expect(pieces[0]!.text).to.equal('8\n9\n10\n');

    const eid2 = await run(d, 'burst-then-late');
    await untilLogHas(d, 'burst-then-late', eid2, '10\n');
    expect((await follow(d, logRoute('burst-then-late', eid2, '?follow=true&tail=0'))).text).to.equal('late\n');
  });

  it('answers a finished execution with follow=true exactly as without it', async function () {
    const eid = await run(d, 'mixed');
    await d.finished(eid);
    for (const query of ['', '?stream=stderr', '?tail=2', '?stream=stdout&tail=1']) {
      const plain = await d.api('GET', logRoute('mixed', eid, query));
      const followed = await d.api('GET', logRoute('mixed', eid, `${query ? `${query}&` : '?'}follow=true`));
      expect(followed.status).to.equal(200);
      expect(followed.text, query).to.equal(plain.text);
      expect(followed.headers.get('content-length'), query).to.equal(plain.headers.get('content-length'));
      expect(followed.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
    }
    expect((await d.api('GET', logRoute('mixed', eid, '?follow=false'))).text).to.include('out 1\nerr 1\n');
  });

  it('answers bad follow queries with 400 and an unknown execution with 404', async function () {
    const eid = await run(d, 'mixed');
    for (const [query, param] of [
      ['?follow=yes', 'follow'],
      ['?follow=1', 'follow'],
      ['?follow=true&follow=false', 'follow'],
      ['?follow=true&stream=both', 'stream'],
      ['?follow=true&tail=-1', 'tail'],
      ['?follow=true&tail=lots', 'tail'],
    ] as const) {
      const res = await d.api('GET', logRoute('mixed', eid, query));
      expect(res.status, query).to.equal(400);
      expect(res.body.error.code).to.equal('VALIDATION_FAILED');
      expect(res.body.error.details[0].path).to.equal(`/query/${param}`);
    }
    const missing = await d.api('GET', logRoute('mixed', 'exec-00000000000000000000', '?follow=true'));
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('EXECUTION_NOT_FOUND');
    await d.finished(eid);
  });

  it('survives clients that disconnect mid-follow, and lets go of their connections', async function () {
    const eid = await run(d, 'slow');
    await untilLogHas(d, 'slow', eid, 'tick 0\n');
    const baseline = await socketsOf(d.proc.pid!);
    // Ten followers that each read a first piece, then drop the connection.
    const clients = await Promise.all(
      Array.from({ length: 10 }, () =>
        new Promise<{ first: string; req: ClientRequest }>((resolve, reject) => {
          const req = httpGet(d.url + logRoute('slow', eid, '?follow=true'), { agent: false }, (res) => {
            res.once('data', (chunk: Buffer) => resolve({ first: chunk.toString(), req }));
          });
          req.once('error', reject);
        }),
      ),
    );
    for (const { first } of clients) expect(first).to.match(/^tick 0\n/);
    expect(await socketsOf(d.proc.pid!)).to.be.at.least(baseline + 10);
    for (const { req } of clients) req.destroy();
    const deadline = Date.now() + 3000;
    while ((await socketsOf(d.proc.pid!)) > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await socketsOf(d.proc.pid!)).to.be.at.most(baseline);

    expect((await d.api('GET', '/health')).status).to.equal(200);
    // A client leaving is not an error worth a log line.
    expect(d.lines.filter((l) => l.event === 'api.error')).to.deep.equal([]);
    // Following again still works, and other requests are answered while it runs.
    const again = (await fetch(d.url + logRoute('slow', eid, '?follow=true&tail=1'))).body!.getReader();
    const decoder = new TextDecoder();
    expect(decoder.decode((await again.read()).value, { stream: true })).to.match(/^tick \d+\n$/);
    expect((await d.api('GET', `/api/v1/jobs/slow/executions/${eid}`)).body.data.status).to.equal('in_progress');
    const cancel = await d.api('POST', `/api/v1/jobs/slow/executions/${eid}/cancel`);
    expect(cancel.status).to.equal(202);
    let rest = '';
    for (let piece = await again.read(); !piece.done; piece = await again.read()) rest += decoder.decode(piece.value, { stream: true });
    expect(rest).to.include('cancelled');
  });

  it('keeps a 1 GiB output at max_output on disk, says so at the end, and the daemon under 200 MiB of RSS', async function () {
    const pid = d.proc.pid!;
    const before = await peakRssBytes(pid);
    const started = Date.now();
    const eid = await run(d, 'flood');
    // A follower too, to show following a flood costs no more than the log it reads.
    const followed = follow(d, logRoute('flood', eid, '?follow=true&tail=1'));
    const finished = await d.finished(eid, 55_000);
    const seconds = (Date.now() - started) / 1000;
    const peak = await peakRssBytes(pid);
    expect(finished.status).to.equal('success');

    const file = await findFile(d.dataDir, `${eid}.log`);
    expect(file, 'log file').to.be.a('string');
    const size = (await stat(file!)).size;
    const tail = (await d.api('GET', logRoute('flood', eid, '?tail=2'))).text;
    const lines = tail.split('\n');
    const followedText = (await followed).text;
    // Reported in the test output, for the issue's numbers.
    console.log(`      1 GiB job: ${seconds.toFixed(1)} s; log ${size} bytes; daemon peak RSS ${(before / MiB).toFixed(1)} -> ${(peak / MiB).toFixed(1)} MiB`);

    expect(size).to.be.at.most(10 * MiB + 512);
    expect(size).to.be.at.least(10 * MiB);
    expect(lines[lines.length - 1]).to.equal('');
    expect(lines[lines.length - 2]).to.match(/^\[watchbell\] \d+ bytes of output dropped$/);
    expect(Number(/(\d+) bytes/.exec(lines[lines.length - 2]!)![1])).to.equal(1024 * MiB - 10 * MiB);
    expect(tail).to.include('[watchbell] output truncated: max_output 10485760 bytes reached');
    expect(followedText.endsWith(`${lines[lines.length - 2]}\n`)).to.equal(true);
    expect(peak).to.be.below(200 * MiB);
  });

  it('ends a follow cleanly when the daemon shuts down, and the daemon exits 0', async function () {
    const eid = await run(d, 'slow');
    await untilLogHas(d, 'slow', eid, 'tick 1\n');
    const following = follow(d, logRoute('slow', eid, '?follow=true'));
    await untilLogHas(d, 'slow', eid, 'tick 3\n');
    const stopAt = Date.now();
    const exit = d.stop();
    const { text } = await following;
    expect(Date.now() - stopAt).to.be.below(2000);
    expect(text).to.match(/^tick 0\ntick 1\n/);
    expect(text.endsWith(SHUTDOWN_NOTE)).to.equal(true);
    expect((await exit).code).to.equal(0);
  });
});

/** Descriptors of this process open on `path`. */
async function openOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  }
  return n;
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('followLog (in-process)', function () {
  let dir: string;
  let path: string;

  beforeEach(async function () {
    dir = await tempDir('watchbell-follow-');
    path = join(dir, 'logs', 'exec-0000000000000000test.log');
  });

  afterEach(async function () {
    await removeDir(dir);
  });

  it('stops at once when aborted, leaving no timer and no file open', async function () {
    const log = createLogWriter(path, { maxBytes: 1 << 20 });
    log.write('stdout', 'one\n');
    await log.close();
    const before = timers();
    const gone = new AbortController();
    // Never ends by itself: as if the execution ran on.
    const pieces = followLog({ path, ended: new Promise(() => {}), isEnded: () => false, signal: gone.signal, pollMs: 60_000 });
    expect(await pieces.next()).to.deep.equal({ value: Buffer.from('one\n'), done: false });
    const waiting = pieces.next();
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    gone.abort();
    expect(await waiting).to.deep.equal({ value: undefined, done: true });
    expect(Date.now() - t0).to.be.below(100);
    expect(timers()).to.equal(before);
    expect(await openOn(path)).to.equal(0);
  });

  it('ends as soon as the execution ends, with what was written last, without waiting for the next poll', async function () {
    const log = createLogWriter(path, { maxBytes: 1 << 20 });
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const euro = Buffer.from('€');
    log.write('stdout', Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
    // The writer opens and writes asynchronously: wait until the bytes are on disk.
    while ((await stat(path).catch(() => ({ size: 0 }))).size < 2) await new Promise((r) => setTimeout(r, 5));
    const pieces = followLog({ path, ended, isEnded: () => false, signal: new AbortController().signal, pollMs: 60_000 });
    // Bytes pass through as written, half a character included.
    expect(await pieces.next()).to.deep.equal({ value: Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]), done: false });
    const next = pieces.next();
    log.write('stdout', Buffer.concat([euro.subarray(1), Buffer.from(' b\n')]));
    await log.close();
    const t0 = Date.now();
    end();
    expect(await next).to.deep.equal({ value: Buffer.concat([euro.subarray(1), Buffer.from(' b\n')]), done: false });
    expect(await pieces.next()).to.deep.equal({ value: undefined, done: true });
    expect(Date.now() - t0).to.be.below(200);
  });

  it('relies on isEnded when the runner does not know the execution (its promise rejects)', async function () {
    const log = createLogWriter(path, { maxBytes: 1 << 20 });
    log.write('stderr', 'only\n');
    await log.close();
    let ended = false;
    const pieces: string[] = [];
    const following = (async () => {
      const gen = followLog({ path, stream: 'stderr', ended: Promise.reject(new Error('unknown')), isEnded: () => ended, signal: new AbortController().signal, pollMs: 10 });
      for await (const piece of gen) pieces.push(piece.toString());
    })();
    await new Promise((r) => setTimeout(r, 30));
    ended = true;
    await following;
    expect(pieces).to.deep.equal(['only\n']);
  });
});
