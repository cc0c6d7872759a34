/** `watchbell store copy --from A --to B`: moves an installation between a data dir and PostgreSQL. */
import { resolve } from 'node:path';
import { maskStoreUrl, storeUrlProblem } from '../config/store-url.js';
import { isWatchbellError, WatchbellError } from '../jobs/errors.js';
import { copyStore, deleteAll, embeddedJobIds, type StoreEnd } from '../store/copy-store.js';
import { acquireDataDirLock } from '../store/data-dir-lock.js';
import { LowdbStore } from '../store/lowdb-store.js';
import { UsageError } from './usage-error.js';
import { findVerb, type Parsed } from './verbs.js';

const isUrl = (s: string) => /^postgres(ql)?:\/\//.test(s);

/** Copies, prints the counts; exit 1 with a message when refused or failed. */
export async function runStoreCommand(args: Parsed): Promise<number> {
  const verb = findVerb('store')!;
  if (args.positionals[0] !== 'copy') throw new UsageError(`unknown action ${JSON.stringify(args.positionals[0])}; expected copy`, verb);
  const from = args.text('from');
  const to = args.text('to');
  if (!from || !to) throw new UsageError('store copy needs --from and --to (a data dir or a postgres:// URL each)', verb);
  for (const [flag, value] of [['--from', from], ['--to', to]] as const) {
    const problem = isUrl(value) ? storeUrlProblem(value) : null;
    if (problem) throw new UsageError(`${flag} ${maskStoreUrl(value)} ${problem}`, verb);
  }
  // A URL end keeps its log files in a local data dir: --data, else the other end's dir (the logs stay where they are).
  const localDir = args.text('data') ?? (!isUrl(from) ? from : !isUrl(to) ? to : undefined);
  if (!localDir) throw new UsageError('copying between two URLs needs --data DIR for the log files', verb);
  const show = (end: string) => (isUrl(end) ? maskStoreUrl(end) : resolve(end));
  const releasers: Array<() => Promise<void>> = [];
  try {
    // Every local dir involved is locked, so no daemon uses it meanwhile (and none starts).
    const dirs = new Set([from, to, localDir].filter((e) => !isUrl(e)).map((d) => resolve(d)));
    for (const dir of dirs) releasers.push(await acquireDataDirLock(dir));
    const source = await openEnd(from, localDir, releasers);
    const target = await openEnd(to, localDir, releasers);
    const counts = await copyStore(source, target, { force: args.flag('force'), describeTarget: show(to) });
    process.stdout.write(
      `copied ${counts.jobs} API job${counts.jobs === 1 ? '' : 's'}, ${counts.states} job state${counts.states === 1 ? '' : 's'}, ` +
        `${counts.executions} execution${counts.executions === 1 ? '' : 's'} and ${counts.logs} log${counts.logs === 1 ? '' : 's'} from ${show(from)} to ${show(to)}\n`,
    );
    return 0;
  } catch (err) {
    if (!isWatchbellError(err)) throw err;
    process.stderr.write(`watchbell: store copy: ${err.message}\n`);
    return 1;
  } finally {
    while (releasers.length) await releasers.pop()!().catch(() => undefined);
  }
}

/** Opens one end: a data dir or a PostgreSQL URL. */
async function openEnd(end: string, localDir: string, releasers: Array<() => Promise<void>>): Promise<StoreEnd> {
  if (isUrl(end)) {
    const { PgStore } = await import('../store/postgres/pg-store.js');
    const store = new PgStore({ url: end, dataDir: localDir });
    await store.open();
    releasers.push(() => store.close());
    return { store, jobIds: async () => store.stateJobIds(), clear: () => store.clear(), saveLog: (j, e) => store.saveLog(j, e) };
  }
  const dir = resolve(end);
  const store = new LowdbStore(dir);
  await store.open();
  releasers.push(() => store.close());
  const opened: StoreEnd = {
    store,
    jobIds: () => embeddedJobIds(dir),
    clear: async () => {
      // Its job dirs hold the logs the PostgreSQL end reads: deleting them would lose those logs.
      if (dir === resolve(localDir)) {
        throw new WatchbellError('VALIDATION_FAILED', `--force would delete the log files in ${dir}, which the PostgreSQL end uses; copy to a new data dir instead`);
      }
      await deleteAll(opened);
    },
  };
  return opened;
}
