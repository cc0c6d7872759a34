/**
 * A child process for the kill -9 test: takes the data dir lock, then records executions of three
 * jobs at once without pause, printing `exec <jobId> <executionId>` and `job <jobId>` once a write
 * has resolved.
 */
import { acquireDataDirLock } from '../../src/store/data-dir-lock.js';
import { LowdbStore } from '../../src/store/lowdb-store.js';
import { finished, makeExecution, makeJob } from './store-contract.js';

const dataDir = process.argv[2]!;
await acquireDataDirLock(dataDir);
const store = new LowdbStore(dataDir);
await store.open();

async function writer(jobId: string): Promise<never> {
  for (let n = 0; ; n++) {
    const e = makeExecution(jobId, { output: 'x'.repeat(500) });
    await store.addExecution(e, 100_000);
    process.stdout.write(`exec ${jobId} ${e.id}\n`);
    if (n % 2 === 0) await store.updateExecution(finished(e));
    if (n % 5 === 0) {
      await store.saveApiJob(makeJob(jobId, { updated_at: new Date().toISOString() }));
      process.stdout.write(`job ${jobId}\n`);
    }
  }
}

await Promise.all(['a', 'b', 'c'].map(writer));
