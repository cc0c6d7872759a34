/** The store tests' harness: a data dir of each test's own, and the stores opened on it, closed and removed after. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowdbStore, type LowdbStoreOptions } from '../../src/store/lowdb-store.js';

export interface StoreDirs {
  /** This test's data dir. */
  readonly dir: string;
  /** A LowdbStore on `dir`, not yet opened, closed after the test. */
  make(options?: LowdbStoreOptions): LowdbStore;
  /** A LowdbStore on `dir`, opened, closed after the test. */
  open(options?: LowdbStoreOptions): Promise<LowdbStore>;
}

/** Registers the beforeEach/afterEach hooks of the enclosing describe. */
export function useStoreDirs(prefix: string): StoreDirs {
  let dir = '';
  let stores: LowdbStore[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
    stores = [];
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    make(options) {
      const store = new LowdbStore(dir, options);
      stores.push(store);
      return store;
    },
    async open(options) {
      const store = this.make(options);
      await store.open();
      return store;
    },
  };
}
