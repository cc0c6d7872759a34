/** Job journals and the write-ahead log read back: what a bad line does, blank lines, and when a journal is rewritten. */
import { expect } from 'chai';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WatchbellError } from '../../src/jobs/errors.js';
import { JOURNAL_FILE, parseJournal } from '../../src/store/job-journal.js';
import { LowdbStore } from '../../src/store/lowdb-store.js';
import { useStoreDirs } from './store-dirs.js';
import { finished, makeExecution } from './store-contract.js';

/** Entries that are objects, but not journal entries. */
const BAD_ENTRIES = ['{"state": null}', '{"state": 5}', '{"state": []}', '{"put": null}', '{"drop": 5}'];

async function openError(dir: string): Promise<WatchbellError> {
  try {
    await new LowdbStore(dir).open();
  } catch (err) {
    expect(err).to.be.instanceOf(WatchbellError);
    return err as WatchbellError;
  }
  throw new Error('expected open() to fail');
}

const lineCount = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
const inode = async (file: string) => (await stat(file)).ino;

describe('job journals read back', () => {
  const data = useStoreDirs('watchbell-journal-');

  const openStore = () => data.open();

  describe('parseJournal', () => {
    it('parses a clean file as not torn, counting its lines exactly and skipping blank ones', () => {
      const e = makeExecution('a');
      const text = `{"state": {"paused": true}}\n\n${JSON.stringify({ put: e })}\n   \n{"drop": []}\n`;
      const contents = parseJournal(text);
      expect(contents.torn).to.equal(false);
      expect(contents.lines).to.equal(3);
      expect(contents.state).to.deep.equal({ paused: true });
      expect([...contents.executions.values()]).to.deep.equal([e]);
    });

    it('marks a journal whose last line was cut short as torn, counting that line', () => {
      const contents = parseJournal('{"state": {"paused": true}}\n{"put": {"id": "exec-');
      expect(contents).to.include({ torn: true, lines: 2 });
      expect(contents.state).to.deep.equal({ paused: true });
    });

    it('numbers lines counting the blank ones', () => {
      expect(() => parseJournal('{"state": {}}\n\n{"drop": 5}\n')).to.throw('line 3: "drop" must be a list of execution ids');
    });
  });

  it('refuses to open on a journal line that is an object but no entry, naming file and line', async () => {
    await mkdir(join(data.dir, 'jobs', 'a'), { recursive: true });
    const file = join(data.dir, 'jobs', 'a', JOURNAL_FILE);
    for (const entry of BAD_ENTRIES) {
      await writeFile(file, `{"state": {}}\n\n${entry}\n`);
      const err = await openError(data.dir);
      expect(err.code).to.equal('STORE_UNAVAILABLE');
      expect(err.message, entry).to.match(new RegExp(`^cannot load ${file}: line 3: "(state|put|drop)" must be`));
    }
  });

  it('refuses to open on such a line in the write-ahead log, naming the segment and line', async () => {
    await mkdir(join(data.dir, 'wal'), { recursive: true });
    const segment = join(data.dir, 'wal', '000000000001.jsonl');
    for (const entry of BAD_ENTRIES) {
      await writeFile(segment, `{"j": "a", "state": {}}\n${entry.replace('{', '{"j": "a", ')}\n`);
      const err = await openError(data.dir);
      expect(err.code).to.equal('STORE_UNAVAILABLE');
      expect(err.message, entry).to.match(new RegExp(`^cannot load ${segment}: line 2: "(state|put|drop)" must be`));
    }
  });

  it('opens a journal with blank lines', async () => {
    await mkdir(join(data.dir, 'jobs', 'a'), { recursive: true });
    const e = finished(makeExecution('a'));
    // As this version leaves a data dir: api-jobs.json is there (without it, a job's history with no config stops the start).
    await writeFile(join(data.dir, 'api-jobs.json'), '{"jobs":[]}');
    await writeFile(join(data.dir, 'jobs', 'a', JOURNAL_FILE), `\n{"state": {"paused": true}}\n\n\n${JSON.stringify({ put: e })}\n\n`);
    const store = await openStore();
    expect(store.jobState('a')).to.deep.equal({ paused: true });
    expect(store.getExecution('a', e.id)).to.deep.equal(e);
  });

  it('appends to a job with 100 executions, and rewrites it only at about twice the lines it needs, also after a restart', async () => {
    const file = join(data.dir, 'jobs', 'a', JOURNAL_FILE);
    let store = await openStore();
    const all = Array.from({ length: 100 }, () => finished(makeExecution('a')));
    for (const e of all) await store.addExecution(e, 1000);
    await store.checkpoint();
    // A compacted journal needs one line per execution and one for the state.
    const needed = all.length + 1;
    const first = await inode(file);
    let lines = await lineCount(file);

    /** Changes one execution, checkpoints, and says whether the journal was appended to (true) or rewritten. */
    const appended = async (round: number): Promise<boolean> => {
      await store.updateExecution({ ...all[round % all.length]!, output: `round ${round}` });
      await store.checkpoint();
      const now = await lineCount(file);
      const same = (await inode(file)) === first;
      const grewByOne = now === lines + 1;
      lines = now;
      return same && grewByOne;
    };

    let round = 0;
    while (lines < 1.5 * needed) expect(await appended(round++), `round ${round}: appended`).to.equal(true);
    // Restarted halfway: the reopened store counts the lines already there, and does not rewrite the file at open.
    await store.close();
    store = await openStore();
    expect(await inode(file)).to.equal(first);
    let longest = lines;
    while (await appended(round++)) {
      longest = lines;
      if (lines > 4 * needed) break;
    }
    expect(longest, 'lines of the journal when it was rewritten').to.be.within(2 * needed, 2 * needed + 64);
    expect(lines, 'lines once rewritten').to.be.within(needed, needed + 2);
    expect(store.listExecutions('a', { limit: 1000, offset: 0 }).total).to.equal(100);
  });
});
