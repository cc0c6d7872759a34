/** Prometheus metrics: the Metrics class fed by events (in-process), and GET /metrics of the real daemon. */
import { expect } from 'chai';
import { register as globalRegistry } from 'prom-client';
import { Events } from '../../src/jobs/events.js';
import type { Execution } from '../../src/jobs/execution.js';
import { Metrics, type JobMetrics } from '../../src/metrics/metrics.js';
import { configText, removeDir, startDaemon, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and these labels (at least), or undefined. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function execution(jobId: string, status: Execution['status'], duration: number | null, started = true): Execution {
  return {
    id: 'exec-00000000000000000000', job_id: jobId, status, trigger: 'schedule', scheduled_at: null,
    started_at: started ? '2026-01-01T00:00:00.000Z' : null, finished_at: '2026-01-01T00:00:01.000Z', duration,
    exit_code: null, signal: null, reason: null, output: '', error: null, retry_count: 0, attempts: [], log_route: '',
  };
}

describe('metrics', function () {
  describe('Metrics, fed by events (in-process)', function () {
    let events: Events;
    let jobs: JobMetrics[];
    let running: number;
    let queued: number;
    let notifiers: string[];
    let metrics: Metrics;

    beforeEach(function () {
      events = new Events();
      jobs = [];
      running = 0;
      queued = 0;
      notifiers = [];
      metrics = new Metrics({
        events,
        source: { jobs: () => jobs, running: () => running, queued: () => queued, notifiers: () => notifiers },
        defaultMetrics: false,
      });
    });

    const scrape = async () => parse((await metrics.scrape()).body);

    it('counts ended executions by job and status, and observes the duration of the ones that ran', async function () {
      jobs = [{ id: 'a', nextRun: null, lastSuccess: null }, { id: 'b', nextRun: null, lastSuccess: null }];
      events.emit('execution:finished', { execution: execution('a', 'success', 1.5) });
      events.emit('execution:finished', { execution: execution('a', 'success', 0.2) });
      events.emit('execution:finished', { execution: execution('a', 'failure', 3) });
      events.emit('execution:skipped', { execution: execution('a', 'skipped', null, false) });
      // Cancelled while queued: counted, but it never ran, so no duration.
      events.emit('execution:finished', { execution: execution('b', 'cancelled', null, false) });
      const s = await scrape();
      expect(value(s, 'watchbell_executions_total', { job_id: 'a', status: 'success' })).to.equal(2);
      expect(value(s, 'watchbell_executions_total', { job_id: 'a', status: 'failure' })).to.equal(1);
      expect(value(s, 'watchbell_executions_total', { job_id: 'a', status: 'skipped' })).to.equal(1);
      expect(value(s, 'watchbell_executions_total', { job_id: 'b', status: 'cancelled' })).to.equal(1);
      // Every current job has success and failure series from the start, so increase() sees the first failure.
      expect(value(s, 'watchbell_executions_total', { job_id: 'b', status: 'failure' })).to.equal(0);
      expect(value(s, 'watchbell_execution_duration_seconds_count', { job_id: 'a' })).to.equal(3);
      expect(value(s, 'watchbell_execution_duration_seconds_sum', { job_id: 'a' })).to.be.closeTo(4.7, 1e-9);
      expect(value(s, 'watchbell_execution_duration_seconds_bucket', { job_id: 'a', le: '0.5' })).to.equal(1);
      expect(value(s, 'watchbell_execution_duration_seconds_count', { job_id: 'b' })).to.equal(undefined);
    });

    it('observes scheduling lateness of scheduled fires, not of catch-up runs', async function () {
      const slot = new Date('2026-01-01T00:00:00Z');
      events.emit('job:due', { jobId: 'a', slot, firedAt: new Date(slot.getTime() + 3), trigger: 'schedule' });
      events.emit('job:due', { jobId: 'a', slot, firedAt: new Date(slot.getTime() + 2500), trigger: 'schedule' });
      events.emit('job:due', { jobId: 'a', slot, firedAt: new Date(slot.getTime() + 3_600_000), trigger: 'catch_up' });
      const s = await scrape();
      expect(value(s, 'watchbell_schedule_lateness_seconds_count')).to.equal(2);
      expect(value(s, 'watchbell_schedule_lateness_seconds_sum')).to.be.closeTo(2.503, 1e-9);
      expect(value(s, 'watchbell_schedule_lateness_seconds_bucket', { le: '0.005' })).to.equal(1);
      // No job label: one series however many jobs there are.
      expect(s.filter((x) => x.name.startsWith('watchbell_schedule_lateness')).every((x) => !('job' in x.labels))).to.equal(true);
    });

    it('reads running and queued executions, next runs and last successes at scrape time', async function () {
      running = 3;
      queued = 2;
      jobs = [
        { id: 'a', nextRun: new Date('2026-01-02T00:00:00Z'), lastSuccess: new Date('2026-01-01T00:00:05Z') },
        { id: 'paused', nextRun: null, lastSuccess: null },
      ];
      let s = await scrape();
      expect(value(s, 'watchbell_executions_running')).to.equal(3);
      expect(value(s, 'watchbell_executions_queued')).to.equal(2);
      expect(value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'a' })).to.equal(Date.parse('2026-01-02T00:00:00Z') / 1000);
      expect(value(s, 'watchbell_job_last_success_timestamp_seconds', { job_id: 'a' })).to.equal(Date.parse('2026-01-01T00:00:05Z') / 1000);
      expect(value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'paused' })).to.equal(undefined);
      expect(value(s, 'watchbell_job_last_success_timestamp_seconds', { job_id: 'paused' })).to.equal(undefined);
      running = 0;
      jobs = [{ ...jobs[0]!, nextRun: new Date('2026-01-03T00:00:00Z') }];
      s = await scrape();
      expect(value(s, 'watchbell_executions_running')).to.equal(0);
      expect(value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'a' })).to.equal(Date.parse('2026-01-03T00:00:00Z') / 1000);
    });

    it('drops every series of a job that is gone, even one added by an execution that ended after its deletion', async function () {
      jobs = [{ id: 'kept', nextRun: new Date(), lastSuccess: new Date() }, { id: 'gone', nextRun: new Date(), lastSuccess: new Date() }];
      events.emit('execution:finished', { execution: execution('gone', 'success', 1) });
      events.emit('execution:finished', { execution: execution('kept', 'success', 1) });
      let s = await scrape();
      expect(s.filter((x) => x.labels.job_id === 'gone')).to.have.length.greaterThan(5);
      jobs = [jobs[0]!];
      events.emit('execution:finished', { execution: execution('gone', 'cancelled', 2) });
      s = await scrape();
      expect(s.filter((x) => x.labels.job_id === 'gone')).to.deep.equal([]);
      expect(value(s, 'watchbell_executions_total', { job_id: 'kept', status: 'success' })).to.equal(1);
    });

    it('observes step durations by job and step, and drops them with the job', async function () {
      jobs = [{ id: 'pipe', nextRun: null, lastSuccess: null }];
      const step = (name: string, duration: number | null) => ({ name, duration }) as unknown as NonNullable<Execution['steps']>[number];
      events.emit('step:finished', { jobId: 'pipe', executionId: 'exec-1', step: step('build', 2) });
      events.emit('step:finished', { jobId: 'pipe', executionId: 'exec-1', step: step('build', 4) });
      events.emit('step:finished', { jobId: 'pipe', executionId: 'exec-1', step: step('never', null) });
      let s = await scrape();
      expect(value(s, 'watchbell_step_duration_seconds_count', { job_id: 'pipe', step: 'build' })).to.equal(2);
      expect(value(s, 'watchbell_step_duration_seconds_sum', { job_id: 'pipe', step: 'build' })).to.equal(6);
      expect(value(s, 'watchbell_step_duration_seconds_count', { job_id: 'pipe', step: 'never' })).to.equal(undefined);
      jobs = [];
      s = await scrape();
      expect(s.filter((x) => x.labels.step === 'build')).to.deep.equal([]);
    });

    it('uses a registry of its own, never the global one', async function () {
      events.emit('execution:finished', { execution: execution('a', 'success', 1) });
      expect(await globalRegistry.metrics()).not.to.include('watchbell_');
      expect(metrics.registry).not.to.equal(globalRegistry);
      const withDefaults = new Metrics({ events: new Events(), source: { jobs: () => [], running: () => 0, queued: () => 0, notifiers: () => [] } });
      const text = (await withDefaults.scrape()).body;
      expect(text).to.include('process_cpu_user_seconds_total').and.include('nodejs_eventloop_lag_seconds');
      // Gauges named like counters fail promtool's lint; their by-type versions stay.
      expect(text).to.include('nodejs_active_handles{').and.not.match(/^nodejs_active_\w+_total/m);
    });

    it('gives every configured notifier its series at 0 before anything is sent, and keeps those of a removed one', async function () {
      notifiers = ['ops-hook'];
      let s = await scrape();
      for (const outcome of ['sent', 'retry', 'failed', 'dropped']) {
        expect(value(s, 'watchbell_notifications_total', { notifier: 'ops-hook', outcome }), outcome).to.equal(0);
      }
      events.emit('notify:attempt', {
        notifier: 'ops-hook', kind: 'webhook', event: 'failure', jobId: 'a', executionId: 'exec-00000000000000000000', attempt: 1,
        outcome: 'failed', durationMs: 5, status: 503, code: 'HTTP_STATUS', error: 'answered 503', retryInMs: null,
      });
      notifiers = ['mail'];
      s = await scrape();
      expect(value(s, 'watchbell_notifications_total', { notifier: 'ops-hook', outcome: 'failed' })).to.equal(1);
      expect(value(s, 'watchbell_notifications_total', { notifier: 'ops-hook', outcome: 'sent' })).to.equal(0);
      expect(value(s, 'watchbell_notifications_total', { notifier: 'mail', outcome: 'dropped' })).to.equal(0);
    });
  });

  describe('GET /metrics (black-box)', function () {
    const dirs: string[] = [];
    const daemons: DaemonProcess[] = [];
    afterEach(async function () {
      while (daemons.length) await daemons.pop()!.stop();
    });
    after(async function () {
      for (const dir of dirs) await removeDir(dir);
    });
    const started = (d: DaemonProcess) => {
      daemons.push(d);
      dirs.push(d.dir);
      return d;
    };
    const scrape = async (d: DaemonProcess, headers: Record<string, string> = {}) => {
      const res = await d.api('GET', '/metrics', undefined, headers);
      expect(res.status, res.text).to.equal(200);
      return parse(res.text);
    };

    it('serves the documented metrics in Prometheus text, fed by real runs', async function () {
      const d = started(await startWithJobs('  tick:\n    schedule: "* * * * * *"\n    command: echo tick\n  broken:\n    schedule: "@yearly"\n    command: exit 3\n'));
      const first = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick');
      await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick' && l.execution_id !== first.execution_id);
      const eid = (await d.api('POST', '/api/v1/jobs/broken/run')).body.data.execution_id;
      await d.finished(eid);

      const res = await d.api('GET', '/metrics');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
      for (const name of [
        'watchbell_executions_total', 'watchbell_execution_duration_seconds', 'watchbell_schedule_lateness_seconds',
        'watchbell_executions_running', 'watchbell_executions_queued',
        'watchbell_job_last_success_timestamp_seconds', 'watchbell_job_next_run_timestamp_seconds',
      ]) {
        expect(res.text, name).to.match(new RegExp(`^# HELP ${name} \\S`, 'm'));
      }
      const s = parse(res.text);
      expect(value(s, 'watchbell_executions_total', { job_id: 'tick', status: 'success' })).to.be.at.least(2);
      expect(value(s, 'watchbell_executions_total', { job_id: 'broken', status: 'failure' })).to.equal(1);
      expect(value(s, 'watchbell_executions_total', { job_id: 'broken', status: 'success' })).to.equal(0);
      expect(value(s, 'watchbell_execution_duration_seconds_count', { job_id: 'tick' })).to.be.at.least(2);
      expect(value(s, 'watchbell_schedule_lateness_seconds_count')).to.be.at.least(2);
      // Lateness is measured from the slot, so a healthy daemon is well under a second late.
      expect(value(s, 'watchbell_schedule_lateness_seconds_bucket', { le: '5' })).to.equal(value(s, 'watchbell_schedule_lateness_seconds_count'));
      expect(value(s, 'watchbell_executions_running')).to.be.a('number');
      expect(value(s, 'watchbell_executions_queued')).to.equal(0);
      const next = value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'tick' })!;
      expect(next * 1000).to.be.within(Date.now() - 1000, Date.now() + 2000);
      expect(Number.isInteger(next)).to.equal(true);
      const job = (await d.api('GET', '/api/v1/jobs/tick')).body.data;
      expect(value(s, 'watchbell_job_last_success_timestamp_seconds', { job_id: 'tick' })! * 1000).to.be.within(Date.parse(first.time as string) - 2000, Date.parse(job.last_run.finished_at) + 1);
      expect(value(s, 'watchbell_job_last_success_timestamp_seconds', { job_id: 'broken' })).to.equal(undefined);
      // Default process metrics.
      expect(value(s, 'process_cpu_user_seconds_total')).to.be.a('number');
      expect(value(s, 'process_resident_memory_bytes')).to.be.greaterThan(0);
    });

    it('drops the series of a deleted job and the next run of a paused one', async function () {
      const d = started(await startWithJobs('  {}\n'));
      expect((await d.api('POST', '/api/v1/jobs', { id: 'short-lived', schedule: '@hourly', command: 'true' })).status).to.equal(201);
      expect((await d.api('POST', '/api/v1/jobs', { id: 'sleepy', schedule: '@hourly', command: 'true' })).status).to.equal(201);
      await d.finished((await d.api('POST', '/api/v1/jobs/short-lived/run')).body.data.execution_id);
      let s = await scrape(d);
      expect(value(s, 'watchbell_executions_total', { job_id: 'short-lived', status: 'success' })).to.equal(1);
      expect(value(s, 'watchbell_job_last_success_timestamp_seconds', { job_id: 'short-lived' })).to.be.a('number');
      expect(value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'sleepy' })).to.be.a('number');

      expect((await d.api('DELETE', '/api/v1/jobs/short-lived')).status).to.equal(200);
      expect((await d.api('POST', '/api/v1/jobs/sleepy/pause')).status).to.equal(200);
      s = await scrape(d);
      expect(s.filter((x) => x.labels.job_id === 'short-lived')).to.deep.equal([]);
      expect(value(s, 'watchbell_job_next_run_timestamp_seconds', { job_id: 'sleepy' })).to.equal(undefined);
      expect(value(s, 'watchbell_executions_total', { job_id: 'sleepy', status: 'failure' })).to.equal(0);
    });

    it('keeps a job\'s last success after history_limit trimmed it, and across a restart', async function () {
      // Succeeds once, then fails: with history_limit 1 the success leaves the history at the next run.
      const jobs = '  flaky:\n    schedule: "@yearly"\n    command: "test -e failing && exit 1; touch failing"\n    history_limit: 1\n';
      const d = started(await startWithJobs(jobs));
      const run = async () => {
        const id = (await d.api('POST', '/api/v1/jobs/flaky/run')).body.data.execution_id;
        await d.finished(id);
        return (await d.api('GET', `/api/v1/jobs/flaky/executions/${id}`)).body.data;
      };
      const success = await run();
      expect(success.status).to.equal('success');
      expect((await run()).status).to.equal('failure');
      expect((await d.api('GET', '/api/v1/jobs/flaky/executions?status=success')).body.data).to.deep.equal([]);
      const ended = Date.parse(success.finished_at) / 1000;
      expect(value(await scrape(d), 'watchbell_job_last_success_timestamp_seconds', { job_id: 'flaky' })).to.equal(ended);
      await d.stop();
      const again = started(await startDaemon({ dir: d.dir }));
      expect(value(await scrape(again), 'watchbell_job_last_success_timestamp_seconds', { job_id: 'flaky' })).to.equal(ended);
    });

    it('shows executions waiting for a max_concurrency slot as queued', async function () {
      const config = configText('  slow:\n    schedule: "@yearly"\n    command: sleep 30\n    concurrency: allow\n')
        .replace('  kill_grace: 1s\n', '  kill_grace: 1s\n  max_concurrency: 1\n');
      const d = started(await startDaemon({ config }));
      const one = (await d.api('POST', '/api/v1/jobs/slow/run')).body.data.execution_id;
      const two = (await d.api('POST', '/api/v1/jobs/slow/run')).body.data.execution_id;
      const s = await scrape(d);
      expect(value(s, 'watchbell_executions_running')).to.equal(1);
      expect(value(s, 'watchbell_executions_queued')).to.equal(1);
      await d.api('POST', `/api/v1/jobs/slow/executions/${two}/cancel`);
      await d.api('POST', `/api/v1/jobs/slow/executions/${one}/cancel`);
      await d.finished(one);
      const after = await scrape(d);
      expect(value(after, 'watchbell_executions_running')).to.equal(0);
      expect(value(after, 'watchbell_executions_total', { job_id: 'slow', status: 'cancelled' })).to.equal(2);
    });

    it('needs a token when tokens are configured, unless api.metrics_public is true', async function () {
      const env = { WB_METRICS_ADMIN: 'admin-token-for-metrics', WB_METRICS_READ: 'read-token-for-metrics' };
      const tokens = 'api:\n  tokens:\n    - name: admin\n      token: ${WB_METRICS_ADMIN}\n      scope: admin\n    - name: prometheus\n      token: ${WB_METRICS_READ}\n      scope: read\n';
      const closed = started(await startDaemon({ config: configText('  {}\n', tokens), env }));
      const anonymous = await closed.api('GET', '/metrics');
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body.error.code).to.equal('UNAUTHORIZED');
      expect((await closed.api('GET', '/metrics', undefined, { authorization: 'Bearer wrong-token' })).status).to.equal(401);
      await scrape(closed, { authorization: `Bearer ${env.WB_METRICS_READ}` });
      expect((await closed.api('GET', '/health')).status).to.equal(200);

      const open = started(await startDaemon({ config: configText('  {}\n', `${tokens}  metrics_public: true\n`), env }));
      const s = await scrape(open);
      expect(value(s, 'watchbell_executions_running')).to.equal(0);
      // Only /metrics is opened.
      expect((await open.api('GET', '/api/v1/jobs')).status).to.equal(401);
    });

    it('is open like /health when no token is configured', async function () {
      const d = started(await startWithJobs('  {}\n'));
      await scrape(d);
    });
  });
});
