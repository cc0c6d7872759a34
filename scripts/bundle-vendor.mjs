// Replaces the compiled src/vendor/*.js (plain re-exports of packages) with one bundled file each, holding the
// package and everything it requires (run by prepare.mjs after tsc, and by the Dockerfile): loading ~150
// CommonJS files one by one was the largest share of an empty daemon's start (src/vendor/koa.ts says more).
// Without this step the plain re-exports work the same, only slower. Packages a daemon loads only when its
// config needs them (dockerode, nodemailer, pg, ws, pino-pretty...) stay out: they are imported where they are
// used, from node_modules. test/vendor/bundles.test.ts fails when a bundle differs from what this would write.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = new URL('../src/vendor/', import.meta.url);
export const OUT_DIR = new URL('../dist/src/vendor/', import.meta.url);

/**
 * JSON files (mime-db's 200 KiB table, under koa) as `JSON.parse` of a string, as require() reads them: esbuild
 * would write them as object literals, which V8 compiles several times slower (~60 ms of the koa bundle's load).
 */
const jsonAsParse = {
  name: 'json-as-parse',
  setup(b) {
    b.onLoad({ filter: /\.json$/ }, (args) => ({
      contents: `module.exports = JSON.parse(${JSON.stringify(JSON.stringify(JSON.parse(readFileSync(args.path, 'utf8'))))});`,
      loader: 'js',
    }));
  },
};

/** file name -> the bundled module's text, one per src/vendor/*.ts. */
export async function bundleVendor() {
  const files = new Map();
  for (const name of readdirSync(SRC).filter((n) => n.endsWith('.ts')).sort()) {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: [fileURLToPath(new URL(name, SRC))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'warning',
      plugins: [jsonAsParse],
      // The bundled CommonJS code calls require() for Node's own modules; an ES module has none of its own.
      banner: {
        js: `// Bundled by scripts/bundle-vendor.mjs from src/vendor/${name}: do not edit.\n` +
          "import { createRequire as __vendorRequire } from 'node:module';\nconst require = __vendorRequire(import.meta.url);",
      },
    });
    files.set(name.replace(/\.ts$/, '.js'), result.outputFiles[0].text);
  }
  return files;
}

/** Writes the bundles over tsc's re-exports (only those that differ). */
export async function writeVendor() {
  const files = await bundleVendor();
  for (const [name, text] of files) {
    let old;
    try { old = readFileSync(new URL(name, OUT_DIR), 'utf8'); } catch { /* not compiled yet */ }
    if (old !== text) writeFileSync(new URL(name, OUT_DIR), text);
    // tsc's source map describes the re-export this replaced.
    rmSync(new URL(`${name}.map`, OUT_DIR), { force: true });
  }
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) await writeVendor();
