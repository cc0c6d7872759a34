/**
 * Versioned SQL migrations (migrations/postgres/NNNN_name.sql in the package), applied at start in one
 * transaction under an advisory lock, so two daemons starting at once migrate once and a failed
 * migration leaves the schema as it was.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PoolClient } from 'pg';
import { WatchbellError } from '../../jobs/errors.js';
import type { Connection } from './connection.js';

/** From dist/src/store/postgres/ (and src/store/postgres/) up to the package root. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../../migrations/postgres/', import.meta.url));
const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations this version ships, oldest first. */
export async function shippedMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new WatchbellError('STORE_UNAVAILABLE', `the PostgreSQL migrations are missing from ${dir} (a broken install?)`, { cause: err });
  }
  const out: Migration[] = [];
  for (const file of names.sort()) {
    const m = FILE_RE.exec(file);
    if (m) out.push({ version: Number(m[1]), name: m[2]!, sql: await readFile(`${dir}${file}`, 'utf8') });
  }
  if (out.length === 0) throw new WatchbellError('STORE_UNAVAILABLE', `no PostgreSQL migrations in ${dir} (a broken install?)`);
  return out;
}

/** Brings the store's schema up to the newest shipped version; returns the versions it applied. */
export async function migrate(conn: Connection, migrations?: Migration[]): Promise<number[]> {
  const shipped = migrations ?? (await shippedMigrations());
  const known = shipped[shipped.length - 1]!.version;
  const schema = conn.schema;
  return conn.transaction(async (client) => {
    // A transaction-level lock, per schema: released by COMMIT or ROLLBACK, whatever happens to this process.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`watchbell:migrate:${conn.url.schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const current = await currentVersion(client);
    if (current > known) {
      throw new WatchbellError(
        'STORE_UNAVAILABLE',
        `the store ${conn.url.shown} has schema version ${current}, newer than this watchbell knows (${known}): ` +
          'a newer watchbell migrated it; run that version, or restore a backup taken before the upgrade',
      );
    }
    const applied: number[] = [];
    for (const m of shipped) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

async function currentVersion(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return rows[0]?.v ?? 0;
}
