/**
 * The podman command line on a private store (its own --root and --runroot in a temp dir) with the
 * containers.conf that works in these sandboxes (test/helpers/container-engine.ts), for the image test.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTAINERS_CONF } from '../helpers/container-engine.js';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export class Podman {
  private constructor(readonly dir: string) {}

  /** A podman with a store of its own under a new temp dir. */
  static async create(): Promise<Podman> {
    const dir = await mkdtemp('/tmp/wbi-');
    await writeFile(join(dir, 'containers.conf'), CONTAINERS_CONF);
    return new Podman(dir);
  }

  /** Runs `podman ARGS`; resolves with its exit code and output whatever the code. */
  run(args: string[], timeoutMs = 120_000): Promise<Ran> {
    const all = ['--root', join(this.dir, 'storage'), '--runroot', join(this.dir, 'run'), ...args];
    return new Promise((resolve) => {
      execFile('podman', all, { env: { ...process.env, CONTAINERS_CONF: join(this.dir, 'containers.conf') }, maxBuffer: 64 << 20, timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        // Podman logs each healthcheck's missing systemd timer: noise here, where no systemd runs.
        resolve({ code, stdout, stderr: stderr.split('\n').filter((l) => !l.includes('systemd connection')).join('\n') });
      });
    });
  }

  /** Runs `podman ARGS` and resolves with its stdout; throws with its stderr on a non-zero exit. */
  async ok(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** Removes every container, volume and image of this store, then the store. */
  async destroy(): Promise<void> {
    await this.run(['rm', '-af', '-t', '0']);
    await this.run(['volume', 'rm', '-af']);
    await this.run(['rmi', '-af']);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
