/**
 * The packages bundled at build time (scripts/bundle-vendor.mjs, run by prepare.mjs) over tsc's re-exports in
 * dist/src/vendor/: a bundle made from other versions than the installed ones would run old code, so this fails
 * until they are rebuilt; and each bundle must give what the package gives.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Koa, Router } from '../../src/vendor/koa.js';
import { pino } from '../../src/vendor/pino.js';
import { Counter, Registry } from '../../src/vendor/prom-client.js';
import { ROOT } from '../helpers/daemon-process.js';

const BUNDLER = pathToFileURL(join(ROOT, 'scripts/bundle-vendor.mjs')).href;
const VENDOR = join(ROOT, 'dist/src/vendor');
const REBUILD = 'rebuild with `node scripts/prepare.mjs` (or `node scripts/bundle-vendor.mjs` after tsc)';
const packageJson = (name: string) => createRequire(join(ROOT, 'package.json'))(`${name}/package.json`) as { version: string };

/** The bundler's output now, made in a process of its own. */
function bundleNow(): Record<string, string> {
  const script = `const b = await import(${JSON.stringify(BUNDLER)});
    process.stdout.write(JSON.stringify(Object.fromEntries(await b.bundleVendor())));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 }));
}

describe('vendor bundles (dist/src/vendor)', function () {
  this.timeout(30_000);

  it(`are what the bundler makes of the installed packages now (${REBUILD})`, function () {
    const fresh = bundleNow();
    const sources = readdirSync(join(ROOT, 'src/vendor')).filter((n) => n.endsWith('.ts')).map((n) => n.replace(/\.ts$/, '.js'));
    expect(Object.keys(fresh).sort(), 'one per src/vendor/*.ts').to.deep.equal(sources.sort());
    for (const [name, text] of Object.entries(fresh)) {
      expect(readFileSync(join(VENDOR, name), 'utf8') === text, `${name} is stale or missing: ${REBUILD}`).to.equal(true);
    }
  });

  it('give what the packages give', async function () {
    const app = new Koa();
    const router = new Router();
    router.get('/x', (ctx) => {
      ctx.body = { ok: true };
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/x`);
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(await res.json()).to.deep.equal({ ok: true });
    } finally {
      server.close();
    }
    expect(pino.version).to.equal(packageJson('pino').version);
    const registry = new Registry();
    new Counter({ name: 'bundle_test_total', help: 'a test', registers: [registry] }).inc(2);
    expect(await registry.metrics()).to.include('bundle_test_total 2');
  });
});
