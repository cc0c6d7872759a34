/** DeliveryQueue and Dispatcher in-process, with fake senders: order, retries, the bound on waiting notifications, shutdown. */
import { expect } from 'chai';
import { Events, type NotifyAttempt } from '../../src/jobs/events.js';
import { DeliveryQueue, type Target } from '../../src/notify/delivery-queue.js';
import { Dispatcher } from '../../src/notify/dispatcher.js';
import type { Notification } from '../../src/notify/notification.js';
import type { Sender, SendResult } from '../../src/notify/sender.js';
import type { JobView } from '../../src/service/job-view.js';
import { execution, notification } from './fixtures.js';

const fail = (retryable: boolean, status: number | null = 503): SendResult => ({ ok: false, retryable, status, code: 'HTTP_STATUS', error: `answered ${status} for https://hooks.example.com/T0/secret-path` });

/** A sender whose answers the test scripts, one per attempt; `hold` makes attempts wait until released. */
function fakeSender(answers: SendResult[] = [], o: { hold?: boolean } = {}) {
  const sent: Array<{ id: string; signal: AbortSignal }> = [];
  let release: () => void = () => undefined;
  let gate = o.hold ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  const sender: Sender = {
    kind: 'webhook',
    async send(n, signal) {
      sent.push({ id: n.id, signal });
      let onAbort: () => void = () => undefined;
      await Promise.race([gate, new Promise<void>((r) => signal.addEventListener('abort', (onAbort = () => r()), { once: true }))]);
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return { ok: false, retryable: false, status: null, code: 'ABORTED', error: 'stopped' };
      return answers.shift() ?? { ok: true, status: 200 };
    },
  };
  return { sender, sent, release: () => (release(), (gate = Promise.resolve())) };
}

function target(sender: Sender, retries = 3): Target {
  return {
    config: { name: 'hook', type: 'webhook', format: 'json', url: 'https://hooks.example.com/T0/secret-path', secret: null, headers: {}, timeout: 10, retries },
    sender,
    redact: (t) => t.split('https://hooks.example.com/T0/secret-path').join('******'),
  };
}

function recorder(events: Events): NotifyAttempt[] {
  const seen: NotifyAttempt[] = [];
  events.on('notify:attempt', (a) => seen.push(a));
  return seen;
}

const n = (i: number): Notification => notification({ id: `n-${i}` }, { id: `exec-${String(i).padStart(4, '0')}` });

