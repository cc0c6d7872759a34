/** The dashboard's sources type-check (Vite's build does not), and what ships stays within its size budget. */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { ROOT } from '../helpers/daemon-process.js';

const BUDGET_GZIP_BYTES = 150 * 1024;

describe('dashboard build', function () {
  this.timeout(120_000);

  it('type-checks ui/ (strict)', async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const { stdout } = await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'ui')]).catch((err: { stdout: string }) => err);
    expect(stdout.trim(), stdout).to.equal('');
  });

  it(`ships less than ${BUDGET_GZIP_BYTES / 1024} KB gzipped`, async () => {
    const dist = join(ROOT, 'ui/dist');
    const files = (await readdir(dist, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    let total = 0;
    for (const f of files) total += gzipSync(await readFile(join(f.parentPath, f.name)), { level: 9 }).length;
    expect(files.some((f) => f.name === 'index.html')).to.equal(true);
    expect(total).to.be.below(BUDGET_GZIP_BYTES);
  });
});
