// Makes `npm start` and `npm test` work right after `git clone`: installs the locked dependencies when
// node_modules is missing or older than package-lock.json, compiles, writes the schemas' validators as ajv
// standalone code (generate-validators.mjs: the daemon then compiles no schema at start), bundles the packages
// of the daemon's start into one file each (bundle-vendor.mjs: fewer files to load), and builds the dashboard
// (ui/) into ui/dist when its sources are newer than what was built (a no-op otherwise, so `npm start` stays quick).
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

installIfStale('.');
execSync('npx --no-install tsc -p tsconfig.json', { stdio: 'inherit' });
// After tsc: the generator reads the schemas from the compiled modules, and rewrites only what changed; the
// vendor bundles replace tsc's re-exports in dist/src/vendor/ (bundle-vendor.mjs).
await (await import('./generate-validators.mjs')).writeValidators();
await (await import('./bundle-vendor.mjs')).writeVendor();

// A package installed from the registry ships ui/dist and no ui/src: nothing to build.
if (existsSync('ui/src')) {
  const built = 'ui/dist/index.html';
  const sources = ['ui/src', 'ui/public', 'ui/index.html', 'ui/vite.config.ts', 'ui/package-lock.json'];
  if (!existsSync(built) || newest(sources) > statSync(built).mtimeMs) {
    installIfStale('ui');
    console.error('watchbell: building the dashboard (ui/ -> ui/dist)...');
    execSync('npx --no-install vite build --logLevel warn', { cwd: 'ui', stdio: 'inherit' });
  }
}

function installIfStale(dir) {
  const marker = join(dir, 'node_modules/.package-lock.json');
  const lock = join(dir, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  console.error(`watchbell: installing dependencies in ${dir} (npm ci)...`);
  execSync('npm ci --no-audit --no-fund', { cwd: dir, stdio: 'inherit' });
}

/** The latest modification time of the files under `paths`. */
function newest(paths) {
  let latest = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const s = statSync(p);
    latest = Math.max(latest, s.isDirectory() ? newest(readdirSync(p).map((n) => join(p, n))) : s.mtimeMs);
  }
  return latest;
}
