/**
 * Does recording an execution get slower as the store grows? Times addExecution + updateExecution
 * (to finished) into a job at its history_limit, with 100 executions stored in all, then with
 * 100,000 (1,000 jobs x history_limit 100). Prints both and the ratio; the target is < 1.5, and
 * the exit code is 1 above it. Records alternate between the two stores, so the disk's slow
 * moments hit both alike.
 *
 *   npx tsc -p . && node dist/bench/store-growth.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowdbStore } from '../src/store/lowdb-store.js';
import { recordTimes, seed } from './execution-fixtures.js';
import { median, printResult } from './result-line.js';

const HISTORY_LIMIT = 100;
const BIG_JOBS = 1000;
const WARMUP = 50;
const RECORDS = 500;
const TARGET = 1.5;
async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'watchbell-bench-'));
  const small = new LowdbStore(join(root, 'small'));
  const big = new LowdbStore(join(root, 'big'));
  try {
    await Promise.all([small.open(), big.open()]);
    let t = performance.now();
    await seed(small, 1, HISTORY_LIMIT, 100);
    await seed(big, BIG_JOBS, HISTORY_LIMIT, 100);
    const stored = (s: LowdbStore) => s.listAllExecutions({ limit: 0, offset: 0 }).total;
    console.log(`seeded ${stored(small)} and ${stored(big)} executions in ${((performance.now() - t) / 1000).toFixed(1)}s`);

    t = performance.now();
    const times = await recordTimes(small, big, { bigJobs: BIG_JOBS, warmup: WARMUP, records: RECORDS, historyLimit: HISTORY_LIMIT });
    const base = median(times.small);
    const grown = median(times.big);
    const ratio = grown / base;
    console.log(`record one execution (add + finish), history_limit ${HISTORY_LIMIT}, median of ${RECORDS} records:`);
    console.log(`  ${String(stored(small)).padStart(7)} stored: ${base.toFixed(3)} ms/record`);
    console.log(`  ${String(stored(big)).padStart(7)} stored: ${grown.toFixed(3)} ms/record`);
    console.log(`  ratio ${ratio.toFixed(2)} (target < ${TARGET}) ${ratio < TARGET ? 'OK' : 'TOO SLOW'}; measured in ${((performance.now() - t) / 1000).toFixed(1)}s`);
    printResult({
      bench: 'store-growth',
      figures: [{ what: `store growth: record time with ${stored(big)} / ${stored(small)} stored`, value: ratio, unit: 'ratio', target: `< ${TARGET}`, pass: ratio < TARGET,
        note: `median ${base.toFixed(3)} ms vs ${grown.toFixed(3)} ms per record (add + finish), ${RECORDS} records each` }],
    });
    if (ratio >= TARGET) process.exitCode = 1;
  } finally {
    await Promise.all([small.close(), big.close()]);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
