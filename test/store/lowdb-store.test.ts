import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WatchbellError } from '../../src/jobs/errors.js';
import type { Execution } from '../../src/jobs/execution.js';
import type { Job } from '../../src/jobs/job.js';
import { newExecutionId } from '../../src/jobs/ids.js';
import { acquireDataDirLock, LOCK_FILE } from '../../src/store/data-dir-lock.js';
import { compactionThreshold, emptyJournal, JOURNAL_FILE, parseJournal, type JournalContents } from '../../src/store/job-journal.js';
import { replaySegment } from '../../src/store/write-ahead-log.js';
import { LowdbStore } from '../../src/store/lowdb-store.js';
import { useStoreDirs } from './store-dirs.js';
import { describeStoreContract, exists, finished, makeExecution, makeJob } from './store-contract.js';
import { describeStoreFaultContract } from './store-fault-contract.js';

describeStoreContract('LowdbStore', (dir) => new LowdbStore(dir));
describeStoreFaultContract('LowdbStore', (dir, disk) => new LowdbStore(dir, { writeFault: disk?.fault }));

async function rejection(promise: Promise<unknown>): Promise<WatchbellError> {
  try {
    await promise;
  } catch (err) {
    return err as WatchbellError;
  }
  throw new Error('expected a rejection');
}

