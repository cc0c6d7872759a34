/**
 * deploy/watchbell.service: `systemd-analyze verify` finds nothing to say, and the hardening is what
 * docs/operations.md describes. systemd-analyze comes with Debian's `systemd` package (it need not be PID 1).
 * In CI (CI=true) a missing systemd-analyze fails these tests.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDir, ROOT, tempDir } from '../helpers/daemon-process.js';

const UNIT = join(ROOT, 'deploy', 'watchbell.service');

/** The unit's settings of one key, in order. */
function settings(text: string, key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('deploy/watchbell.service', function () {
  this.timeout(30_000);
  let text: string;

  before(async function () {
    text = await readFile(UNIT, 'utf8');
  });

  it('passes systemd-analyze verify without a warning', async function () {
    if (spawnSync('systemd-analyze', ['--version']).error !== undefined) {
      if (process.env.CI === 'true') throw new Error('systemd-analyze is missing: install the Debian package "systemd"');
      console.warn('    !!! SKIPPED: systemd-analyze is not installed (Debian package "systemd"); this test fails in CI');
      this.skip();
    }
    let unit = UNIT;
    let dir: string | undefined;
    if (!existsSync('/usr/bin/node')) {
      // verify checks that ExecStart's program exists: point it at this Node, changing nothing else.
      dir = await tempDir();
      unit = join(dir, 'watchbell.service');
      await writeFile(unit, text.replaceAll('/usr/bin/node', process.execPath));
    }
    try {
      const out = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      // It exits 0 on an unknown key or a bad value, only saying so: any output is a failure.
      expect(`${out.stdout}${out.stderr}`).to.equal('');
      expect(out.status).to.equal(0);
    } finally {
      if (dir) await removeDir(dir);
    }
  });

  it('is read-only but for the data dir, as the docs say, with /var/backups as a commented example', function () {
    expect(settings(text, 'ProtectSystem')).to.deep.equal(['strict']);
    expect(settings(text, 'ReadWritePaths')).to.deep.equal(['/var/lib/watchbell']);
    expect(settings(text, 'ExecStart')[0]).to.include('--data /var/lib/watchbell');
    expect(text).to.match(/^#ReadWritePaths=\/var\/backups$/m);
    expect(settings(text, 'PrivateTmp')).to.deep.equal(['yes']);
    expect(settings(text, 'NoNewPrivileges')).to.deep.equal(['yes']);
  });

  it('raises the open-file limit well above what the connection cap and running jobs need', function () {
    const [limit] = settings(text, 'LimitNOFILE');
    expect(Number(limit)).to.be.at.least(16_384);
  });
});
