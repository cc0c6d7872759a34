/**
 * Black-box: kill -9 of the daemon at random moments during a workload of API writes and one-second
 * jobs, restarting on the same data dir each time. After each restart: the store parses, every write
 * answered 2xx is there, nothing of the dead daemon is left `in_progress`/`queued`, and no job process
 * of the dead daemon is alive. The moments come from a seeded PRNG; a failure prints its seed, and
 * WATCHBELL_CRASH_SEED=<seed> replays the same sequence of kill delays and API writes (the timing of
 * the jobs themselves still varies). It runs once on the embedded store and once on PostgreSQL, where
 * "acknowledged" means committed.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, configText, removeDir, startDaemon, tempDir, type ApiReply, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';
import { isAlive } from '../run/helpers.js';
import { emptyJournal, JOURNAL_FILE, parseJournal, type JournalContents } from '../../src/store/job-journal.js';
import { replaySegment } from '../../src/store/write-ahead-log.js';

/**
 * Kills wanted; the test stops earlier (and fails) if they do not fit in the time budget. PostgreSQL gets
 * half: its recovery is the database's, and the suite must stay under 15 minutes on 2 cores.
 */
const KILLS_OF = { embedded: 24, postgres: 12 } as const;
const BUDGET_MS = 85_000;
const WORKERS = 3;
/** API jobs a worker keeps at most. */
const MAX_JOBS_PER_WORKER = 6;

/** mulberry32: small, seedable, good enough to pick moments and operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** The creation time (ms) encoded in an execution id (see src/jobs/ids.ts). */
function executionTime(id: string): number {
  let t = 0;
  for (const c of id.slice(5, 15)) t = t * 32 + B32.indexOf(c);
  return t;
}

/** Live processes whose environment holds `marker` (NAME=value): every process this test's daemons started. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

interface JobModel {
  schedule: string;
  command: string;
  tags: string[];
  timeout: number;
  paused: boolean;
}

/** What a job must look like after a restart: one state, or either of two while a write was in flight at the kill. */
interface Expectation {
  states: Array<JobModel | null>;
}

const sameJob = (a: JobModel | null, b: JobModel | null) => JSON.stringify(a) === JSON.stringify(b);