describe('LowdbStore', () => {
  const data = useStoreDirs('watchbell-lowdb-');

  /** The write-ahead log's segments, oldest first, as one text. */
  async function walText(): Promise<string> {
    const names = (await readdir(join(data.dir, 'wal'))).sort();
    return (await Promise.all(names.map((n) => readFile(join(data.dir, 'wal', n), 'utf8')))).join('');
  }

  const openStore = () => data.open();

  it('lays its files out as documented', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('a'));
    await store.saveJobState('a', { paused: true });
    const e = finished(makeExecution('a'));
    await store.addExecution(e, 10);
    await store.saveJobState('b', { created_at: '2024-01-01T00:00:00.000Z', fingerprint: 'f1', last_slot: null });
    // Acknowledged once in the write-ahead log; a checkpoint brings the journals up to date and empties the log.
    expect((await readdir(join(data.dir, 'wal'))).length).to.equal(1);
    await store.checkpoint();
    expect(JSON.parse(await readFile(join(data.dir, 'api-jobs.json'), 'utf8'))).to.deep.equal({ jobs: [makeJob('a')] });
    const journal = parseJournal(await readFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), 'utf8'));
    expect(journal.state).to.deep.equal({ paused: true });
    expect([...journal.executions.values()]).to.deep.equal([e]);
    // What describes a config job's definition is kept in one file for all jobs; its runtime state in its journal.
    expect(JSON.parse(await readFile(join(data.dir, 'config-jobs.json'), 'utf8'))).to.deep.equal({
      jobs: { b: { created_at: '2024-01-01T00:00:00.000Z', fingerprint: 'f1' } },
    });
    expect(parseJournal(await readFile(join(data.dir, 'jobs', 'b', JOURNAL_FILE), 'utf8')).state).to.deep.equal({ last_slot: null });
    expect(await readdir(join(data.dir, 'wal')), 'only the new, empty segment is left').to.have.length(1);
    expect(store.logPath('a', e.id)).to.equal(join(data.dir, 'jobs', 'a', 'logs', `${e.id}.log`));
  });

  it('resolves each write only once the write-ahead log holds it', async () => {
    const store = await openStore();
    const all = Array.from({ length: 10 }, () => makeExecution('a'));
    const writes = all.map((e) => store.addExecution(e, 100));
    for (let i = 0; i < all.length; i++) {
      await writes[i];
      const onDisk = new Map<string, JournalContents>();
      for (const name of await readdir(join(data.dir, 'wal'))) {
        replaySegment(await readFile(join(data.dir, 'wal', name), 'utf8'), {
          journalOf: (id) => onDisk.get(id) ?? onDisk.set(id, emptyJournal()).get(id)!,
          onGone: (id) => onDisk.delete(id),
          onDef: () => undefined,
        });
      }
      expect([...onDisk.get('a')!.executions.keys()]).to.include.members(all.slice(0, i + 1).map((e) => e.id));
    }
  });

  it('replays the write-ahead log of a store that never checkpointed (a crash)', async () => {
    const store = await openStore();
    const e = makeExecution('a');
    await store.addExecution(e, 10);
    await store.saveJobState('a', { paused: true });
    await store.updateExecution(finished(e));
    // Not closed: its journal was never written.
    expect(await exists(join(data.dir, 'jobs', 'a', JOURNAL_FILE))).to.equal(false);
    const again = new LowdbStore(data.dir);
    await again.open();
    expect(again.getExecution('a', e.id)).to.deep.equal(finished(e));
    expect(again.jobState('a')).to.deep.equal({ paused: true });
    // Opening wrote the journals whole and dropped the old segments.
    expect([...parseJournal(await readFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), 'utf8')).executions.values()]).to.deep.equal([finished(e)]);
    await again.close();
  });

  it('keeps the logs of executions that are only in the write-ahead log yet (a crash before the first checkpoint)', async () => {
    const store = await openStore();
    const e = makeExecution('a', { status: 'in_progress', started_at: '2024-01-01T00:00:00.000Z' });
    await store.addExecution(e, 10);
    await mkdir(join(data.dir, 'jobs', 'a', 'logs'), { recursive: true });
    await writeFile(store.logPath('a', e.id), 'output so far\n');
    const again = new LowdbStore(data.dir);
    await again.open();
    expect(again.getExecution('a', e.id)).to.deep.equal(e);
    expect(await readFile(again.logPath('a', e.id), 'utf8')).to.equal('output so far\n');
    await again.close();
  });

  it('drops a job the log says was deleted, even when its dir outlived a crash, and keeps what was made after', async () => {
    const old = finished(makeExecution('a'));
    const fresh = makeExecution('a');
    await mkdir(join(data.dir, 'jobs', 'a', 'logs'), { recursive: true });
    await writeFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), `{"state":{"paused":true}}\n{"put":${JSON.stringify(old)}}\n`);
    // As this version leaves a data dir: api-jobs.json is there (without it, a job's history with no config stops the start).
    await writeFile(join(data.dir, 'api-jobs.json'), '{"jobs":[]}');
    await writeFile(join(data.dir, 'jobs', 'a', 'logs', `${old.id}.log`), 'old output');
    await mkdir(join(data.dir, 'wal'));
    await writeFile(join(data.dir, 'wal', '000000000007.jsonl'), `{"j":"a","gone":true}\n{"j":"b","put":${JSON.stringify(finished(makeExecution('b')))}}\n`);
    await writeFile(join(data.dir, 'wal', '000000000008.jsonl'), `{"j":"a","put":${JSON.stringify(fresh)}}\n{"j":"b","gone":true}\n`);
    const store = await openStore();
    expect(store.listExecutions('a', { limit: 10, offset: 0 }).items).to.deep.equal([fresh]);
    expect(store.jobState('a')).to.deep.equal({});
    expect(store.listExecutions('b', { limit: 10, offset: 0 }).total).to.equal(0);
    expect(await exists(join(data.dir, 'jobs', 'a', 'logs', `${old.id}.log`))).to.equal(false);
    expect(await exists(join(data.dir, 'jobs', 'b'))).to.equal(false);
  });

  it('deletes an API job by one line in the log: a delete refused never leaves the job without its state', async () => {
    let failLog = false;
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });
    const store = await data.open({ writeFault: (_op, path) => (failLog && path.includes(`${sep}wal${sep}`) ? enospc() : undefined) });
    await store.saveApiJob(makeJob('a'));
    await store.saveJobState('a', { paused: true });
    await store.addExecution(finished(makeExecution('a')), 10);
    // The log refuses the deletion's line, as if the daemon died before it was written.
    failLog = true;
    const err = await rejection(store.deleteJob('a'));
    expect(err.code, 'the delete reports the failed write').to.equal('STORE_UNAVAILABLE');
    failLog = false;
    // Read back as the next start would: the job is still defined, so its state and history must be there too.
    const again = new LowdbStore(data.dir);
    await again.open();
    expect(again.apiJobs().map((j) => j.id)).to.deep.equal(['a']);
    expect(again.jobState('a')).to.deep.equal({ paused: true });
    expect(again.listExecutions('a', { limit: 10, offset: 0 }).total).to.equal(1);
    await again.close();
    // And the first store still holds it whole, so the delete can be tried again.
    expect(store.apiJobs().map((j) => j.id)).to.deep.equal(['a']);
    expect(store.jobState('a')).to.deep.equal({ paused: true });
    expect(store.listExecutions('a', { limit: 10, offset: 0 }).total).to.equal(1);
  });

  it('records an API job change as one line in the log, leaving api-jobs.json to the checkpoint', async () => {
    const store = await openStore();
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.saveApiJob(makeJob(`seed-${i}`))));
    await store.checkpoint();
    const apiFile = join(data.dir, 'api-jobs.json');
    const checkpointed = await readFile(apiFile, 'utf8');
    const walBefore = await walText();
    await store.saveApiJob(makeJob('a'));
    await store.saveApiJob({ ...makeJob('seed-1'), command: 'echo changed' });
    await store.deleteJob('seed-2');
    expect(await readFile(apiFile, 'utf8'), 'api-jobs.json is not rewritten by a change').to.equal(checkpointed);
    const lines = (await walText()).slice(walBefore.length).trim().split('\n');
    expect(lines.map((l) => Object.keys(JSON.parse(l) as object).join(','))).to.deep.equal(['j,def', 'j,def', 'j,gone']);
    await store.checkpoint();
    const ids = (JSON.parse(await readFile(apiFile, 'utf8')) as { jobs: Job[] }).jobs.map((j) => j.id);
    expect(ids).to.include('a').and.not.include('seed-2');
  });

  it('replays API job definitions from the log over the last checkpointed api-jobs.json (a crash)', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('kept'));
    await store.saveApiJob(makeJob('deleted'));
    await store.saveJobState('deleted', { paused: true });
    await store.checkpoint();
    await store.saveApiJob(makeJob('new'));
    await store.saveApiJob({ ...makeJob('kept'), command: 'echo changed' });
    await store.deleteJob('deleted');
    // Not closed, as after a kill -9: api-jobs.json still holds the checkpoint's version.
    const again = new LowdbStore(data.dir);
    await again.open();
    expect(again.apiJobs().map((j) => [j.id, j.command])).to.deep.equal([
      ['kept', 'echo changed'],
      ['new', makeJob('new').command],
    ]);
    expect(again.jobState('deleted'), 'a deleted job never comes back').to.deep.equal({});
    // Opening wrote what the log held into the file before dropping its segments.
    const onDisk = (JSON.parse(await readFile(join(data.dir, 'api-jobs.json'), 'utf8')) as { jobs: Job[] }).jobs.map((j) => j.id);
    expect(onDisk.sort()).to.deep.equal(['kept', 'new']);
    await again.close();
  });

  it('refuses to open when api-jobs.json is gone and the log defines API jobs', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('only-in-log'));
    const apiFile = join(data.dir, 'api-jobs.json');
    await rm(apiFile);
    const err = await rejection(new LowdbStore(data.dir).open());
    expect(err.code).to.equal('STORE_UNAVAILABLE');
    expect(err.message).to.contain(`${apiFile} is missing`).and.contain('only-in-log');
  });

  it('keeps all of 50 concurrent writes to the same job', async () => {
    const store = await openStore();
    const all = Array.from({ length: 50 }, () => makeExecution('a'));
    await Promise.all(all.map((e) => store.addExecution(e, 100)));
    await Promise.all([
      ...all.map((e, i) => store.updateExecution(finished(e, i % 2 ? 'success' : 'failure'))),
      store.saveJobState('a', { last_slot: '2024-01-01T00:00:00.000Z' }),
      store.saveJobState('a', { paused: true }),
    ]);
    await store.close();
    const again = await openStore();
    const page = again.listExecutions('a', { limit: 100, offset: 0 });
    expect(page.total).to.equal(50);
    expect(page.items.map((e) => e.id)).to.deep.equal(all.map((e) => e.id).reverse());
    expect(page.items.every((e) => e.status === 'success' || e.status === 'failure')).to.equal(true);
    expect(again.listExecutions('a', { status: 'failure', limit: 100, offset: 0 }).total).to.equal(25);
    expect(again.jobState('a')).to.deep.equal({ last_slot: '2024-01-01T00:00:00.000Z', paused: true });
  });

  it('opens despite temp files left by a crash mid-write, and writes over them', async () => {
    const store = await openStore();
    const e = makeExecution('a');
    await store.saveApiJob(makeJob('a'));
    await store.addExecution(e, 10);
    await store.close();
    await writeFile(join(data.dir, 'jobs', 'a', `.${JOURNAL_FILE}.tmp`), '{"state": {}}\n{"put": {"id": "ex');
    await writeFile(join(data.dir, '.api-jobs.json.tmp'), '');
    // A job whose very first write never completed: only its dir exists.
    await mkdir(join(data.dir, 'jobs', 'b'));
    await writeFile(join(data.dir, 'jobs', 'b', `.${JOURNAL_FILE}.tmp`), '{');
    const again = await openStore();
    expect(again.getExecution('a', e.id)).to.deep.equal(e);
    expect(again.apiJobs()).to.deep.equal([makeJob('a')]);
    expect(again.jobState('b')).to.deep.equal({});
    await again.updateExecution(finished(e));
    await again.saveApiJob(makeJob('c'));
    await again.close();
    const third = await openStore();
    expect(third.getExecution('a', e.id)).to.deep.equal(finished(e));
    expect(third.apiJobs().map((j) => j.id)).to.deep.equal(['a', 'c']);
  });

  it('refuses to open on a corrupt file, naming it, and deletes nothing', async () => {
    await mkdir(join(data.dir, 'jobs', 'a'), { recursive: true });
    const file = join(data.dir, 'jobs', 'a', JOURNAL_FILE);
    const cases = [
      ['{"state": {}}\n{"put": [\n{"state": {}}\n', 'line 2: '],
      ['null\n', 'line 1: expected an object'],
      ['[]\n', 'line 1: expected an object'],
      ['{"state": {}}\n{"other": 1}\n', 'line 2: expected an object with "state", "put" or "drop"'],
      ['{"put": {"status": "success"}}\n', 'line 1: "put" must be an execution with an "id"'],
    ];
    for (const [text, problem] of cases) {
      await writeFile(file, text!);
      const err = await rejection(new LowdbStore(data.dir).open());
      expect(err).to.be.instanceOf(WatchbellError);
      expect(err.code).to.equal('STORE_UNAVAILABLE');
      expect(err.message, text).to.match(new RegExp(`^cannot load ${file}: ${problem}.*; restore it from a backup, or move it aside`));
      expect(await readFile(file, 'utf8')).to.equal(text);
    }
    await rm(file);
    const legacy = join(data.dir, 'jobs', 'a', 'executions.json');
    for (const text of ['{"state": {}, "executions": [', 'null', '[]', '{"state": {}}']) {
      await writeFile(legacy, text);
      const err = await rejection(new LowdbStore(data.dir).open());
      expect(err.code).to.equal('STORE_UNAVAILABLE');
      expect(err.message, text).to.match(new RegExp(`^cannot load ${legacy}: .*; restore it from a backup, or move it aside`));
      expect(await readFile(legacy, 'utf8')).to.equal(text);
    }
  });

  it('ignores a last line torn by a crash, and rewrites the journal before appending again', async () => {
    const store = await openStore();
    const e = makeExecution('a');
    await store.addExecution(e, 10);
    await store.close();
    const file = join(data.dir, 'jobs', 'a', JOURNAL_FILE);
    const whole = await readFile(file, 'utf8');
    await writeFile(file, `${whole}{"put": {"id": "exec-`);
    const again = await openStore();
    expect(again.listExecutions('a', { limit: 10, offset: 0 }).items).to.deep.equal([e]);
    const f = finished(e);
    await again.updateExecution(f);
    await again.checkpoint();
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).to.equal(true);
    expect([...parseJournal(text).executions.values()]).to.deep.equal([f]);
  });

  it('keeps a journal compact: 2,000 changes to a job holding 10 executions leave a file of a few dozen lines', async () => {
    const store = await openStore();
    const all = Array.from({ length: 10 }, () => makeExecution('a'));
    for (const e of all) await store.addExecution(e, 10);
    for (let i = 0; i < 200; i++) {
      await Promise.all(all.map((e) => store.updateExecution({ ...e, output: `round ${i}` })));
      await store.checkpoint();
    }
    const contents = parseJournal(await readFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), 'utf8'));
    expect(contents.lines).to.be.at.most(compactionThreshold(10));
    expect([...contents.executions.values()].map((e) => e.output)).to.deep.equal(all.map(() => 'round 199'));
  });

  it('reads a job file of the earlier whole-file format and turns it into a journal', async () => {
    await mkdir(join(data.dir, 'jobs', 'a'), { recursive: true });
    const e = finished(makeExecution('a'));
    const state = { paused: true, last_slot: '2024-01-01T00:00:00.000Z', created_at: '2023-01-01T00:00:00.000Z', fingerprint: 'f' };
    await writeFile(join(data.dir, 'jobs', 'a', 'executions.json'), JSON.stringify({ state, executions: [e] }));
    const store = await openStore();
    expect(store.jobState('a')).to.deep.equal(state);
    expect(store.getExecution('a', e.id)).to.deep.equal(e);
    expect(await exists(join(data.dir, 'jobs', 'a', 'executions.json'))).to.equal(false);
    await store.close();
    const again = await openStore();
    expect(again.jobState('a')).to.deep.equal(state);
    expect(again.getExecution('a', e.id)).to.deep.equal(e);
  });

  it('opens a data dir of the format before API job definitions were logged, left by a crash', async () => {
    // As the previous version left it after a kill -9: api-jobs.json written by each create, the log holding only job lines.
    const e = finished(makeExecution('a'));
    await writeFile(join(data.dir, 'api-jobs.json'), JSON.stringify({ jobs: [makeJob('a'), makeJob('b')] }, null, 2));
    await mkdir(join(data.dir, 'wal'));
    await writeFile(join(data.dir, 'wal', '000000000003.jsonl'), `{"j":"a","state":{"paused":true}}\n{"j":"a","put":${JSON.stringify(e)}}\n`);
    const store = await openStore();
    expect(store.apiJobs()).to.deep.equal([makeJob('a'), makeJob('b')]);
    expect(store.jobState('a')).to.deep.equal({ paused: true });
    expect(store.getExecution('a', e.id)).to.deep.equal(e);
    await store.saveApiJob(makeJob('c'));
    // Crashed again: the new job is only in the log, replayed over the old file.
    const again = new LowdbStore(data.dir);
    await again.open();
    expect(again.apiJobs().map((j) => j.id)).to.deep.equal(['a', 'b', 'c']);
    await again.close();
  });

  it('parses after a kill -9 at any moment, with every acknowledged write', async function () {
    this.timeout(10000);
    for (let run = 0; run < 3; run++) {
      const child = spawn(process.execPath, [fileURLToPath(new URL('./crash-writer.js', import.meta.url)), data.dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const acknowledged: string[] = [];
      const lines = createInterface({ input: child.stdout! });
      const exited = once(child, 'exit');
      // Kill after a number of writes that varies per run, so the kill lands at different moments.
      for await (const line of lines) {
        acknowledged.push(line);
        if (acknowledged.length === 40 + run * 17) child.kill('SIGKILL');
      }
      await exited;
      const store = await openStore();
      const jobs = store.apiJobs().map((j) => j.id);
      for (const line of acknowledged) {
        const [kind, jobId, id] = line.split(' ') as [string, string, string];
        if (kind === 'exec') expect(store.getExecution(jobId, id), line).to.not.equal(undefined);
        else expect(jobs, line).to.include(jobId);
      }
      await store.close();
    }
    const release = await acquireDataDirLock(data.dir);
    await release();
  });

  it('moves logs that no stored execution refers to into lost+found when it opens, and lists them', async () => {
    const store = await openStore();
    const kept = makeExecution('a');
    await store.addExecution(kept, 10);
    await store.close();
    const logs = join(data.dir, 'jobs', 'a', 'logs');
    const orphan = newExecutionId();
    await mkdir(logs, { recursive: true });
    for (const name of [`${kept.id}.log`, `${kept.id}.log.idx`, `${orphan}.log`, `${orphan}.log.idx`, 'notes.txt']) {
      await writeFile(join(logs, name), 'x');
    }
    const again = await openStore();
    expect((await readdir(logs)).sort()).to.deep.equal([`${kept.id}.log`, `${kept.id}.log.idx`, 'notes.txt']);
    expect(again.lostAndFound.map((l) => l.path).sort()).to.deep.equal([`jobs/a/logs/${orphan}.log`, `jobs/a/logs/${orphan}.log.idx`]);
    for (const l of again.lostAndFound) {
      expect(l.reason).to.contain(`no execution of job a`);
      expect(await readFile(join(data.dir, l.moved_to!), 'utf8'), l.moved_to!).to.equal('x');
      expect(l.moved_to!.startsWith('lost+found/')).to.equal(true);
    }
  });

  it('keeps the logs of a job whose journal was moved aside: in lost+found, not deleted', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('a'));
    const e = finished(makeExecution('a'));
    await store.addExecution(e, 10);
    await mkdir(dirname(store.logPath('a', e.id)), { recursive: true });
    await writeFile(store.logPath('a', e.id), 'precious output\n');
    await store.close();
    await rename(join(data.dir, 'jobs', 'a', JOURNAL_FILE), join(data.dir, 'journal-a.aside'));
    const again = await openStore();
    expect(again.apiJobs().map((j) => j.id), 'the job itself is still defined').to.deep.equal(['a']);
    expect(again.listExecutions('a', { limit: 10, offset: 0 }).total).to.equal(0);
    expect(again.lostAndFound).to.have.length(1);
    expect(again.lostAndFound[0]!.path).to.equal('jobs/a');
    expect(again.lostAndFound[0]!.reason).to.equal('job a has no journal and the write-ahead log does not name it');
    expect(await readFile(join(data.dir, again.lostAndFound[0]!.moved_to!, 'logs', `${e.id}.log`), 'utf8')).to.equal('precious output\n');
  });

  it('keeps the logs of executions whose write-ahead-log segment was moved aside: in lost+found, not deleted', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('a'));
    const first = finished(makeExecution('a'));
    await store.addExecution(first, 10);
    await store.checkpoint();
    // Only in the log: then the daemon dies (no close, no checkpoint) and someone moves the log aside.
    const second = finished(makeExecution('a'));
    await store.addExecution(second, 10);
    await mkdir(dirname(store.logPath('a', second.id)), { recursive: true });
    await writeFile(store.logPath('a', second.id), 'second output\n');
    for (const name of await readdir(join(data.dir, 'wal'))) await rename(join(data.dir, 'wal', name), join(data.dir, `${name}.aside`));
    const again = await openStore();
    expect(again.listExecutions('a', { limit: 10, offset: 0 }).items.map((x) => x.id)).to.deep.equal([first.id]);
    const moved = again.lostAndFound.find((l) => l.path === `jobs/a/logs/${second.id}.log`);
    expect(moved, JSON.stringify(again.lostAndFound)).to.not.equal(undefined);
    expect(await readFile(join(data.dir, moved!.moved_to!), 'utf8')).to.equal('second output\n');
  });

  it('refuses to open when api-jobs.json is gone but API jobs\' histories are not, naming both, and changes nothing', async () => {
    const store = await openStore();
    await store.saveApiJob(makeJob('made-by-api'));
    await store.saveJobState('from-config', { fingerprint: 'f', created_at: '2024-01-01T00:00:00.000Z' });
    for (const id of ['made-by-api', 'from-config']) {
      const e = finished(makeExecution(id));
      await store.addExecution(e, 10);
      await mkdir(dirname(store.logPath(id, e.id)), { recursive: true });
      await writeFile(store.logPath(id, e.id), 'out\n');
    }
    await store.close();
    const apiFile = join(data.dir, 'api-jobs.json');
    await rm(apiFile);
    const before = (await readdir(join(data.dir, 'jobs'), { recursive: true })).sort();
    const err = await rejection(new LowdbStore(data.dir).open());
    expect(err.code).to.equal('STORE_UNAVAILABLE');
    expect(err.message).to.contain(`${apiFile} is missing, but the data dir holds the history of 1 job(s) that no config defines (made-by-api)`);
    expect(err.message).to.contain(`echo '{"jobs":[]}' > ${apiFile}`);
    expect((await readdir(join(data.dir, 'jobs'), { recursive: true })).sort(), 'nothing moved or deleted').to.deep.equal(before);
    // The documented way on: an empty file starts without the API jobs, keeping their history.
    await writeFile(apiFile, '{"jobs":[]}');
    const again = await openStore();
    expect(again.apiJobs()).to.deep.equal([]);
    expect(again.listExecutions('made-by-api', { limit: 10, offset: 0 }).total).to.equal(1);
    expect(again.lostAndFound).to.deep.equal([]);
  });

  it('never compacts a change into a journal whose write to the log may still fail', async () => {
    let failLog = false;
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });
    const store = await data.open({ writeFault: (_op, path) => (failLog && path.includes(`${sep}wal${sep}`) ? enospc() : undefined) });
    // Enough lines in one flush that the checkpoint rewrites the journal from memory.
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.saveJobState('a', { last_slot: `2024-01-01T00:00:${String(i).padStart(2, '0')}.000Z` })));
    failLog = true;
    const e = makeExecution('a');
    const refused = rejection(store.addExecution(e, 10));
    // In the same turn, while the refused change is in memory and not yet in the log.
    const checkpoint = store.checkpoint();
    expect((await refused).code).to.equal('STORE_UNAVAILABLE');
    failLog = false;
    await checkpoint;
    const journal = parseJournal(await readFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), 'utf8'));
    expect(journal.state.last_slot).to.equal('2024-01-01T00:00:39.000Z');
    expect([...journal.executions.keys()], 'the refused execution').to.deep.equal([]);
    expect(store.getExecution('a', e.id)).to.equal(undefined);
  });

  it('never checkpoints into api-jobs.json an API job whose line the log may still refuse', async () => {
    let failLog = false;
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });
    const store = await data.open({ writeFault: (_op, path) => (failLog && path.includes(`${sep}wal${sep}`) ? enospc() : undefined) });
    await store.saveApiJob(makeJob('kept'));
    failLog = true;
    const refused = rejection(store.saveApiJob(makeJob('refused')));
    // In the same turn, while the refused definition is in memory and not yet in the log.
    const checkpoint = store.checkpoint();
    expect((await refused).code).to.equal('STORE_UNAVAILABLE');
    failLog = false;
    await checkpoint;
    const onDisk = (JSON.parse(await readFile(join(data.dir, 'api-jobs.json'), 'utf8')) as { jobs: Job[] }).jobs.map((j) => j.id);
    expect(onDisk).to.deep.equal(['kept']);
    expect(store.apiJobs().map((j) => j.id)).to.deep.equal(['kept']);
  });

  it('creates api-jobs.json on a fresh data dir, so a later loss of it is noticed', async () => {
    const store = await openStore();
    expect(JSON.parse(await readFile(join(data.dir, 'api-jobs.json'), 'utf8'))).to.deep.equal({ jobs: [] });
    await store.close();
  });

  it('deletes a job with writes in flight, and a job re-created meanwhile keeps only its new history', async () => {
    const store = await openStore();
    const old = Array.from({ length: 5 }, () => makeExecution('a'));
    const inFlight = old.map((e) => store.addExecution(e, 10));
    const deleting = store.deleteJob('a');
    const fresh = makeExecution('a');
    const adding = store.addExecution(fresh, 10);
    await Promise.all([...inFlight, deleting, adding]);
    expect(store.listExecutions('a', { limit: 10, offset: 0 }).items.map((e) => e.id)).to.deep.equal([fresh.id]);
    await store.close();
    const again = await openStore();
    expect(again.listExecutions('a', { limit: 10, offset: 0 }).items.map((e) => e.id)).to.deep.equal([fresh.id]);
  });

  it('removes the job dir when a job is deleted', async () => {
    const store = await openStore();
    await store.addExecution(makeExecution('a'), 10);
    await store.deleteJob('a');
    expect(await exists(join(data.dir, 'jobs', 'a'))).to.equal(false);
  });

  it('hands out frozen executions, so a change must go through updateExecution', async () => {
    const store = await openStore();
    const e = finished(makeExecution('a'));
    await store.addExecution(e, 10);
    const got = store.getExecution('a', e.id)!;
    expect(Object.isFrozen(got)).to.equal(true);
    expect(Object.isFrozen(got.attempts[0])).to.equal(true);
    expect(() => {
      (got as { status: string }).status = 'failure';
    }).to.throw(TypeError);
  });

  it('refuses writes before open() and after close()', async () => {
    const store = data.make();
    expect((await rejection(store.saveJobState('a', { paused: true }))).code).to.equal('STORE_UNAVAILABLE');
    await store.open();
    await store.close();
    const err = await rejection(store.addExecution(makeExecution('a'), 10));
    expect(err.code).to.equal('STORE_UNAVAILABLE');
    expect(err.message).to.equal(`the store in ${data.dir} is closed`);
  });

  it('refuses an invalid job id with a message that says what is expected', async () => {
    const store = await openStore();
    const err = await rejection(store.deleteJob('../..'));
    expect(err.code).to.equal('VALIDATION_FAILED');
    expect(err.message).to.equal('invalid job id "../..": expected a string matching ^[a-z0-9][a-z0-9_.-]{0,62}$ without ".."');
    expect((await rejection(store.saveApiJob(makeJob('../x')))).code).to.equal('VALIDATION_FAILED');
    // jobs/../x would be the data dir's own x (a path outside the data dir, such as /tmp/x, may exist on any machine).
    expect(await exists(join(data.dir, 'x'))).to.equal(false);
  });

  it('reports the data dir as not writable when it is gone', async () => {
    const store = await openStore();
    await rm(data.dir, { recursive: true, force: true });
    expect(await store.isWritable()).to.equal(false);
  });

  it('merges executions of 200 jobs newest first', async () => {
    const store = await openStore();
    const all: Execution[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      const e = makeExecution(`job-${i % 200}`, i % 7 === 0 ? { status: 'in_progress' } : {});
      all.push(e);
      writes.push(store.addExecution(e, 100));
    }
    await Promise.all(writes);
    const newest = all.map((e) => e.id).reverse();
    const page = store.listAllExecutions({ limit: 50, offset: 100 });
    expect(page.total).to.equal(1000);
    expect(page.items.map((e) => e.id)).to.deep.equal(newest.slice(100, 150));
    const running = all.filter((e) => e.status === 'in_progress').map((e) => e.id).reverse();
    const runningPage = store.listAllExecutions({ status: 'in_progress', limit: 20, offset: 10 });
    expect(runningPage.total).to.equal(running.length);
    expect(runningPage.items.map((e) => e.id)).to.deep.equal(running.slice(10, 30));
  });
});

