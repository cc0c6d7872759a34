/** Black-box: slots missed while the daemon was down run once with catch_up: latest, never with none. */
import { expect } from 'chai';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';

/** Waits for wall-clock time to pass: the thing under test is downtime itself, so no event can stand in. */
function until(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}

describe('catch-up after downtime (black-box)', function () {
  const dirs: string[] = [];
  after(async function () {
    for (const dir of dirs) await removeDir(dir);
  });

  it('runs a missed one-shot once with catch_up: latest, and reports the others as missed', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    let d: DaemonProcess = await startDaemon({ dir, config: configText('  {}\n') });
    const slot = Math.ceil((Date.now() + 2500) / 1000) * 1000;
    const iso = new Date(slot).toISOString();
    const jobs = {
      late: { catch_up: 'latest', starting_deadline: 60 },
      ignored: { catch_up: 'none', starting_deadline: 60 },
      stale: { catch_up: 'latest', starting_deadline: 1 },
    };
    for (const [id, extra] of Object.entries(jobs)) {
      const r = await d.api('POST', '/api/v1/jobs', { id, schedule: iso, command: `echo ${id}`, ...extra });
      expect(r.status, r.text).to.equal(201);
    }
    expect((await d.stop()).code).to.equal(0);
    await until(slot + 2500);

    d = await startDaemon({ dir });
    try {
      const done = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'late');
      const e = (await d.api('GET', `/api/v1/jobs/late/executions/${done.execution_id}`)).body.data;
      expect(e).to.include({ trigger: 'catch_up', status: 'success', scheduled_at: iso, output: 'late\n' });
      expect((await d.api('GET', '/api/v1/jobs/late')).body.data.status).to.equal('completed');
      const missed = d.lines.filter((l) => l.event === 'schedule.missed');
      expect(missed.map((l) => [l.job_id, l.reason, l.slot]).sort()).to.deep.equal([
        ['ignored', 'catch_up_none', iso],
        ['stale', 'past_deadline', iso],
      ]);
      for (const id of ['ignored', 'stale']) {
        expect((await d.api('GET', `/api/v1/jobs/${id}/executions`)).body.pagination.total).to.equal(0);
      }
    } finally {
      await d.stop();
    }
  });

  it('never runs more than one catch-up per job, however many slots were missed', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    const config = configText('  every-second:\n    schedule: "* * * * * *"\n    command: "true"\n    catch_up: latest\n    history_limit: 1000\n');
    let d = await startDaemon({ dir, config });
    await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'every-second');
    expect((await d.stop()).code).to.equal(0);
    const downSince = Date.now();
    await until(downSince + 3200);

    d = await startDaemon({ dir });
    try {
      const catchUp = await d.waitFor((l) => l.event === 'execution.started' && l.trigger === 'catch_up');
      // A scheduled run after the restart proves the catch-up phase is over.
      await d.waitFor((l) => l.event === 'execution.finished' && l.trigger !== 'catch_up' && String(l.execution_id) > String(catchUp.execution_id));
      const all = (await d.api('GET', '/api/v1/jobs/every-second/executions?limit=1000')).body.data as Array<{ trigger: string; scheduled_at: string }>;
      // Slots of the downtime: after the first daemon stopped, until the second was up. Not counted: a slot that
      // passed while the first daemon started (after its job existed: caught up at once, more likely on the
      // slower PostgreSQL start), and one missed later because the store did not answer in time (caught up
      // once it is back). Both are right, and not what this test is about.
      const startedAt = Date.parse(String(d.lines.find((l) => l.event === 'daemon.started')!.time));
      const caught = all.filter((e) => e.trigger === 'catch_up' && Date.parse(e.scheduled_at) > downSince && Date.parse(e.scheduled_at) < startedAt);
      const missedLater = d.lines.filter((l) => l.event === 'schedule.missed').map((l) => `${String(l.slot)} ${String(l.reason)}`);
      const seen = caught.map((e) => e.scheduled_at).join(', ');
      expect(caught, `catch-ups of the downtime (${seen}; up at ${new Date(startedAt).toISOString()}); slots missed later: ${missedLater.join(', ') || 'none'}`).to.have.length(1);
      // The newest missed second, not the first one.
      expect(Date.parse(caught[0]!.scheduled_at)).to.be.greaterThan(downSince + 2000);
    } finally {
      await d.stop();
    }
  });
});