/** The same workload and checks on either store: the embedded data dir, or PostgreSQL (a schema of its own). */
function describeCrash(kind: 'embedded' | 'postgres'): void {
  const KILLS = KILLS_OF[kind];
  describe(`crash recovery under kill -9 (black-box), ${kind} store`, function () {
    this.timeout(BUDGET_MS + 60_000);
    const seed = process.env.WATCHBELL_CRASH_SEED ? Number(process.env.WATCHBELL_CRASH_SEED) : randomBytes(4).readUInt32BE();
    const token = `WB_CRASH_TOKEN=${randomBytes(6).toString('hex')}`;
    let dir: string;
    let daemon: DaemonProcess | undefined;
    /** A daemon being killed while it starts. */
    let early: ChildProcess | undefined;

    /** WATCHBELL_STORE for every daemon of the postgres run. */
    let storeEnv: Record<string, string> = {};

    before(async function () {
      console.log(`      crash test seed ${seed} (replay with WATCHBELL_CRASH_SEED=${seed})`);
      if (kind === 'postgres' && (await requirePostgres(this))) storeEnv = { WATCHBELL_STORE: testStoreUrl() };
    });

    after(async function () {
      // Whatever happened, nothing this test started outlives it: the daemon, then every job process
      // (found by the token in their environment, so a reused pid is never touched).
      if (daemon) await daemon.stop('SIGKILL');
      if (early && early.exitCode === null && early.signalCode === null) {
        early.kill('SIGKILL');
        await once(early, 'exit');
      }
      for (let round = 0; round < 3; round++) {
        const left = processesWith(token);
        if (left.length === 0) break;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(100);
      }
      if (dir) await removeDir(dir);
      if (kind === 'postgres') await dropTestSchemas();
    });

    it(`survives ${KILLS} SIGKILLs at random moments with its store, its acknowledged writes, and no orphans`, async function () {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      dir = await tempDir('watchbell-crash-');
      const pidsFile = join(dir, 'pids');
      await writeFile(pidsFile, '');
      // `$$$$` is a literal `$$` once the config's ${VAR} interpolation has run.
      const record = (what: string) => `echo "$WB_GEN ${what}" >> ${pidsFile}`;
      const config = configText(
        `  tick:\n    schedule: "* * * * * *"\n    command: '${record('$$$$')}; echo tick'\n    history_limit: 30\n` +
          `  slow:\n    schedule: "* * * * * *"\n    command: '${record('$$$$')}; sleep 1.5 & ${record('$!')}; wait'\n    history_limit: 30\n` +
          `  nightly:\n    schedule: "0 3 * * *"\n    command: "true"\n` +
          // Multi-step: often killed in the middle of its second step, whose processes must go too.
          `  pipeline:\n    schedule: "*/2 * * * * *"\n    history_limit: 30\n    steps:\n` +
          `      - name: one\n        command: '${record('$$$$')}; echo "n=$$$$" >> "$WATCHBELL_OUTPUT"'\n` +
          `      - name: two\n        command: '${record('$$$$')}; sleep 1 & ${record('$!')}; wait'\n` +
          `      - name: three\n        command: 'echo "three after $WATCHBELL_STEP_ONE_N"'\n`,
      );
      const started = Date.now();
      const problems: string[] = [];
      const problem = (kill: number, text: string) => problems.push(`kill ${kill}: ${text}`);

      // The model: per API job the state(s) it may be in; `nightly` (a config job) only its pause.
      const expected = new Map<string, Expectation>();
      const nightly: Expectation = { states: [{ schedule: '0 3 * * *', command: 'true', tags: [], timeout: 3600, paused: false }] };
      let counter = 0;
      let kills = 0;
      let interruptedSeen = 0;
      let pidFilesSeen = 0;
      let orphansStopped = 0;
      let writesAcknowledged = 0;
      let jobsChecked = 0;
      let earlyKills = 0;
      let pipelinesInterrupted = 0;

      /** One worker's loop of writes: one at a time, on its own jobs, until `stop` is set. */
      const worker = async (d: DaemonProcess, w: number, stop: { now: boolean }, kill: number) => {
        while (!stop.now) {
          const mine = [...expected.keys()].filter((id) => id.startsWith(`w${w}-`));
          // Only worker 0 toggles the config job, so its writes stay one at a time too.
          const ops = ['update', 'pause', 'resume', 'delete', ...(w === 0 ? ['pause-nightly'] : [])];
          const op = mine.length === 0 ? 'create' : pick(mine.length >= MAX_JOBS_PER_WORKER ? ops : ['create', 'create', ...ops]);
          let id = '';
          let before: JobModel | null = null;
          let after: JobModel | null = null;
          let send: () => Promise<ApiReply>;
          const target = op === 'pause-nightly' ? nightly : undefined;
          if (op === 'create') {
            id = `w${w}-${++counter}`;
            // A quarter of them run every other second for a second, so they are often mid-run when killed.
            const frequent = random() < 0.25;
            after = {
              schedule: frequent ? '*/2 * * * * *' : pick(['@hourly', '0 0 * * *', '@every 90s']),
              command: frequent ? `${record('$$')}; sleep 1 & ${record('$!')}; wait` : `echo ${id}`,
              tags: [pick(['a', 'b', 'c'])],
              timeout: 10 + Math.floor(random() * 100),
              paused: false,
            };
            const body = { id, schedule: after.schedule, command: after.command, tags: after.tags, timeout: after.timeout, history_limit: 20 };
            send = () => d.api('POST', '/api/v1/jobs', body);
          } else if (op === 'pause-nightly') {
            id = 'nightly';
            before = nightly.states[0]!;
            after = { ...before, paused: !before.paused };
            send = () => d.api('POST', `/api/v1/jobs/nightly/${after!.paused ? 'pause' : 'resume'}`);
          } else {
            id = pick(mine);
            before = expected.get(id)!.states[0]!;
            if (op === 'update') {
              after = { ...before, command: `${before.command.split(' #')[0]} #${++counter}`, tags: [pick(['a', 'b', 'c']), 'updated'], timeout: 10 + Math.floor(random() * 100) };
              const body = { command: after.command, tags: after.tags, timeout: after.timeout };
              send = () => d.api('PUT', `/api/v1/jobs/${id}`, body);
            } else if (op === 'pause' || op === 'resume') {
              after = { ...before, paused: op === 'pause' };
              send = () => d.api('POST', `/api/v1/jobs/${id}/${op}`);
            } else {
              after = null;
              send = () => d.api('DELETE', `/api/v1/jobs/${id}`);
            }
          }
          const slot = target ?? (expected.get(id) ?? { states: [] });
          // In flight: until answered, both states are possible after a kill.
          slot.states = [before, after];
          if (!target) expected.set(id, slot);
          let reply: ApiReply;
          try {
            reply = await send();
          } catch {
            return; // the daemon died under it: the write stays uncertain
          }
          if (reply.status >= 200 && reply.status < 300) {
            slot.states = [after];
            writesAcknowledged++;
          } else {
            slot.states = [before];
            problem(kill, `${op} ${id} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
          }
          if (slot.states[0] === null && !target) expected.delete(id);
          await sleep(10 + random() * 60);
        }
      };

      /** The executions the dead daemon left unfinished, read from its files, with whether each had a pid file. */
      const unfinishedOnDisk = async (kill: number) => {
        const out: Array<{ job: string; id: string; pidFile: string | null }> = [];
        const jobsDir = join(dir, 'data', 'jobs');
        if (kind === 'postgres') {
          // What the database committed is what the next start reads; pid files are local, as with the data dir.
          const schema = new URL(storeEnv.WATCHBELL_STORE!).searchParams.get('schema')!;
          const rows = await sql<{ job_id: string; id: string }>(`SELECT job_id, id FROM "${schema}".executions WHERE status IN ('queued', 'in_progress')`).catch((err: Error) => {
            // Killed while it started: the schema may not be there yet.
            if (!/does not exist/.test(err.message)) problem(kill, `the store cannot be read: ${err.message}`);
            return [];
          });
          for (const e of rows) {
            const pidFile = join(jobsDir, e.job_id, 'logs', `${e.id}.log.pid`);
            const has = await stat(pidFile).then(() => true, () => false);
            out.push({ job: e.job_id, id: e.id, pidFile: has ? pidFile : null });
          }
          return out;
        }
        try {
          JSON.parse(await readFile(join(dir, 'data', 'api-jobs.json'), 'utf8'));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problem(kill, `api-jobs.json does not parse: ${(err as Error).message}`);
        }
        // The journals, then the write-ahead log replayed over them, as the next start reads them.
        const journals = new Map<string, JournalContents>();
        for (const job of await readdir(jobsDir).catch(() => [] as string[])) {
          let text: string;
          try {
            text = await readFile(join(jobsDir, job, JOURNAL_FILE), 'utf8');
          } catch {
            continue; // a job dir without its file yet
          }
          try {
            journals.set(job, parseJournal(text));
          } catch (err) {
            problem(kill, `jobs/${job}/${JOURNAL_FILE} does not parse: ${(err as Error).message}`);
          }
        }
        const walDir = join(dir, 'data', 'wal');
        for (const name of (await readdir(walDir).catch(() => [] as string[])).sort()) {
          try {
            replaySegment(await readFile(join(walDir, name), 'utf8'), {
              journalOf: (id) => journals.get(id) ?? journals.set(id, emptyJournal()).get(id)!,
              onGone: (id) => journals.delete(id),
              onDef: () => undefined,
            });
          } catch (err) {
            problem(kill, `wal/${name} does not parse: ${(err as Error).message}`);
          }
        }
        for (const [job, contents] of journals) {
          const executions = [...contents.executions.values()];
          for (const e of executions) {
            if (e.status !== 'queued' && e.status !== 'in_progress') continue;
            const pidFile = join(jobsDir, job, 'logs', `${e.id}.log.pid`);
            const has = await stat(pidFile).then(() => true, () => false);
            out.push({ job, id: e.id, pidFile: has ? pidFile : null });
          }
        }
        return out;
      };

      const pidsOf = async (gens: (gen: number) => boolean) =>
        (await readFile(pidsFile, 'utf8'))
          .split('\n')
          .map((line) => line.trim().split(' ').map(Number))
          .filter(([gen, pid]) => Number.isSafeInteger(gen) && Number.isSafeInteger(pid) && pid! > 0 && gens(gen!))
          .map(([, pid]) => pid!);

      let gen = 0;
      const env = () => ({ ...storeEnv, WB_GEN: String(gen), [token.split('=')[0]!]: token.split('=')[1]! });
      daemon = await startDaemon({ dir, config, env: env() });

      while (kills < KILLS && Date.now() - started < BUDGET_MS) {
        const d = daemon;
        const stop = { now: false };
        const workers = Array.from({ length: WORKERS }, (_, w) => worker(d, w, stop, kills + 1));
        await sleep(200 + random() * 2000);
        const killedAt = Date.now();
        await d.stop('SIGKILL');
        kills++;
        stop.now = true;
        await Promise.all(workers);

        const left = await unfinishedOnDisk(kills);
        interruptedSeen += left.length;
        pidFilesSeen += left.filter((e) => e.pidFile).length;

        // Sometimes the next daemon is killed too, while it starts: opening the store, recovering, firing its first jobs.
        if (random() < 0.25 && kills < KILLS) {
          gen++;
          const delay = 50 + random() * 900;
          early = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'watchbell.yaml')], {
            cwd: dir,
            env: { ...process.env, ...env() },
            stdio: 'ignore',
          });
          const exited = once(early, 'exit');
          await sleep(delay);
          early.kill('SIGKILL');
          await exited;
          early = undefined;
          kills++;
          earlyKills++;
          const known = new Set(left.map((e) => e.id));
          for (const e of await unfinishedOnDisk(kills)) if (!known.has(e.id)) left.push(e);
        }

        gen++;
        try {
          daemon = await startDaemon({ dir, env: env() });
        } catch (err) {
          daemon = undefined;
          problem(kills, `the daemon did not start again: ${(err as Error).message}`);
          break;
        }
        const again = daemon;
        orphansStopped += again.lines.filter((l) => l.event === 'execution.orphan_stopped').length;

        // Nothing of the dead daemon is left running: every execution it left unfinished is interrupted...
        for (const e of left) {
          const r = await again.api('GET', `/api/v1/jobs/${e.job}/executions/${e.id}`);
          const deleting = (expected.get(e.job)?.states ?? []).includes(null);
          if (r.status === 404 && deleting) continue;
          if (r.status !== 200 || r.body.data.status !== 'failure' || r.body.data.reason !== 'interrupted') {
            problem(kills, `execution ${e.id} of ${e.job}, unfinished at the kill, is now ${r.status} ${r.body?.data?.status}/${r.body?.data?.reason}`);
          }
          if (e.pidFile && (await stat(e.pidFile).then(() => true, () => false))) problem(kills, `pid file ${e.pidFile} was left after recovery`);
          if (e.job === 'pipeline' && r.status === 200) {
            const steps = r.body.data.steps as Array<{ name: string; status: string }>;
            pipelinesInterrupted++;
            if (steps.some((st) => st.status === 'in_progress' || st.status === 'pending')) problem(kills, `pipeline execution ${e.id} was interrupted with steps ${JSON.stringify(steps)}`);
          }
        }
        // ...and the API shows none from before the restart as queued or running.
        for (const status of ['in_progress', 'queued']) {
          const r = await again.api('GET', `/api/v1/executions?status=${status}&limit=1000`);
          for (const e of r.body.data as Array<{ id: string; job_id: string }>) {
            if (executionTime(e.id) <= killedAt) problem(kills, `execution ${e.id} of ${e.job_id} from before the kill is still ${status}`);
          }
        }
        // No job process of any earlier daemon is alive (zombies are dead).
        const orphans = (await pidsOf((g) => g < gen)).filter(isAlive);
        if (orphans.length) problem(kills, `job processes of a killed daemon still alive after restart: ${orphans.join(' ')}`);

        // Every acknowledged write is visible; a write in flight at the kill is applied wholly or not at all.
        const list = await again.api('GET', '/api/v1/jobs?limit=1000');
        const apiIds = new Set((list.body.data as Array<{ id: string; source: string }>).filter((j) => j.source === 'api').map((j) => j.id));
        for (const id of new Set([...expected.keys(), ...apiIds])) {
          const exp = expected.get(id) ?? { states: [null] };
          const r = await again.api('GET', `/api/v1/jobs/${id}`);
          const got: JobModel | null =
            r.status === 404
              ? null
              : { schedule: r.body.data.schedule, command: r.body.data.command, tags: r.body.data.tags, timeout: r.body.data.timeout, paused: r.body.data.status === 'paused' };
          jobsChecked++;
          const match = exp.states.find((s) => sameJob(s, got));
          if (match === undefined) {
            problem(kills, `job ${id} is ${JSON.stringify(got)} (HTTP ${r.status}); expected ${exp.states.map((s) => JSON.stringify(s)).join(' or ')}`);
            continue;
          }
          if (match === null) expected.delete(id);
          else expected.set(id, { states: [match] });
        }
        const nj = (await again.api('GET', '/api/v1/jobs/nightly')).body.data;
        const nightlyNow: JobModel = { schedule: nj.schedule, command: nj.command, tags: nj.tags, timeout: nj.timeout, paused: nj.status === 'paused' };
        const nightlyMatch = nightly.states.find((s) => sameJob(s, nightlyNow));
        if (!nightlyMatch) problem(kills, `config job nightly is ${JSON.stringify(nightlyNow)}; expected ${nightly.states.map((s) => JSON.stringify(s)).join(' or ')}`);
        nightly.states = [nightlyNow];
      }

      // The last daemon stops cleanly, and takes its job processes with it.
      if (daemon) {
        const exit = await daemon.stop('SIGTERM');
        if (exit.code !== 0) problem(kills, `the last daemon exited with ${exit.code ?? exit.signal} on SIGTERM`);
        daemon = undefined;
        const orphans = (await pidsOf(() => true)).filter(isAlive);
        if (orphans.length) problem(kills, `job processes alive after the last daemon stopped: ${orphans.join(' ')}`);
      }

      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `      ${kills} kills (${earlyKills} while starting) in ${seconds}s; ${writesAcknowledged} writes acknowledged, ${jobsChecked} job checks after restarts; ${interruptedSeen} executions interrupted, ` +
          `${pidFilesSeen} with a pid file (${pipelinesInterrupted} multi-step); ${orphansStopped} orphan groups stopped at restart`,
      );
      const report = (what: string) => `seed ${seed} (replay with WATCHBELL_CRASH_SEED=${seed}): ${what}`;
      expect(problems, report(`${problems.length} problems:\n${problems.slice(0, 40).join('\n')}`)).to.deep.equal([]);
      expect(kills, report(`only ${kills} kills fit in ${BUDGET_MS / 1000}s`)).to.be.at.least(Math.ceil((KILLS * 5) / 6));
      expect(interruptedSeen, report('no kill ever caught an execution running: the workload is too light')).to.be.above(0);
      expect(pidFilesSeen, report(`none of the ${interruptedSeen} interrupted executions had a <log>.pid file: the runner does not write them`)).to.be.above(0);
    });
  });
}

describeCrash('embedded');
describeCrash('postgres');
