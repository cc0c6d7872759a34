// Makes `npm start` and `npm test` work right after `git clone`: installs the locked
// dependencies when node_modules is missing or older than package-lock.json, then compiles.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.error('watchbell: installing dependencies (npm ci)...');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
execSync('npx --no-install tsc -p tsconfig.json', { stdio: 'inherit' });
