/**
 * Fault: many log readers (issue 13 item 4, issue 20 item 3). 100 followers of a growing 10 MB log of binary output
 * (20 of them never read) keep the daemon's peak RSS (VmHWM) within FOLLOW_HWM_BOUND of what it was before, and the
 * 80 that read get the log byte for byte. A 300 MB log read with `?stream=` keeps /health answering within
 * HEALTH_BOUND_MS. A log file lost from the data dir reads as 404 LOG_MISSING, not as an empty log.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const MiB = 1024 * 1024;
/**
 * Peak RSS the 100 followers may add. Measured on a loaded 2-core machine: +30 to +32 MiB (+16 MiB with one
 * follower: the job's own output passing through the daemon); each follower reads into one 64 KiB buffer of
 * its own. Before the fix, 60 followers added ~876 MiB.
 */
const FOLLOW_HWM_BOUND = 64 * MiB;
/** Slowest /health answer while 300 MB are read with ?stream= (measured: 60-120 ms on a loaded machine). */
const HEALTH_BOUND_MS = 500;
/** Peak RSS the 300 MB read may add (measured: 1-2 MiB). */
const STREAM_HWM_BOUND = 64 * MiB;

/** Where the store keeps an execution's log (store/lowdb-store.ts). */
function logFile(d: DaemonProcess, job: string, eid: string): string {
  return join(d.dataDir, 'jobs', job, 'logs', `${eid}.log`);
}

/** VmHWM (peak resident set) of a process, in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** Resets VmHWM to the current RSS (Linux >= 4.0), so a peak measured later is this test's own. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** GET a path; resolves with the response as soon as its headers arrive. */
function get(url: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => request(url + path, resolve).on('error', reject).end());
}

/** Reads a response to its end: sha256 and byte count. */
async function digest(res: IncomingMessage): Promise<{ sha: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha: hash.digest('hex'), bytes };
}

describe('faults: many and large log reads', function () {
  this.timeout(180_000);
  let d: DaemonProcess | undefined;
  const open: IncomingMessage[] = [];

  afterEach(async function () {
    for (const r of open.splice(0)) r.destroy();
    if (d) {
      await d.stop();
      await removeDir(d.dir);
      d = undefined;
    }
  });

  it('100 followers of a growing 10 MB binary log: VmHWM bounded, bytes exact', async function () {
    // 10 MiB of random bytes in 100 pieces over ~5 s.
    const command = 'for i in $(seq 1 100); do head -c 104857 /dev/urandom; sleep 0.05; done';
    d = await startDaemon({ config: configText(`  grow:\n    schedule: "@yearly"\n    command: "${command}"\n    max_output: 20000000\n`) });
    const pid = d.proc.pid!;
    const run = await d.api('POST', '/api/v1/jobs/grow/run');
    expect(run.status, run.text).to.equal(202);
    const eid = String(run.body.data.execution_id);
    const path = `/api/v1/jobs/grow/executions/${eid}/log?follow=true`;
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    await resetPeak(pid);
    const before = await peakRss(pid);

    const responses = await Promise.all(Array.from({ length: 100 }, () => get(d!.url, path)));
    open.push(...responses);
    for (const r of responses) expect(r.statusCode).to.equal(200);
    // 20 never read: paused, their sockets fill and the daemon must wait, not buffer.
    for (const r of responses.slice(80)) r.pause();
    const read = await Promise.all(responses.slice(0, 80).map(digest));
    await d.finished(eid, 30_000);
    const peak = await peakRss(pid);

    const onDisk = await readFile(logFile(d, 'grow', eid));
    expect(onDisk.length).to.be.at.least(10 * 1000 * 1000);
    const want = createHash('sha256').update(onDisk).digest('hex');
    for (const r of read) expect(r).to.deep.equal({ sha: want, bytes: onDisk.length });
    console.log(`      100 followers (20 not reading) of a ${(onDisk.length / MiB).toFixed(1)} MiB log: VmHWM ${(before / MiB).toFixed(0)} -> ${(peak / MiB).toFixed(0)} MiB`);
    expect(peak - before).to.be.below(FOLLOW_HWM_BOUND);
  });

  it('a 300 MB log read with ?stream= does not stall /health', async function () {
    const command = '(head -c 150000000 /dev/zero; echo marker >&2; head -c 150000000 /dev/zero)';
    d = await startDaemon({ config: configText(`  big:\n    schedule: "@yearly"\n    command: "${command}"\n    max_output: 400000000\n`) });
    const pid = d.proc.pid!;
    const run = await d.api('POST', '/api/v1/jobs/big/run');
    const eid = String(run.body.data.execution_id);
    await d.finished(eid, 120_000);
    await resetPeak(pid);
    const before = await peakRss(pid);

    let reading = true;
    let worst = 0;
    const health = (async () => {
      while (reading) {
        const t0 = performance.now();
        const r = await d!.api('GET', '/health');
        worst = Math.max(worst, performance.now() - t0);
        expect(r.status).to.equal(200);
        await sleep(50);
      }
    })();
    const t0 = performance.now();
    const res = await get(d.url, `/api/v1/jobs/big/executions/${eid}/log?stream=stdout`);
    open.push(res);
    const got = await digest(res);
    const took = performance.now() - t0;
    reading = false;
    await health;
    const peak = await peakRss(pid);
    console.log(`      300 MB ?stream=stdout in ${Math.round(took)} ms: /health at most ${Math.round(worst)} ms, VmHWM ${(before / MiB).toFixed(0)} -> ${(peak / MiB).toFixed(0)} MiB`);
    expect(got.bytes).to.equal(300_000_000);
    expect(worst).to.be.below(HEALTH_BOUND_MS);
    expect(peak - before).to.be.below(STREAM_HWM_BOUND);
  });

  it('a lost log of an execution that printed reads 404 LOG_MISSING; one that never printed reads empty', async function () {
    d = await startDaemon({ config: configText('  talks:\n    schedule: "@yearly"\n    command: "echo hello"\n  quiet:\n    schedule: "@yearly"\n    command: "true"\n') });
    const ids: Record<string, string> = {};
    for (const job of ['talks', 'quiet']) {
      const run = await d.api('POST', `/api/v1/jobs/${job}/run`);
      ids[job] = String(run.body.data.execution_id);
      await d.finished(ids[job]!);
    }
    const logOf = (job: string) => `/api/v1/jobs/${job}/executions/${ids[job]}/log`;
    expect((await d.api('GET', logOf('talks'))).text).to.equal('hello\n');
    await rm(logFile(d, 'talks', ids.talks!));
    for (const query of ['', '?stream=stdout', '?tail=5', '?follow=true']) {
      const r = await d.api('GET', logOf('talks') + query);
      expect(r.status, query).to.equal(404);
      expect(r.body.error.code, query).to.equal('LOG_MISSING');
    }
    const quiet = await d.api('GET', logOf('quiet'));
    expect([quiet.status, quiet.text]).to.deep.equal([200, '']);
  });
});
