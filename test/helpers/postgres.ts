/**
 * The PostgreSQL the tests use: WATCHBELL_TEST_PG (default postgres://postgres@127.0.0.1:5432/test, the
 * server every machine of this project runs). Each caller gets a schema of its own, dropped by
 * dropTestSchemas(). Without a server the suites skip with one loud line, except in CI (CI=true or
 * WATCHBELL_REQUIRE_POSTGRES=1), where they fail: a PostgreSQL test must never pass by not running.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_PG_URL = process.env.WATCHBELL_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRED = process.env.CI === 'true' || process.env.WATCHBELL_REQUIRE_POSTGRES === '1';

const created = new Set<string>();
let reachable: Promise<string | null> | undefined;

/** Null when the test server answers, else why not. */
function probe(): Promise<string | null> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * In a `before` hook: skips the suite when no server answers (fails in CI). Returns true when it runs.
 */
export async function requirePostgres(ctx: Mocha.Context): Promise<boolean> {
  const problem = await probe();
  if (problem === null) return true;
  if (REQUIRED) throw new Error(`the PostgreSQL tests need a server at ${TEST_PG_URL} (CI=true): ${problem}; start it with pg_ctlcluster`);
  console.warn(`\n!!! SKIPPED PostgreSQL tests: no server at ${TEST_PG_URL} (${problem}) !!!\n`);
  ctx.skip();
  return false;
}

/** A store URL with a fresh schema name (created by the store's migrations at open). */
export function testStoreUrl(base = TEST_PG_URL): string {
  const schema = `wb_test_${randomBytes(6).toString('hex')}`;
  created.add(`${base}\n${schema}`);
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** Runs SQL against the test server (or `base`). */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], base = TEST_PG_URL): Promise<R[]> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Drops every schema testStoreUrl() handed out: one statement per server, so a file that made dozens commits
 * (and syncs) once rather than once per schema, which on a loaded machine outran the hook's timeout.
 */
export async function dropTestSchemas(): Promise<void> {
  const byBase = new Map<string, string[]>();
  for (const key of created) {
    const [base, schema] = key.split('\n') as [string, string];
    byBase.set(base, [...(byBase.get(base) ?? []), schema]);
  }
  created.clear();
  for (const [base, schemas] of byBase) {
    await sql(`DROP SCHEMA IF EXISTS ${schemas.map((s) => `"${s}"`).join(', ')} CASCADE`, [], base).catch(() => undefined);
  }
}