describe('acquireDataDirLock', () => {
  let dir: string;
  let releases: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-lock-'));
  });

  afterEach(async () => {
    for (const release of releases) await release();
    releases = [];
    await rm(dir, { recursive: true, force: true });
  });

  async function acquire(): Promise<() => Promise<void>> {
    const release = await acquireDataDirLock(dir);
    releases.push(release);
    return release;
  }

  it('writes this process\'s pid and removes the file on release', async () => {
    const release = await acquire();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
    await release();
    await release();
    expect(await exists(join(dir, LOCK_FILE))).to.equal(false);
  });

  it('refuses a second holder with DATA_DIR_LOCKED and a message that names the pid and the way out', async () => {
    await acquire();
    const err = await rejection(acquireDataDirLock(dir));
    expect(err).to.be.instanceOf(WatchbellError);
    expect(err.code).to.equal('DATA_DIR_LOCKED');
    expect(err.message).to.equal(`data dir ${dir} is in use by another watchbell (pid ${process.pid}); stop it first or use another --data dir`);
  });

  it('can be taken again after release', async () => {
    const release = await acquire();
    await release();
    await acquire();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
  });

  it('takes over the pid file of a process that died (kill -9)', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(child, 'exit');
    await writeFile(join(dir, LOCK_FILE), `${child.pid}\n`);
    await acquire();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
  });

  it('takes over a pid file naming our own pid, as after a container restart', async () => {
    await writeFile(join(dir, LOCK_FILE), `${process.pid}\n`);
    const release = await acquire();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
    await release();
  });

  it('takes over a pid file whose pid now belongs to another program', async () => {
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, LOCK_FILE), `${other.pid}\n`);
      await acquire();
      expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a pid file torn by a crash', async () => {
    await writeFile(join(dir, LOCK_FILE), '');
    await acquire();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal(`${process.pid}\n`);
  });

  it('does not remove a pid file that another process took over', async () => {
    const release = await acquire();
    await writeFile(join(dir, LOCK_FILE), '1\n');
    await release();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).to.equal('1\n');
  });
});
