/**
 * A stand-in for the Dockerfile's `FROM` base, for building the real image where no registry is reachable:
 * a Debian bookworm rootfs from `debootstrap --variant=minbase` with THIS machine's Node (and its npm and
 * corepack) copied to /usr/local, laid out as the official node:*-bookworm-slim images are. So the stand-in
 * carries this machine's Node (20 here), not the version the FROM line names: the image test proves the
 * Dockerfile and the daemon in it, and that the code still runs on Node 20; the pinned Node line itself is
 * only exercised by a build against the real base.
 *
 * The rootfs is cached as a tarball keyed by Node's version (debootstrap takes ~30 s and needs Debian's
 * mirror); it is rebuilt when missing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where stand-ins (and the image build's npm cache) are kept between runs. */
export const CACHE_DIR = process.env.WATCHBELL_TEST_CACHE || '/var/cache/watchbell-test';

/** Bump when the recipe below changes, so old cached tarballs are not reused. */
const RECIPE = 1;

/** Where the stand-in for this machine's Node is cached. */
export function standInPath(): string {
  return join(CACHE_DIR, `bookworm-minbase-node-${process.version}-r${RECIPE}.tar`);
}

/** The cached stand-in rootfs tarball for this machine's Node: made now when missing. */
export async function standInTarball(log: (line: string) => void): Promise<string> {
  const tarball = standInPath();
  if (existsSync(tarball)) return tarball;
  const started = Date.now();
  await mkdir(CACHE_DIR, { recursive: true });
  const work = await mkdtemp(join(CACHE_DIR, 'build-'));
  try {
    const rootfs = join(work, 'rootfs');
    await run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { maxBuffer: 64 << 20 });
    await copyNode(rootfs);
    // What the official slim images have: no package lists, no downloaded .debs, sources for updates and security.
    await rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    await mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    await rm(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
    await mkdir(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
    await writeFile(join(rootfs, 'etc/apt/sources.list'), [
      'deb http://deb.debian.org/debian bookworm main',
      'deb http://deb.debian.org/debian bookworm-updates main',
      'deb http://deb.debian.org/debian-security bookworm-security main',
      '',
    ].join('\n'));
    await run('tar', ['-C', rootfs, '-cf', `${tarball}.tmp`, '.'], { maxBuffer: 64 << 20 });
    await rename(`${tarball}.tmp`, tarball);
    log(`stand-in base built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${tarball}`);
    return tarball;
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${tarball}.tmp`, { force: true });
  }
}

/** This machine's node, npm, npx and corepack under the rootfs's /usr/local, where the node images keep them. */
async function copyNode(rootfs: string): Promise<void> {
  const bin = join(rootfs, 'usr/local/bin');
  const lib = join(rootfs, 'usr/local/lib/node_modules');
  await mkdir(bin, { recursive: true });
  await mkdir(lib, { recursive: true });
  await cp(process.execPath, join(bin, 'node'));
  // npm sits beside node's prefix: /usr/lib/node_modules for /usr/bin/node, /usr/local/lib/... for /usr/local/bin/node.
  const modules = join(dirname(dirname(process.execPath)), 'lib/node_modules');
  for (const [tool, entry] of [['npm', 'npm/bin/npm-cli.js'], ['npx', 'npm/bin/npx-cli.js'], ['corepack', 'corepack/dist/corepack.js']] as const) {
    const pkg = entry.split('/')[0]!;
    if (!existsSync(join(lib, pkg))) {
      if (!existsSync(join(modules, pkg))) {
        if (pkg === 'npm') throw new Error(`npm not found in ${modules}: the stand-in needs this machine's npm`);
        continue;
      }
      await cp(join(modules, pkg), join(lib, pkg), { recursive: true, verbatimSymlinks: true });
    }
    await symlink(`../lib/node_modules/${entry}`, join(bin, tool));
  }
}
