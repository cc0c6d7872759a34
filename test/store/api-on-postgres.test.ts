/**
 * The black-box tests that hold for any store, run again on the PostgreSQL store: a child mocha with
 * WATCHBELL_TEST_STORE=postgres, where every daemon gets a schema of its own (helpers/daemon-process.ts).
 * Left out: tests that look into the embedded store's files (lifecycle, crash, health's data dir checks);
 * the crash and health tests have PostgreSQL versions of their own.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon-process.js';
import { requirePostgres } from '../helpers/postgres.js';

/** The subset, as paths under dist/test/. */
export const ON_POSTGRES = ['api/jobs-api', 'api/logs', 'api/contract', 'api/bad-input', 'daemon/catch-up', 'daemon/reload'];

describe('the API black-box tests on the PostgreSQL store', function () {
  this.timeout(600_000);

  before(async function () {
    await requirePostgres(this);
  });

  it(`pass: ${ON_POSTGRES.join(', ')}`, async () => {
    const files = ON_POSTGRES.map((f) => join(ROOT, 'dist/test', `${f}.test.js`));
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/mocha/bin/mocha.js'), '--no-config', '--timeout', '60000', '--reporter', 'dot', ...files], {
      cwd: ROOT,
      env: { ...process.env, WATCHBELL_TEST_STORE: 'postgres' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, out).to.equal(0);
    expect(out).to.match(/\d+ passing/);
    expect(out, 'no test of the subset may be skipped').not.to.match(/\d+ pending/);
  });
});
