/**
 * Fault: 300 jobs time out at the same moment, then 300 running jobs are shut down at once (issue 13 item 6).
 * Every group ignores SIGTERM, so each stop waits out kill_grace while the daemon checks whether the group is
 * gone. Meanwhile a per-second job fires on time and /health answers quickly; the shutdown ends within
 * shutdown_grace + kill_grace + SHUTDOWN_SLACK_MS.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';

const JOBS = 300;
const WAVES = 10;
/** A per-second slot may fire this late, and /health take this long, under a loaded test machine. */
const LATE_BOUND_MS = 1000;
const HEALTH_BOUND_MS = 1000;
/** Beyond shutdown_grace + kill_grace, for the stop itself on a loaded two-core machine. */
const SHUTDOWN_SLACK_MS = 2000;

/**
 * The config: the per-second job, and JOBS jobs that ignore SIGTERM. With `timeoutAt`, they start over WAVES
 * seconds from `start` (spawning 300 processes at once holds the event loop for seconds by itself: fork costs
 * ~25 ms each on a loaded machine) with timeouts that make all of them time out at `timeoutAt`.
 */
function config(start: number, timeoutAt?: number): string {
  let jobs = '  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    history_limit: 1000\n';
  for (let i = 0; i < JOBS; i++) {
    const at = timeoutAt === undefined ? start : start + (i % WAVES) * 1000;
    const timeout = timeoutAt === undefined ? '' : `    timeout: ${(timeoutAt - at) / 1000}\n`;
    // '' TERM is inherited by sleep: the whole group ignores SIGTERM and needs the SIGKILL after kill_grace.
    jobs += `  stuck-${i}:\n    schedule: "${new Date(at).toISOString()}"\n    command: "trap '' TERM; sleep 1000"\n${timeout}`;
  }
  return `version: 1\ndaemon:\n  listen: 127.0.0.1:0\n  data_dir: ./data\n  shutdown_grace: 2s\n  kill_grace: 2s\n  max_concurrency: ${JOBS + 10}\n  log_level: debug\njobs:\n${jobs}`;
}

/** Polls /health every 100 ms until stopped; resolves with the slowest answer in ms. */
function watchHealth(d: DaemonProcess): { stop: () => Promise<number> } {
  let running = true;
  let worst = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await d.api('GET', '/health');
      worst = Math.max(worst, performance.now() - t0);
      expect(r.status).to.equal(200);
      await sleep(100);
    }
  })();
  return { stop: async () => ((running = false), await loop, worst) };
}

describe('faults: 300 jobs timing out together, and 300 shut down together', function () {
  this.timeout(180_000);
  let d: DaemonProcess | undefined;
  let dir: string;

  afterEach(async function () {
    if (d) await d.stop(process.env.DEBUG_FAULTS_PROF ? 'SIGTERM' : 'SIGKILL');
    d = undefined;
    await removeDir(dir);
  });

  it('stops 300 timed-out groups while a per-second job stays on time and /health answers', async function () {
    dir = await tempDir();
    const start = Math.ceil((Date.now() + 8000) / 1000) * 1000;
    const timeoutAt = start + (WAVES + 4) * 1000;
    d = await startDaemon({ dir, config: config(start, timeoutAt), launcher: process.env.DEBUG_FAULTS_PROF ? ['bash', '-c', 'n=$1; shift; exec "$n" --cpu-prof --cpu-prof-dir=$DEBUG_FAULTS_PROF "$@"', 'bash'] : undefined });
    await d.waitFor(() => d!.lines.filter((l) => l.event === 'execution.started' && String(l.job_id).startsWith('stuck-')).length >= JOBS, 60_000);
    // From a second before the timeouts: the spawns are over by then.
    await sleep(Math.max(0, timeoutAt - 1000 - Date.now()));
    const at = new Date(timeoutAt - 1000);
    const health = watchHealth(d);
    const from = d.lines.length;
    // Timeouts at +1 s, SIGKILLs at +3 s: wait for every execution to be over.
    await d.waitFor(() => d!.lines.slice(from).filter((l) => l.event === 'execution.finished' && String(l.job_id).startsWith('stuck-')).length >= JOBS, 60_000);
    const worstHealth = await health.stop();
    const stuck = d.lines.filter((l) => l.event === 'execution.finished' && String(l.job_id).startsWith('stuck-'));
    expect(stuck.every((l) => l.reason === 'timeout' && l.signal === 'SIGKILL'), JSON.stringify(stuck.find((l) => l.reason !== 'timeout' || l.signal !== 'SIGKILL'))).to.equal(true);
    const ticks = d.lines.filter((l) => l.event === 'job.due' && l.job_id === 'tick' && Date.parse(String(l.slot)) >= at.getTime());
    const slots = ticks.map((l) => Date.parse(String(l.slot)));
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!, 'consecutive per-second slots').to.equal(1000);
    const worstLate = Math.max(...ticks.map((l) => Number(l.late_ms)));
    console.log(`      300 timeouts: per-second job at most ${worstLate} ms late over ${ticks.length} slots; /health at most ${Math.round(worstHealth)} ms`);
    expect(ticks.length).to.be.at.least(3);
    expect(worstLate).to.be.below(LATE_BOUND_MS);
    expect(worstHealth).to.be.below(HEALTH_BOUND_MS);
  });

  it('shuts down 300 running groups that ignore SIGTERM within shutdown_grace + kill_grace + 2 s', async function () {
    dir = await tempDir();
    d = await startDaemon({ dir, config: config(Math.ceil((Date.now() + 8000) / 1000) * 1000) });
    await d.waitFor(() => d!.lines.filter((l) => l.event === 'execution.started' && String(l.job_id).startsWith('stuck-')).length >= JOBS, 60_000);
    const t0 = Date.now();
    const exit = await d.stop('SIGTERM');
    const took = Date.now() - t0;
    console.log(`      shutdown of 300 groups ignoring SIGTERM: ${took} ms (shutdown_grace 2 s + kill_grace 2 s)`);
    expect(exit.code).to.equal(0);
    expect(took).to.be.below(2000 + 2000 + SHUTDOWN_SLACK_MS);
    d = undefined;
  });
});
