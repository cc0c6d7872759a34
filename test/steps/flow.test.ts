/**
 * Black-box: what starts and resumes executions of multi-step jobs on the real daemon: run-now with parameters,
 * jobs without schedule, restart from the failed step, wait gates advanced over HTTP, and chains.
 */
import { expect } from 'chai';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { SseClient } from '../helpers/sse-client.js';

/** Runs the `watchbell` CLI against a daemon: exit code and output. */
async function cli(d: DaemonProcess, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const url = args[0] === 'validate' ? [] : ['--url', d.url];
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args, ...url]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('restart, gates, chains and parameters (black-box)', function () {
  this.timeout(90_000);
  const cleanup: DaemonProcess[] = [];
  afterEach(async function () {
    while (cleanup.length) {
      const d = cleanup.pop()!;
      await d.stop();
      await removeDir(d.dir);
    }
  });

  async function start(jobsYaml: string, daemonKeys = '', dir?: string): Promise<DaemonProcess> {
    const config = configText(jobsYaml).replace('daemon:\n', `daemon:\n${daemonKeys}`);
    const d = await startDaemon({ config, dir });
    cleanup.push(d);
    return d;
  }

  async function trigger(d: DaemonProcess, job: string, body?: unknown): Promise<string> {
    const run = await d.api('POST', `/api/v1/jobs/${job}/run`, body);
    expect(run.status, run.text).to.equal(202);
    return run.body.data.execution_id as string;
  }

  async function execution(d: DaemonProcess, job: string, id: string): Promise<any> {
    return (await d.api('GET', `/api/v1/jobs/${job}/executions/${id}`)).body.data;
  }

  async function finished(d: DaemonProcess, job: string, id: string): Promise<any> {
    await d.finished(id, 30_000);
    return execution(d, job, id);
  }

  const waiting = (d: DaemonProcess, id: string) => d.waitFor((l) => l.event === 'execution.waiting' && l.execution_id === id, 30_000);

  describe('run-now with parameters, and jobs without a schedule', function () {
    it('overrides the environment for one execution, records only the names, and refuses unknown fields', async function () {
      const d = await start('  greet:\n    environment: {WHO: job, TOKEN: t0}\n    command: echo "hi $WHO $TOKEN"\n');
      const id = await trigger(d, 'greet', { environment: { WHO: 'param', TOKEN: 'sekrit-42' } });
      const e = await finished(d, 'greet', id);
      expect(e.parameters).to.deep.equal(['TOKEN', 'WHO']);
      expect(e.output).to.equal('hi param sekrit-42\n');
      const plain = await finished(d, 'greet', await trigger(d, 'greet'));
      expect(plain.output).to.equal('hi job t0\n');
      expect(plain).not.to.have.property('parameters');
      const listed = await d.api('GET', '/api/v1/jobs/greet/executions');
      expect(JSON.stringify(listed.body.data.map((x: any) => ({ ...x, output: '' })))).not.to.contain('sekrit-42');

      const unknown = await d.api('POST', '/api/v1/jobs/greet/run', { environment: {}, priority: 1 });
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details).to.deep.equal([{ path: '/priority', message: 'priority: unknown field; expected one of environment' }]);
      const badKey = await d.api('POST', '/api/v1/jobs/greet/run', { environment: { 'NOT-OK': 'sekrit-43' } });
      expect(badKey.status).to.equal(400);
      expect(badKey.text).not.to.contain('sekrit-43');
      // A NUL would fail the spawn with an error that names the value: refused before, without showing it.
      const nul = await d.api('POST', '/api/v1/jobs/greet/run', { environment: { OK: 'sekrit\u000044' } });
      expect(nul.status).to.equal(400);
      expect(nul.text).not.to.contain('sekrit');
      const badValue = await d.api('POST', '/api/v1/jobs/greet/run', { environment: { OK: 5 } });
      expect(badValue.status).to.equal(400);
      expect(badValue.body.error.details[0].path).to.equal('/environment/OK');
    });

    it('never fires a job without schedule or with @manual: next_run is null, run-now still runs it', async function () {
      const d = await start('  nosched:\n    command: echo manual\n  manual:\n    schedule: "@manual"\n    command: echo manual\n');
      for (const id of ['nosched', 'manual']) {
        const job = (await d.api('GET', `/api/v1/jobs/${id}`)).body.data;
        expect(job.schedule).to.equal('@manual');
        expect(job.next_run).to.equal(null);
      }
      const e = await finished(d, 'nosched', await trigger(d, 'nosched'));
      expect(e.status).to.equal('success');
      const created = await d.api('POST', '/api/v1/jobs', { id: 'api-manual', command: 'true' });
      expect(created.status, created.text).to.equal(201);
      expect(created.body.data.next_run).to.equal(null);
    });
  });

  describe('restart', function () {
    const FLAKY =
      '  flaky:\n' +
      '    steps:\n' +
      '      - name: one\n' +
      '        command: echo "ran one"; echo "token=t-$$" >> "$WATCHBELL_OUTPUT"\n' +
      '      - name: two\n' +
      '        command: echo "two got $WATCHBELL_STEP_ONE_TOKEN"; test -f ./fixed\n' +
      '      - name: three\n' +
      '        command: echo "three got $WATCHBELL_STEP_ONE_TOKEN"\n';

    it('reuses the steps that succeeded, with their outputs, and runs from the failed one; 409 on a succeeded one', async function () {
      const d = await start(FLAKY);
      const first = await finished(d, 'flaky', await trigger(d, 'flaky'));
      expect(first.status).to.equal('failure');
      const token = first.steps[0].outputs.token as string;
      await writeFile(join(d.dir, 'fixed'), '');
      const r = await d.api('POST', `/api/v1/jobs/flaky/executions/${first.id}/restart`);
      expect(r.status, r.text).to.equal(202);
      expect(r.body.data.restarted_from).to.equal(first.id);
      const again = await finished(d, 'flaky', r.body.data.execution_id);
      expect(again.status).to.equal('success');
      expect(again.trigger).to.equal('restart');
      expect(again.restarted_from).to.equal(first.id);
      expect(again.steps.map((s: any) => [s.name, s.status, s.reused])).to.deep.equal([['one', 'success', true], ['two', 'success', false], ['three', 'success', false]]);
      expect(again.steps[0]).to.deep.equal({ ...first.steps[0], reused: true });
      const log = await d.api('GET', `/api/v1/jobs/flaky/executions/${again.id}/log`);
      expect(log.text).not.to.contain('ran one');
      expect(log.text).to.contain(`two got ${token}`);
      expect(log.text).to.contain(`three got ${token}`);
      const refused = await d.api('POST', `/api/v1/jobs/flaky/executions/${again.id}/restart`);
      expect(refused.status).to.equal(409);
      expect(refused.body.error).to.deep.equal({ code: 'EXECUTION_NOT_RESTARTABLE', message: `execution ${again.id} cannot be restarted: it succeeded; only a failed, cancelled or interrupted execution can` });
    });

    it('reruns a step whose definition changed, and every step after it', async function () {
      const d = await start('  {}\n');
      const steps = [{ name: 'one', command: 'echo one' }, { name: 'two', command: 'exit 3' }];
      expect((await d.api('POST', '/api/v1/jobs', { id: 'edit', steps })).status).to.equal(201);
      const first = await finished(d, 'edit', await trigger(d, 'edit'));
      expect(first.exit_code).to.equal(3);
      await d.api('PUT', '/api/v1/jobs/edit', { steps: [{ name: 'one', command: 'echo ONE' }, { name: 'two', command: 'true' }] });
      const again = await finished(d, 'edit', (await d.api('POST', `/api/v1/jobs/edit/executions/${first.id}/restart`)).body.data.execution_id);
      expect(again.steps.map((s: any) => s.reused)).to.deep.equal([false, false]);
      expect(again.output).to.contain('ONE');
    });

    it('after kill -9 in the middle of step 2, the interrupted execution restarts from step 2', async function () {
      const jobs = FLAKY.replace('test -f ./fixed', 'test -f ./fixed || { touch ./two-started; sleep 60; }');
      const d = await start(jobs);
      const id = await trigger(d, 'flaky');
      const marker = join(d.dir, 'two-started');
      for (let i = 0; i < 300 && !(await import('node:fs')).existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
      await d.stop('SIGKILL');
      cleanup.pop();
      await writeFile(join(d.dir, 'fixed'), '');
      const d2 = await start(jobs, '', d.dir);
      const interrupted = await execution(d2, 'flaky', id);
      expect(interrupted.status).to.equal('failure');
      expect(interrupted.reason).to.equal('interrupted');
      expect(interrupted.steps[0].status).to.equal('success');
      expect(interrupted.steps.map((s: any) => s.status)).to.deep.equal(['success', 'failure', 'skipped']);
      // The outputs file step two had open is gone with the recovery.
      expect((await import('node:fs')).existsSync(join(d.dir, 'data', 'jobs', 'flaky', 'logs', `${id}.log.outputs`))).to.equal(false);
      const r = await d2.api('POST', `/api/v1/jobs/flaky/executions/${id}/restart`);
      expect(r.status, r.text).to.equal(202);
      const again = await finished(d2, 'flaky', r.body.data.execution_id);
      expect(again.status).to.equal('success');
      expect(again.steps.map((s: any) => s.reused)).to.deep.equal([true, false, false]);
      await rm(marker, { force: true });
    });
  });

  describe('wait gates', function () {
    const GATED =
      '  gated:\n' +
      '    steps:\n' +
      '      - name: before\n' +
      '        command: echo before\n' +
      '      - name: approve\n' +
      '        wait: {timeout: 1h}\n' +
      '      - name: after\n' +
      '        command: echo "approved by $WATCHBELL_STEP_APPROVE_BY"\n' +
      '  other:\n' +
      '    command: echo other\n';

    it('holds the execution `waiting` without a slot until advanced with outputs that the next step sees', async function () {
      const d = await start(GATED, '  max_concurrency: 1\n');
      const events = await SseClient.open(d.url);
      const id = await trigger(d, 'gated');
      await waiting(d, id);
      const live = await events.next((e) => e.type === 'execution.waiting' && e.data.execution.id === id);
      events.close();
      expect(live.data.execution.steps[1].status).to.equal('waiting');
      const held = await execution(d, 'gated', id);
      expect(held.status).to.equal('waiting');
      expect(held.steps.map((s: any) => s.status)).to.deep.equal(['success', 'waiting', 'pending']);
      expect(held.output).to.equal('--- step before: attempt 1 of 1 ---\nbefore\n--- step approve: waiting for advance (up to 3600s) ---\n');
      // max_concurrency is 1 and the gate holds no slot: another job runs meanwhile.
      const other = await finished(d, 'other', await trigger(d, 'other'));
      expect(other.status).to.equal('success');
      const early = await d.api('POST', `/api/v1/jobs/other/executions/${other.id}/advance`, { outputs: {} });
      expect(early.status).to.equal(409);
      const bad = await d.api('POST', `/api/v1/jobs/gated/executions/${id}/advance`, { outputs: { 'no-dash': 'x' } });
      expect(bad.status).to.equal(400);
      const adv = await d.api('POST', `/api/v1/jobs/gated/executions/${id}/advance`, { outputs: { by: 'alice' } });
      expect(adv.status, adv.text).to.equal(202);
      const e = await finished(d, 'gated', id);
      expect(e.status).to.equal('success');
      expect(e.steps[1].outputs).to.deep.equal({ by: 'alice' });
      const after = await d.api('GET', `/api/v1/jobs/gated/executions/${id}/log?step=after&stream=stdout`);
      expect(after.text).to.equal('approved by alice\n');
    });

    it('aborts on cancel, and fails with reason timeout when not advanced in time', async function () {
      const d = await start(GATED + '  quick:\n    steps:\n      - name: gate\n        wait: {timeout: 1s}\n      - name: cleanup\n        if: always\n        command: echo cleaned\n');
      const id = await trigger(d, 'gated');
      await waiting(d, id);
      const c = await d.api('POST', `/api/v1/jobs/gated/executions/${id}/cancel`);
      expect(c.status).to.equal(202);
      const e = await finished(d, 'gated', id);
      expect(e.status).to.equal('cancelled');
      expect(e.steps.map((s: any) => s.status)).to.deep.equal(['success', 'cancelled', 'cancelled']);
      const q = await finished(d, 'quick', await trigger(d, 'quick'));
      expect(q.status).to.equal('failure');
      expect(q.reason).to.equal('timeout');
      expect(q.steps[0].error).to.equal('not advanced within 1s (wait.timeout)');
      expect(q.steps[1].status).to.equal('success');
    });

    it('is advanced with `watchbell advance JOB EXEC key=value`, and restarted with `watchbell restart JOB EXEC`', async function () {
      const d = await start(GATED.replace('echo "approved by $WATCHBELL_STEP_APPROVE_BY"', 'echo "approved by $WATCHBELL_STEP_APPROVE_BY"; test -f ./fixed'));
      const id = await trigger(d, 'gated');
      await waiting(d, id);
      const adv = await cli(d, ['advance', 'gated', id, 'by=carol=c', 'ticket=OPS-1']);
      expect(adv.code, adv.stderr).to.equal(0);
      expect(adv.stdout).to.equal(`Execution advanced (execution ${id})\n`);
      const e = await finished(d, 'gated', id);
      expect(e.status).to.equal('failure');
      expect(e.steps[1].outputs).to.deep.equal({ by: 'carol=c', ticket: 'OPS-1' });
      const logs = await cli(d, ['logs', 'gated', id, '--step', 'after', '--stream', 'stdout']);
      expect(logs.stdout).to.equal('approved by carol=c\n');
      const bad = await cli(d, ['advance', 'gated', id, 'novalue']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('"novalue": expected key=value');
      await writeFile(join(d.dir, 'fixed'), '');
      const restarted = await cli(d, ['restart', 'gated', id, '--json']);
      expect(restarted.code, restarted.stderr).to.equal(0);
      const again = JSON.parse(restarted.stdout) as { execution_id: string; restarted_from: string };
      expect(again.restarted_from).to.equal(id);
      const e2 = await finished(d, 'gated', again.execution_id);
      expect(e2.status).to.equal('success');
      // The advanced gate is reused with its outputs: the restart does not wait again.
      expect(e2.steps.map((s: any) => s.reused)).to.deep.equal([true, true, false]);
      expect(e2.output).to.equal('--- step after: attempt 1 of 1 ---\napproved by carol=c\n');
    });

    it('is cancelled by a run of a `concurrency: replace` job, and by deleting its job', async function () {
      const d = await start(GATED.replace('  gated:\n', '  gated:\n    concurrency: replace\n'));
      const first = await trigger(d, 'gated');
      await waiting(d, first);
      const second = await trigger(d, 'gated');
      expect((await finished(d, 'gated', first)).status).to.equal('cancelled');
      await waiting(d, second);
      const steps = [{ name: 'hold', wait: { timeout: '1h' } }];
      expect((await d.api('POST', '/api/v1/jobs', { id: 'held', steps })).status).to.equal(201);
      const held = await trigger(d, 'held');
      await waiting(d, held);
      const del = await d.api('DELETE', '/api/v1/jobs/held');
      expect(del.status, del.text).to.equal(200);
      await d.finished(held);
    });

    it('cancels, at the next start, a waiting execution whose job left the config meanwhile', async function () {
      const d = await start(GATED);
      const id = await trigger(d, 'gated');
      await waiting(d, id);
      await d.stop('SIGTERM');
      cleanup.pop();
      const d2 = await start(GATED.replace(/  gated:[\s\S]*?(?=  other:)/, ''), '', d.dir);
      const r = await d2.api('GET', `/api/v1/executions?status=cancelled`);
      const e = r.body.data.find((x: any) => x.id === id);
      expect(e, r.text).to.include({ status: 'cancelled', error: 'cancelled: job gated no longer exists' });
      expect(e.steps.map((s: any) => s.status)).to.deep.equal(['success', 'cancelled', 'cancelled']);
    });

    it('stays waiting across SIGTERM and a restart of the daemon, and is advanced after it', async function () {
      const d = await start(GATED);
      const id = await trigger(d, 'gated');
      await waiting(d, id);
      const stopped = await d.stop('SIGTERM');
      expect(stopped.code).to.equal(0);
      cleanup.pop();
      const d2 = await start(GATED, '', d.dir);
      const held = await execution(d2, 'gated', id);
      expect(held.status).to.equal('waiting');
      const adv = await d2.api('POST', `/api/v1/jobs/gated/executions/${id}/advance`, { outputs: { by: 'bob' } });
      expect(adv.status, adv.text).to.equal(202);
      const e = await finished(d2, 'gated', id);
      expect(e.status).to.equal('success');
      const log = await d2.api('GET', `/api/v1/jobs/gated/executions/${id}/log`);
      expect(log.text).to.contain('before\n');
      expect(log.text).to.contain('approved by bob\n');
    });
  });

  describe('chains', function () {
    const CHAINED =
      '  a:\n' +
      '    on_success: [b]\n' +
      '    on_failure: [c]\n' +
      '    steps:\n' +
      '      - name: make\n' +
      '        command: echo "result=r1" >> "$WATCHBELL_OUTPUT"; echo "shared=first" >> "$WATCHBELL_OUTPUT"\n' +
      '      - name: more\n' +
      '        command: echo "shared=second" >> "$WATCHBELL_OUTPUT"; test ! -f ./fail\n' +
      '  b:\n' +
      '    command: echo "b got $WATCHBELL_UPSTREAM_RESULT $WATCHBELL_UPSTREAM_SHARED"\n' +
      '  c:\n' +
      '    command: echo "c ran"\n';

    async function chained(d: DaemonProcess, job: string): Promise<any> {
      const line = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === job, 30_000);
      return execution(d, job, String(line.execution_id));
    }

    it('runs on_success targets with triggered_by and the upstream outputs, on_failure targets on a failure', async function () {
      const d = await start(CHAINED);
      const id = await trigger(d, 'a');
      const b = await chained(d, 'b');
      expect(b.trigger).to.equal('chain');
      expect(b.triggered_by).to.deep.equal({ job_id: 'a', execution_id: id });
      expect(b.output).to.equal('b got r1 second\n');
      await writeFile(join(d.dir, 'fail'), '');
      const failed = await trigger(d, 'a');
      const c = await chained(d, 'c');
      expect(c.triggered_by).to.deep.equal({ job_id: 'a', execution_id: failed });
      expect(c.output).to.equal('c ran\n');
    });

    it('records a chained execution of a paused job as skipped, reason paused', async function () {
      const d = await start(CHAINED);
      await d.api('POST', '/api/v1/jobs/b/pause');
      const id = await trigger(d, 'a');
      const line = await d.waitFor((l) => l.event === 'execution.skipped' && l.job_id === 'b', 30_000);
      const b = await execution(d, 'b', String(line.execution_id));
      expect(b).to.include({ status: 'skipped', reason: 'paused', trigger: 'chain', error: 'skipped: job b is paused' });
      expect(b.triggered_by).to.deep.equal({ job_id: 'a', execution_id: id });
    });

    it('refuses cycles and unknown targets over the API, and deleting a job another chains to', async function () {
      const d = await start(CHAINED);
      const x = await d.api('POST', '/api/v1/jobs', { id: 'x', command: 'true', on_success: ['y'] });
      expect(x.status).to.equal(400);
      expect(x.body.error.details).to.deep.equal([{ path: '/on_success', message: 'on_success: no job "y"; expected the id of an existing job' }]);
      expect((await d.api('POST', '/api/v1/jobs', { id: 'y', command: 'true' })).status).to.equal(201);
      expect((await d.api('POST', '/api/v1/jobs', { id: 'x', command: 'true', on_success: ['y'] })).status).to.equal(201);
      const cycle = await d.api('PUT', '/api/v1/jobs/y', { on_failure: ['x'] });
      expect(cycle.status).to.equal(400);
      expect(cycle.body.error.message).to.equal('on_failure: chain cycle y -> x -> y; a job must not trigger itself through on_success / on_failure');
      const del = await d.api('DELETE', '/api/v1/jobs/y');
      expect(del.status).to.equal(409);
      expect(del.body.error).to.deep.equal({ code: 'JOB_CHAINED', message: 'job y is chained to by job x (on_success / on_failure); remove it from their chains first' });
      // API jobs chain to config jobs too, and a reload may not remove one they chain to.
      expect((await d.api('PUT', '/api/v1/jobs/x', { on_success: ['y', 'c'] })).status).to.equal(200);
      await writeFile(d.configFile, configText(CHAINED.replace('    on_failure: [c]\n', '').replace(/  c:\n.*\n$/, '')));
      const reload = await d.api('POST', '/api/v1/config/reload');
      expect(reload.status).to.equal(409);
      expect(reload.body.error.message).to.equal('job c is removed from the config, but job x chains to it (on_success); remove it from job x\'s on_success first');
    });

    it('chains a config job to an API job (after a reload), and refuses an unknown target in the config', async function () {
      const d = await start(CHAINED);
      expect((await d.api('POST', '/api/v1/jobs', { id: 'api-target', command: 'echo "api got $WATCHBELL_UPSTREAM_RESULT"' })).status).to.equal(201);
      const bad = CHAINED.replace('  b:\n', '  b:\n    on_success: [nowhere]\n');
      await writeFile(d.configFile, configText(bad));
      const refused = await d.api('POST', '/api/v1/config/reload');
      expect(refused.status).to.equal(400);
      expect(refused.body.error.message).to.equal(`${d.configFile}:16:3: jobs.b.on_success: no job "nowhere"; expected the id of a job in the config or created through the API`);
      await writeFile(d.configFile, configText(CHAINED.replace('    on_success: [b]\n', '    on_success: [api-target]\n')));
      expect((await d.api('POST', '/api/v1/config/reload')).status).to.equal(200);
      const id = await trigger(d, 'a');
      const t = await chained(d, 'api-target');
      expect(t.triggered_by).to.deep.equal({ job_id: 'a', execution_id: id });
      expect(t.output).to.equal('api got r1\n');
    });

    it('`watchbell validate` refuses a cycle with its FILE:LINE:COL', async function () {
      const d = await start(CHAINED);
      const file = join(d.dir, 'cyclic.yaml');
      await writeFile(file, configText(CHAINED.replace('    command: echo "c ran"\n', '    command: echo "c ran"\n    on_failure: [a]\n')));
      const r = await cli(d, ['validate', file]);
      expect(r.code).to.equal(1);
      expect(r.stderr + r.stdout).to.contain(`${file}:10:17: jobs.a.on_failure: chain cycle a -> c -> a; a job must not trigger itself through on_success / on_failure`);
    });

    it('refuses a cycle in the config file with its FILE:LINE:COL, naming the whole cycle', async function () {
      const d = await start(CHAINED);
      await writeFile(d.configFile, configText(CHAINED.replace('    command: echo "c ran"\n', '    command: echo "c ran"\n    on_success: [a]\n')));
      const reload = await d.api('POST', '/api/v1/config/reload');
      expect(reload.status).to.equal(400);
      expect(reload.body.error.message, reload.body.error.message).to.contain(`${d.configFile}:10:17: jobs.a.on_failure: chain cycle a -> c -> a`);
    });
  });
});
