/** safe-fs.ts on real files: no write ever goes through a planted symbolic link (issue 20, item 4). */
import { expect } from 'chai';
import { openSync } from 'node:fs';
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APPEND_NO_FOLLOW, mkdirInside, mkdirInsideSync, writeFileNoFollow, writeNewFile, writeTempFile } from '../../src/store/safe-fs.js';
import { removeDir, tempDir } from '../helpers/daemon-process.js';

describe('safe-fs', function () {
  let dir: string;
  let victim: string;
  beforeEach(async function () {
    dir = await tempDir('watchbell-safe-fs-');
    victim = join(dir, 'victim.txt');
    await writeFile(victim, 'keep me');
  });
  afterEach(async function () {
    await removeDir(dir);
  });

  it('writeTempFile replaces a planted link instead of writing through it, and makes the file 0600', async function () {
    const tmp = join(dir, '.journal.jsonl.tmp');
    await symlink(victim, tmp);
    await writeTempFile(tmp, 'journal');
    expect(await readFile(victim, 'utf8')).to.equal('keep me');
    expect(await readFile(tmp, 'utf8')).to.equal('journal');
    expect((await stat(tmp)).mode & 0o777).to.equal(0o600);
  });

  it('writeNewFile and writeFileNoFollow refuse a link (EEXIST, ELOOP)', async function () {
    const link = join(dir, 'link');
    await symlink(victim, link);
    await writeNewFile(link, 'x').then(() => expect.fail('wrote'), (err: NodeJS.ErrnoException) => expect(err.code).to.equal('EEXIST'));
    await writeFileNoFollow(link, 'x').then(() => expect.fail('wrote'), (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ELOOP'));
    expect(await readFile(victim, 'utf8')).to.equal('keep me');
  });

  it('APPEND_NO_FOLLOW makes opening a log fail on a link rather than append to its target', async function () {
    const link = join(dir, 'exec.log');
    await symlink(victim, link);
    expect(() => openSync(link, APPEND_NO_FOLLOW, 0o600)).to.throw().with.property('code', 'ELOOP');
    expect(await readFile(victim, 'utf8')).to.equal('keep me');
  });

  it('mkdirInside makes 0700 dirs and refuses a link on the way, sync or not', async function () {
    const root = join(dir, 'jobs');
    await mkdirInside(root, join(root, 'a', 'logs'));
    expect((await stat(join(root, 'a', 'logs'))).mode & 0o777).to.equal(0o700);
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await mkdir(join(root, 'b'), { recursive: true });
    await symlink(elsewhere, join(root, 'b', 'logs'));
    await mkdirInside(root, join(root, 'b', 'logs')).then(() => expect.fail('accepted a link'), (err: Error) => expect(err.message).to.include('is a symbolic link'));
    expect(() => mkdirInsideSync(root, join(root, 'b', 'logs'))).to.throw('is a symbolic link');
    await symlink(elsewhere, join(root, 'c'));
    expect(() => mkdirInsideSync(root, join(root, 'c', 'logs'))).to.throw(`${join(root, 'c')} in the data dir is a symbolic link`);
  });
});
