/** Picks the store `daemon.store` names: PostgreSQL for a postgres:// URL, else the embedded data dir. */
import type { DaemonSettings } from '../config/settings.js';
import { maskStoreUrl } from '../config/store-url.js';
import { LowdbStore } from './lowdb-store.js';
import type { Store } from './store.js';

/** Opens the configured store; `pg` is loaded only for a PostgreSQL one (docs/benchmarks.md: lean start). */
export async function openStore(settings: Pick<DaemonSettings, 'data_dir' | 'store'>): Promise<Store> {
  let store: Store;
  if (settings.store) {
    const { PgStore } = await import('./postgres/pg-store.js');
    store = new PgStore({ url: settings.store, dataDir: settings.data_dir });
  } else {
    store = new LowdbStore(settings.data_dir);
  }
  await store.open();
  return store;
}

/** Where the store is, as /health and logs may show it: the data dir, or the URL without its password. */
export function storeLocation(settings: Pick<DaemonSettings, 'data_dir' | 'store'>): { kind?: 'postgres'; url?: string; data_dir: string } {
  if (!settings.store) return { data_dir: settings.data_dir };
  return { kind: 'postgres', url: maskStoreUrl(settings.store), data_dir: settings.data_dir };
}
