/**
 * Black-box: the real daemon with its data dir on a 4 MiB tmpfs, filled by API writes and by a job's
 * output until the disk refuses. While it is full every write answers 2xx or 503 STORE_UNAVAILABLE,
 * never 500; a refused write is not applied (not now, not after space comes back and a good write
 * succeeds, not after a restart); and no execution is left `in_progress` that is not running.
 */
import { expect } from 'chai';
import { open, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type ApiReply, type DaemonProcess } from '../helpers/daemon-process.js';
import { mountTmpfs, skipUnlessMounted, unmount } from './tmpfs.js';

const JOBS = '/api/v1/jobs';

/** Fills what is left of the file system holding `dir` with one file; returns its path. */
async function fillDisk(dir: string): Promise<string> {
  const path = join(dir, 'filler.bin');
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (;;) {
      try {
        await fh.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // Smaller pieces, down to the last page.
    for (const size of [4096, 512, 1]) {
      for (;;) {
        try {
          const { bytesWritten } = await fh.write(chunk.subarray(0, size));
          if (bytesWritten === 0) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    await fh.close();
  }
  return path;
}

/** A job body with some bulk, so a few hundred of them fill the disk. */
function jobBody(id: string): Record<string, unknown> {
  return { id, schedule: '0 0 1 1 *', command: 'true', environment: { PAD: 'x'.repeat(8000) } };
}

describe('faults: a full disk', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  let mounted = false;
  const daemons: DaemonProcess[] = [];

  before(async function () {
    dir = await tempDir('watchbell-diskfull-');
    data = join(dir, 'data');
    const why = await mountTmpfs(data, '4m');
    mounted = why === null;
    skipUnlessMounted(this, why);
  });

  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL');
    if (mounted) await unmount(data);
    await removeDir(dir);
  });

  it('answers 503 and applies nothing it refused, after space returns and after a restart; leaves no ghost in_progress', async () => {
    // A per-second job keeps asking the store to record starts while the disk is full.
    const config = configText('  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    history_limit: 5\n');
    // Ballast, deleted to give space back, as an operator would free some.
    const ballast = join(data, 'ballast.bin');
    await writeFile(ballast, Buffer.alloc(2 * 1024 * 1024, 0x62));
    // A smaller piece, freed first: a delete is a line in the write-ahead log and frees nothing until a checkpoint.
    const smallBallast = join(data, 'ballast-small.bin');
    await writeFile(smallBallast, Buffer.alloc(256 * 1024, 0x62));
    const d = await startDaemon({ config, dir });
    daemons.push(d);
    const statuses: number[] = [];
    const call = async (method: string, path: string, body?: unknown): Promise<ApiReply> => {
      const r = await d.api(method, path, body);
      statuses.push(r.status);
      expect(r.status, `${method} ${path}: ${r.text}`).to.not.equal(500);
      if (r.status >= 500) {
        expect(r.status, `${method} ${path}`).to.equal(503);
        expect(r.body.error.code, `${method} ${path}`).to.equal('STORE_UNAVAILABLE');
      }
      return r;
    };
    /** API jobs as the daemon has them: id -> paused. */
    const acknowledged = new Map<string, boolean>();

    expect((await call('POST', JOBS, jobBody('keep'))).status).to.equal(201);
    acknowledged.set('keep', false);
    expect((await call('POST', JOBS, { ...jobBody('filler'), command: "head -c 6000000 /dev/zero | tr '\\0' x" })).status).to.equal(201);
    acknowledged.set('filler', false);

    // API writes until the disk refuses one.
    let refusedCreates = 0;
    for (let i = 0; refusedCreates < 3 && i < 2000; i++) {
      const id = `bulk-${i}`;
      const r = await call('POST', JOBS, jobBody(id));
      if (r.status === 201) acknowledged.set(id, false);
      else {
        refusedCreates++;
        expect((await call('GET', `${JOBS}/${id}`)).status, `refused ${id} is not there`).to.equal(404);
      }
    }
    expect(refusedCreates, 'API writes filled the disk').to.equal(3);

    // Some space back for the job's output, which fills it again.
    await unlink(smallBallast);
    const freed = [...acknowledged.keys()].filter((id) => id.startsWith('bulk-')).slice(0, 40);
    for (const id of freed) {
      const r = await call('DELETE', `${JOBS}/${id}`);
      if (r.status === 200) acknowledged.delete(id);
      else expect((await call('GET', `${JOBS}/${id}`)).status, `a refused delete leaves the job: ${r.text}`).to.equal(200);
    }
    const run = await call('POST', `${JOBS}/filler/run`);
    expect(run.status, 'the filler job starts').to.equal(202);
    const fillerId = String(run.body.data.execution_id);
    // Its output fills the disk: its end is recorded, or refused (and tried again until space returns).
    await d.waitFor((l) => l.execution_id === fillerId && l.event === 'execution.finished' || (l.event === 'internal.error' && String(l.where).startsWith(`recording execution ${fillerId}`)), 60_000);
    const filler = await fillDisk(data);

    // Every kind of write while the disk is full.
    const created = await call('POST', JOBS, jobBody('refused-create'));
    if (created.status === 201) acknowledged.set('refused-create', false);
    else expect((await call('GET', `${JOBS}/refused-create`)).status).to.equal(404);
    // Two writes (its status, then its definition): refused, neither stays.
    const createdPaused = await call('POST', JOBS, { ...jobBody('refused-paused'), status: 'paused' });
    if (createdPaused.status === 201) acknowledged.set('refused-paused', true);
    else expect((await call('GET', `${JOBS}/refused-paused`)).status).to.equal(404);
    const put = await call('PUT', `${JOBS}/keep`, { ...jobBody('keep'), command: 'echo changed' });
    const paused = await call('POST', `${JOBS}/keep/pause`);
    if (paused.status === 200) acknowledged.set('keep', true);
    const victim = [...acknowledged.keys()].find((id) => id.startsWith('bulk-'))!;
    const deleted = await call('DELETE', `${JOBS}/${victim}`);
    if (deleted.status === 200) acknowledged.delete(victim);
    else expect((await call("GET", `${JOBS}/${victim}`)).status, `a refused delete leaves the job: ${deleted.status} ${deleted.text}`).to.equal(200);
    const manual = await call('POST', `${JOBS}/keep/run`);
    // Let the per-second job try to start a few times on the full disk.
    await d.waitFor((l) => l.event === 'schedule.missed' && l.job_id === 'tick' && l.reason === 'store_unavailable', 10_000);
    const refused = statuses.filter((s) => s === 503).length;
    expect(refused, 'writes refused while the disk was full').to.be.greaterThan(3);

    const noGhosts = async (when: string) => {
      const health = (await d.api('GET', '/health')).body;
      const inProgress = (await d.api('GET', '/api/v1/executions?status=in_progress&limit=100')).body;
      expect(inProgress.pagination.total, `${when}: in_progress executions vs /health running (${JSON.stringify(inProgress.data)})`).to.be.at.most(health.running ?? 0);
    };
    await noGhosts('disk full');
    const health = await d.api('GET', '/health');
    expect(health.status, 'health while the disk is full').to.equal(503);
    expect(health.body.store.status).to.equal('not writable');

    // Space comes back; one good write must carry nothing that was refused.
    await unlink(filler);
    await unlink(ballast);
    await d.finished(fillerId, 30_000);
    expect((await call('POST', JOBS, jobBody('after'))).status).to.equal(201);
    acknowledged.set('after', false);
    const check = async (when: string) => {
      const list = (await d.api('GET', `${JOBS}?limit=1000`)).body;
      const api = (list.data as Array<{ id: string; source: string; status: string; command: string }>).filter((j) => j.source === 'api');
      expect(api.map((j) => j.id).sort(), `${when}: the API jobs are those acknowledged`).to.deep.equal([...acknowledged.keys()].sort());
      const keep = api.find((j) => j.id === 'keep')!;
      expect(keep.status, `${when}: keep's status`).to.equal(acknowledged.get('keep') ? 'paused' : 'active');
      expect(keep.command, `${when}: keep's command`).to.equal(put.status === 200 ? 'echo changed' : 'true');
      if (manual.status === 503) {
        const runs = (await d.api('GET', `${JOBS}/keep/executions?limit=100`)).body;
        expect(runs.pagination.total, `${when}: a refused run left no execution`).to.equal(0);
      }
    };
    await check('space back');
    await noGhosts('space back');

    await d.stop('SIGTERM');
    const again = await startDaemon({ dir });
    daemons.push(again);
    const dd = again;
    const list = (await dd.api('GET', `${JOBS}?limit=1000`)).body;
    const api = (list.data as Array<{ id: string; source: string }>).filter((j) => j.source === 'api');
    expect(api.map((j) => j.id).sort(), 'after a restart: the API jobs are those acknowledged').to.deep.equal([...acknowledged.keys()].sort());
    const interrupted = (await dd.api('GET', '/api/v1/executions?status=failure&limit=1000')).body.data as Array<{ reason: string; error: string }>;
    expect(interrupted.filter((e) => e.reason === 'interrupted'), 'after a restart: nothing marked interrupted').to.deep.equal([]);
    await rm(join(data, 'filler.bin'), { force: true });
  });
});