describe('DeliveryQueue', function () {
  const never = new AbortController().signal;

  it('retries retryable failures with backoff, up to `retries`, and masks secrets in errors', async function () {
    const events = new Events();
    const seen = recorder(events);
    const { sender, sent } = fakeSender([fail(true), fail(true)]);
    const waits: number[] = [];
    const q = new DeliveryQueue(target(sender), { events, maxPending: 10, backoffMs: (a) => (waits.push(a), 1), draining: never, signal: never });
    q.push(n(1));
    await q.idle();
    expect(sent).to.have.length(3);
    expect(waits).to.deep.equal([1, 2]);
    expect(seen.map((a) => [a.attempt, a.outcome])).to.deep.equal([[1, 'retry'], [2, 'retry'], [3, 'sent']]);
    expect(seen[0]!.error).to.equal('answered 503 for ******');
    expect(q.status()).to.include({ sent: 1, failed: 0, queued: 0 });
    expect(q.status().last_error).to.include({ status: 503, code: 'HTTP_STATUS', message: 'answered 503 for ******', job_id: 'backup' });
  });

  it('gives up after `retries` further attempts, and at once on a failure that is not retryable', async function () {
    const events = new Events();
    const seen = recorder(events);
    const { sender } = fakeSender([fail(true), fail(true), fail(false, 404)]);
    const q = new DeliveryQueue(target(sender, 1), { events, maxPending: 10, backoffMs: () => 1, draining: never, signal: never });
    q.push(n(1));
    q.push(n(2));
    await q.idle();
    expect(seen.map((a) => [a.executionId, a.attempt, a.outcome])).to.deep.equal([
      ['exec-0001', 1, 'retry'], ['exec-0001', 2, 'failed'], ['exec-0002', 1, 'failed'],
    ]);
    expect(q.status()).to.include({ sent: 0, failed: 2 });
  });

  it('holds at most maxPending waiting notifications, dropping the oldest, and delivers the rest in order', async function () {
    const events = new Events();
    const seen = recorder(events);
    const { sender, sent, release } = fakeSender([], { hold: true });
    const q = new DeliveryQueue(target(sender), { events, maxPending: 100, backoffMs: () => 1, draining: never, signal: never });
    for (let i = 1; i <= 105; i++) q.push(n(i));
    expect(q.status().queued).to.equal(101); // one under way, 100 waiting
    const dropped = seen.filter((a) => a.outcome === 'dropped');
    expect(dropped.map((a) => a.executionId)).to.deep.equal(['exec-0002', 'exec-0003', 'exec-0004', 'exec-0005']);
    expect(dropped[0]).to.include({ attempt: 0, code: 'QUEUE_FULL' });
    release();
    await q.idle();
    expect(sent.map((s) => s.id)).to.deep.equal(['n-1', ...Array.from({ length: 100 }, (_, i) => `n-${i + 6}`)]);
    expect(q.status()).to.include({ sent: 101, dropped: 4, queued: 0 });
  });

  it('starts again after it ran dry', async function () {
    const events = new Events();
    const { sender, sent } = fakeSender();
    const q = new DeliveryQueue(target(sender), { events, maxPending: 10, backoffMs: () => 1, draining: never, signal: never });
    q.push(n(1));
    await q.idle();
    q.push(n(2));
    await q.idle();
    expect(sent.map((s) => s.id)).to.deep.equal(['n-1', 'n-2']);
  });
});

describe('Dispatcher', function () {
  function dispatcher(events: Events, notify: JobView['notify'], sender?: Sender) {
    return new Dispatcher({
      ...(sender ? { sender: () => sender } : {}),
      events,
      notifiers: { hook: { name: 'hook', type: 'webhook', format: 'json', url: 'http://127.0.0.1:9/x', secret: null, headers: {}, timeout: 1, retries: 0 } },
      job: (id) => ({ id, name: id, notify } as JobView),
      previous: () => undefined,
      publicUrl: null,
      userAgent: 'test',
    });
  }

  it('drops, with a log line, a notification for a notifier the config does not declare', async function () {
    const events = new Events();
    const seen = recorder(events);
    const d = dispatcher(events, [{ notifier: 'gone', events: ['failure'] }]);
    events.emit('execution:finished', { execution: execution() });
    expect(seen).to.have.length(1);
    expect(seen[0]).to.include({ notifier: 'gone', outcome: 'dropped', code: 'UNKNOWN_NOTIFIER', kind: null });
    await d.close(10);
  });

  it('on close stops listening, and ends within its grace even with a target that never answers', async function () {
    const events = new Events();
    const seen = recorder(events);
    // A target that holds every attempt until it is aborted.
    const { sender } = fakeSender([], { hold: true });
    const d = dispatcher(events, [{ notifier: 'hook', events: ['failure'] }], sender);
    events.emit('execution:finished', { execution: execution({ id: 'exec-0001' }) });
    events.emit('execution:finished', { execution: execution({ id: 'exec-0002' }) });
    const started = Date.now();
    await d.close(50);
    expect(Date.now() - started).to.be.below(1000);
    expect(seen.map((a) => [a.executionId, a.outcome, a.code])).to.deep.equal([['exec-0001', 'failed', 'ABORTED'], ['exec-0002', 'dropped', 'SHUTDOWN']]);
    events.emit('execution:finished', { execution: execution({ id: 'exec-0003' }) });
    expect(seen).to.have.length(2);
    expect(d.status().hook).to.include({ queued: 0, failed: 1, dropped: 1 });
  });
});
