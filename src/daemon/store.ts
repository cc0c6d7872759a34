/** The daemon's store (embedded or PostgreSQL), and the engine client loaded early when a job will need it. */
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.js';
import type { DaemonSettings } from '../config/settings.js';
import { logLostAndFound } from '../logger.js';
import { loadEngineClient } from '../run/container/docker-engine.js';
import { LowdbStore } from '../store/lowdb-store.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';

/** Opens the store `settings` name and logs what the embedded store moved aside. */
export async function openDaemonStore(settings: DaemonSettings, log: Logger): Promise<Store> {
  const store = await openStore(settings);
  // The embedded store moves what it cannot read aside at open; PostgreSQL has no such files.
  if (store instanceof LowdbStore) logLostAndFound(store.lostAndFound, log);
  return store;
}

/**
 * True when a job may run in a container, and then starts loading the engine client in the background.
 * It is loaded only where a job runs in a container (docs/benchmarks.md: lean start).
 */
export function preloadEngineClient(settings: DaemonSettings, config: Config, store: Store): boolean {
  const usesEngine = settings.docker_labels || hasContainerJob(config.jobs.map((j) => j.spec)) || hasContainerJob(store.apiJobs());
  if (usesEngine) void loadEngineClient().catch(() => undefined);
  return usesEngine;
}

/** True when a job runs in a container (a job's steps reach the engine client at their first run). */
export function hasContainerJob(jobs: ReadonlyArray<{ container?: unknown }>): boolean {
  return jobs.some((j) => j.container);
}
