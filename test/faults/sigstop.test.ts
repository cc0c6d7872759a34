/**
 * Fault: the daemon is stopped (SIGSTOP) for ~4 s and continued (issue 13 item 7). A per-second job runs once for
 * the whole gap, never a burst, and that run carries the latest slot it missed (docs/operations.md, "Missed runs"),
 * fired within a second of it; `schedule.late` names the oldest slot the scheduler failed to fire on time.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { configText, removeDir, startDaemon, type DaemonProcess, type LogLine } from '../helpers/daemon-process.js';

describe('faults: daemon stopped by SIGSTOP for 4 s', function () {
  this.timeout(60_000);
  let d: DaemonProcess | undefined;

  afterEach(async function () {
    if (d) {
      d.proc.kill('SIGCONT');
      await d.stop();
      await removeDir(d.dir);
      d = undefined;
    }
  });

  it('runs a per-second job once for the gap, for the latest slot missed', async function () {
    d = await startDaemon({ config: configText('  tick:\n    schedule: "* * * * * *"\n    command: "true"\n    history_limit: 1000\n', '  log_level: debug\n') });
    const first = await d.waitFor((l) => l.event === 'job.due' && l.job_id === 'tick');
    d.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // The thing under test is time passing while stopped: no event can stand in for it.
    await sleep(4000);
    const continuedAt = Date.now();
    d.proc.kill('SIGCONT');
    const late = await d.waitFor((l) => l.event === 'schedule.late' && l.job_id === 'tick');
    const lateIndex = d.lines.indexOf(late);
    await d.waitFor((l) => d!.lines.indexOf(l) > lateIndex && l.event === 'job.due' && l.job_id === 'tick' && Date.parse(String(l.slot)) > continuedAt + 1000);

    const dues = d.lines.filter((l): l is LogLine => l.event === 'job.due' && l.job_id === 'tick').map((l) => ({ slot: Date.parse(String(l.slot)), late: Number(l.late_ms), trigger: l.trigger }));
    const lastBefore = Math.max(...dues.filter((x) => x.slot <= stoppedAt).map((x) => x.slot), Date.parse(String(first.slot)));
    const gap = dues.filter((x) => x.slot > lastBefore && x.slot <= continuedAt + 1000);
    // One run for the whole gap (the slot of the second after SIGCONT may follow it, on time).
    const catchUp = gap[0]!;
    expect(gap.filter((x) => x.late >= 1000), 'runs late by a second or more').to.deep.equal([]);
    expect(catchUp.slot, 'the catch-up run is for the latest slot missed, not the oldest').to.be.at.least(continuedAt - 1000);
    expect(catchUp.slot - lastBefore).to.be.at.least(3000);
    const after = dues.filter((x) => x.slot > catchUp.slot);
    expect(after[0]!.slot - catchUp.slot, 'the next run is the next slot').to.equal(1000);

    // The execution carries that slot.
    const list = (await d.api('GET', '/api/v1/jobs/tick/executions?limit=100')).body.data as Array<{ scheduled_at: string; trigger: string }>;
    const inGap = list.filter((e) => Date.parse(e.scheduled_at) > lastBefore && Date.parse(e.scheduled_at) < catchUp.slot);
    expect(inGap, 'executions for slots between the last one before the stop and the catch-up run').to.deep.equal([]);
    expect(list.map((e) => Date.parse(e.scheduled_at))).to.include(catchUp.slot);
    // schedule.late names the oldest slot missed, and how late that one was.
    expect(Date.parse(String(late.slot))).to.equal(lastBefore + 1000);
    expect(Number(late.late_ms)).to.be.at.least(2500);
  });
});
