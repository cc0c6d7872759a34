import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGroupAlive, stopProcessGroup } from '../../src/run/process-tree.js';
import { isAlive, killAll, readPids, tempDir, waitFor } from './helpers.js';

/** Starts `script` under sh as its own process group; it must write its pids to $PIDS. */
function startGroup(script: string, pidFile: string): number {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: { ...process.env, PIDS: pidFile } });
  child.on('error', () => {});
  return child.pid!;
}

describe('run/process-tree', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leftovers: number[] = [];

  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => {
    killAll(leftovers);
    leftovers = [];
    await cleanup();
  });

  it('stops a shell and its background children with SIGTERM, without waiting the grace', async () => {
    const pidFile = join(dir, 'pids');
    const pid = startGroup('sleep 1000 & echo $! >> "$PIDS"; sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait', pidFile);
    leftovers = await readPids(pidFile, 3);
    expect(leftovers).to.include(pid);

    const t0 = Date.now();
    await stopProcessGroup(pid, 5000);
    expect(Date.now() - t0).to.be.below(4000);
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
    expect(await isGroupAlive(pid)).to.equal(false);
  });

  it('sends SIGKILL after the grace when the group ignores SIGTERM', async () => {
    const pidFile = join(dir, 'pids');
    const pid = startGroup(`trap '' TERM; sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait`, pidFile);
    leftovers = await readPids(pidFile, 2);

    const t0 = Date.now();
    await stopProcessGroup(pid, 300);
    expect(Date.now() - t0).to.be.at.least(290);
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
  });

  it('kills running groups when the daemon process exits without stopping them', async () => {
    const pidFile = join(dir, 'pids');
    const command = fileURLToPath(new URL('../../src/run/command.js', import.meta.url));
    // A stand-in for a daemon that crashes while a job runs.
    const script = `
      import { runAttempt } from ${JSON.stringify(command)};
      import { readFileSync } from 'node:fs';
      void runAttempt({ command: 'sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait', environment: {},
        workingDirectory: null, timeoutMs: 60000, killGraceMs: 500, log: { write() {}, note() {} },
        signal: new AbortController().signal });
      const poll = setInterval(() => {
        let text = '';
        try { text = readFileSync(process.env.PIDS, 'utf8'); } catch {}
        if (text.split('\\n').filter(Boolean).length >= 2) { clearInterval(poll); process.exit(3); }
      }, 20);`;
    const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: 'inherit',
      env: { ...process.env, PIDS: pidFile },
    });
    const code = await new Promise((resolve) => daemon.on('exit', resolve));
    expect(code).to.equal(3);
    leftovers = await readPids(pidFile, 2);
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'the orphaned job to be killed');
  });

  it('returns at once for a group that is already gone', async () => {
    const child = spawn('true', { detached: true, stdio: 'ignore' });
    await new Promise((resolve) => child.on('exit', resolve));
    const t0 = Date.now();
    await stopProcessGroup(child.pid!, 5000);
    expect(Date.now() - t0).to.be.below(1000);
    expect(await isGroupAlive(child.pid!)).to.equal(false);
  });
});
