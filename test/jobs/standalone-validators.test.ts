/**
 * The schemas' validators generated at build time (scripts/generate-validators.mjs, run by prepare.mjs) must be
 * what ajv makes of the schemas in src/ now: a stale one would validate against an old schema (the daemon then
 * compiles instead, correct but slow), so this fails until they are regenerated.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIG_SCHEMA } from '../../src/config/config-schema.js';
import { JOB_INPUT_SCHEMA } from '../../src/jobs/job-schema.js';
import { checkSchema, compileLater, standaloneFileName } from '../../src/jobs/schema-validator.js';
import { ROOT } from '../helpers/daemon-process.js';

const GENERATOR = pathToFileURL(join(ROOT, 'scripts/generate-validators.mjs')).href;
const STANDALONE = join(ROOT, 'dist/src/jobs/standalone');
const REGENERATE = 'regenerate with `node scripts/prepare.mjs` (or `node scripts/generate-validators.mjs` after tsc)';

/** The generator's output, made in a process of its own so that no schema this test process made counts. */
function generateNow(): Record<string, string> {
  const script = `const g = await import(${JSON.stringify(GENERATOR)});
    process.stdout.write(JSON.stringify(Object.fromEntries(await g.generateValidators())));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

/** src/ files (relative, .ts) that call compileLater(), but the one defining it. */
function filesMakingValidators(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesMakingValidators(path);
    const file = relative(join(ROOT, 'src'), path);
    return file.endsWith('.ts') && file !== 'jobs/schema-validator.ts' && /\bcompileLater\(/.test(readFileSync(path, 'utf8')) ? [file] : [];
  });
}

describe('generated (standalone) validators', function () {
  this.timeout(30_000);

  it(`are what the generator makes of src/'s schemas now (${REGENERATE})`, function () {
    const fresh = generateNow();
    expect(Object.keys(fresh), 'one per schema').to.have.length.greaterThanOrEqual(6);
    expect(readdirSync(STANDALONE).sort(), 'the generated files').to.deep.equal(Object.keys(fresh).sort());
    for (const [name, text] of Object.entries(fresh)) {
      expect(readFileSync(join(STANDALONE, name), 'utf8') === text, `${name} is stale: ${REGENERATE}`).to.equal(true);
    }
  });

  it('cover every module that makes a validator', async function () {
    const { VALIDATING_MODULES } = await import(GENERATOR);
    const listed = (VALIDATING_MODULES as string[]).map((m) => m.replace(/\.js$/, '.ts')).sort();
    expect(filesMakingValidators().sort()).to.deep.equal(listed);
  });

  it('are the ones in use, not a compile', function () {
    const generated = createRequire(import.meta.url)(join(STANDALONE, standaloneFileName(CONFIG_SCHEMA.$id as string)));
    expect(compileLater(CONFIG_SCHEMA)()).to.equal(generated.validate);
  });

  it('give the same messages as compiling the same schema', function () {
    // A copy under another $id has no generated module: it is compiled by ajv, as a build by tsc alone would.
    const compiledConfig = compileLater({ ...CONFIG_SCHEMA, $id: 'test:config-copy' })();
    const compiledJob = compileLater({ ...JOB_INPUT_SCHEMA, $id: 'test:job-copy' })();
    expect(compiledConfig).to.not.equal(compileLater(CONFIG_SCHEMA)());
    const configs: unknown[] = [
      { version: 2, extra: 1, daemon: { listen: 5, max_concurrency: -1, shutdown_grace: 'soon' } },
      { version: 1, api: { tokens: [{ name: '', token: 3, scope: 'root' }] }, include: 'x', jobs: { 'Bad Id': {} } },
      { version: 1, notifiers: { n: { type: 'webhook', url: 'ftp://x', format: 'xml', secret: 1 } } },
    ];
    for (const doc of configs) {
      const errors = checkSchema(compileLater(CONFIG_SCHEMA)(), doc);
      expect(errors, JSON.stringify(doc)).to.not.be.empty;
      expect(errors).to.deep.equal(checkSchema(compiledConfig, doc));
    }
    const jobs: unknown[] = [
      { schedule: 5, command: 42, timeout: '1y', retries: -1, tags: 'x', environment: { 'A B': 1 } },
      { schedule: '* * * * *', container: { image: 3, pull: 'sometimes' }, concurrency: 'many', unknown: true },
    ];
    for (const job of jobs) {
      const errors = checkSchema(compileLater(JOB_INPUT_SCHEMA)(), job);
      expect(errors, JSON.stringify(job)).to.not.be.empty;
      expect(errors).to.deep.equal(checkSchema(compiledJob, job));
    }
  });
});
