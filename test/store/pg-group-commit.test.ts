/**
 * Group commit (src/store/postgres/group-commit.ts): the writes of many jobs in one event-loop turn go
 * as one text, one commit; values of any content survive being made literals; a statement the database
 * refuses fails alone.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Connection } from '../../src/store/postgres/connection.js';
import { migrate } from '../../src/store/postgres/migrate.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { dropTestSchemas, requirePostgres, testStoreUrl } from '../helpers/postgres.js';
import { finished, makeExecution, makeJob } from './store-contract.js';

const NASTY = ["it's", 'back\\slash', '$1 and $2', 'line\nbreak', 'héllo ✓ 𝄞', "'); DROP TABLE executions; --", '\u0001'];

describe('PostgreSQL group commit', () => {
  let dir: string;

  before(async function () {
    await requirePostgres(this);
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-pg-group-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  after(dropTestSchemas);

  it('sends the writes of 100 jobs made at once as a few texts, and keeps every value as given', async () => {
    const url = testStoreUrl();
    const store = new PgStore({ url, dataDir: dir });
    await store.open();
    // Counted on the real pool: what reaches the database, not what the store says.
    const pool = (store as unknown as { conn: Connection }).conn.pool;
    const sent: string[] = [];
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      sent.push(String(args[0]));
      return query(...args);
    };
    const executions = Array.from({ length: 100 }, (_, i) => finished(makeExecution(`job-${i}`), 'success'));
    const withText = executions.map((e, i) => ({ ...e, output: NASTY[i % NASTY.length]!, error: NASTY[(i + 1) % NASTY.length]! }));
    await Promise.all([
      ...withText.map((e) => store.addExecution(e, 10)),
      ...withText.map((e, i) => store.saveJobState(e.job_id, { fingerprint: NASTY[i % NASTY.length]!, paused: i % 2 === 0 })),
      store.saveApiJob(makeJob('api', { command: NASTY.join(' '), environment: { A: NASTY[5]! } })),
    ]);
    expect(sent.length, `${sent.length} texts for 201 writes`).to.be.at.most(10);
    await store.close();

    const again = new PgStore({ url, dataDir: dir });
    await again.open();
    try {
      for (const [i, e] of withText.entries()) {
        expect(again.getExecution(e.job_id, e.id)).to.deep.equal(e);
        expect(again.jobState(e.job_id)).to.deep.equal({ fingerprint: NASTY[i % NASTY.length], paused: i % 2 === 0 });
      }
      expect(again.apiJobs()).to.deep.equal([makeJob('api', { command: NASTY.join(' '), environment: { A: NASTY[5]! } })]);
    } finally {
      await again.close();
    }
  });

  it('fails only the statement the database refuses when it went in a group', async () => {
    const url = testStoreUrl();
    const conn = await connect(url);
    try {
      await migrate(conn);
      const insert = (id: string) =>
        conn.writes.query(`INSERT INTO ${conn.schema}.job_states (job_id, state) VALUES ($1, $2)`, [id, '{}']).then(() => 'ok', (err: { code?: string }) => err.code);
      const first = await insert('dup');
      const results = await Promise.all(['a', 'dup', 'b', 'c'].map(insert));
      expect([first, ...results]).to.deep.equal(['ok', 'ok', '23505', 'ok', 'ok']);
      const { rows } = await conn.pool.query(`SELECT job_id FROM ${conn.schema}.job_states ORDER BY 1`);
      expect(rows.map((r: { job_id: string }) => r.job_id)).to.deep.equal(['a', 'b', 'c', 'dup']);
    } finally {
      await conn.end();
    }
  });
});
