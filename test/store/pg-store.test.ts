/** The PostgreSQL store: the Store contract, migrations, and what is particular to it. */
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WatchbellError } from '../../src/jobs/errors.js';
import { connect } from '../../src/store/postgres/connection.js';
import { migrate, MIGRATIONS_DIR, shippedMigrations } from '../../src/store/postgres/migrate.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { ROOT } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';
import { describeStoreContract } from './store-contract.js';
import { describeStoreFaultContract } from './store-fault-contract.js';

describe('PostgreSQL store', () => {
  before(async function () {
    await requirePostgres(this);
  });
  after(dropTestSchemas);

  // One schema per data dir, so a store reopened on the same dir (a restarted daemon) finds its data.
  const urls = new Map<string, string>();
  describeStoreContract('PgStore', (dir) => {
    if (!urls.has(dir)) urls.set(dir, testStoreUrl());
    return new PgStore({ url: urls.get(dir)!, dataDir: dir });
  });
  describeStoreFaultContract('PgStore', (dir, disk) => {
    if (!urls.has(dir)) urls.set(dir, testStoreUrl());
    return new PgStore({ url: urls.get(dir)!, dataDir: dir, writeFault: disk?.fault });
  });

  describe('migrations', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'watchbell-pg-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('applies the shipped migrations once, recorded in schema_migrations, even when two daemons start at once', async () => {
      const url = testStoreUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      // Four at once: without the lock, two of them racing to create the schema fail most runs.
      const stores = Array.from({ length: 4 }, () => new PgStore({ url, dataDir: dir }));
      await Promise.all(stores.map((s) => s.open()));
      await Promise.all(stores.map((s) => s.close()));
      const shipped = await shippedMigrations();
      const rows = await sql<{ version: number; name: string }>(`SELECT version, name FROM "${schema}".schema_migrations ORDER BY version`);
      expect(rows).to.deep.equal(shipped.map((m) => ({ version: m.version, name: m.name })));
      const tables = await sql<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
      expect(tables.map((t) => t.table_name)).to.deep.equal(['api_jobs', 'cancel_requests', 'config_fingerprints', 'executions', 'job_states', 'log_chunks', 'nodes', 'run_queue', 'schema_migrations', 'slot_claims']);
    });

    it('ships its migrations in the package and in the image, where the running code finds them', async () => {
      const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
      expect(pkg.files).to.include('migrations');
      expect(await readFile(join(ROOT, 'Dockerfile'), 'utf8')).to.match(/^COPY migrations \.\/migrations$/m);
      expect(MIGRATIONS_DIR).to.equal(join(ROOT, 'migrations/postgres/'));
      expect((await shippedMigrations()).map((m) => m.version)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    });

    it('refuses to open a schema newer than it knows, saying so', async () => {
      const url = testStoreUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      const first = new PgStore({ url, dataDir: dir });
      await first.open();
      await first.close();
      await sql(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (9999, 'from_the_future')`);
      const err = await new PgStore({ url, dataDir: dir }).open().then(() => null, (e: WatchbellError) => e);
      expect(err?.code).to.equal('STORE_UNAVAILABLE');
      expect(err?.message).to.match(/has schema version 9999, newer than this watchbell knows \(\d+\): a newer watchbell migrated it/);
    });

    it('leaves the schema as it was when a migration fails, and never shows the password', async () => {
      const url = testStoreUrl();
      const schema = new URL(url).searchParams.get('schema')!;
      const conn = await connect(url.replace('postgres@', 'postgres:s3cret-pw@'));
      try {
        const broken = [...(await shippedMigrations()), { version: 9998, name: 'broken', sql: 'CREATE TABLE nope (' }];
        const err = await migrate(conn, broken).then(() => null, (e: Error) => conn.unavailable(e, 'migrating'));
        expect(err?.message).to.include('syntax error');
        expect(err?.message).not.to.include('s3cret-pw');
        expect(conn.url.shown).to.include(':***@');
        const left = await sql('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema]);
        expect(left).to.deep.equal([]);
      } finally {
        await conn.end();
      }
    });
  });
});
