/** The label source against a fake engine: resync on events, reconnect with backoff, problems reported once. */
import { expect } from 'chai';
import type { LabelledContainer } from '../../src/config/docker-labels.js';
import { LabelSource, type LabelApplyResult, type LabelEngine } from '../../src/config/label-source.js';
import { Events, type WatchbellEvents } from '../../src/jobs/events.js';

class FakeEngine implements LabelEngine {
  readonly address = 'unix:///fake.sock';
  containers: LabelledContainer[] = [];
  /** Connect attempts left to fail. */
  failures = 0;
  follows = 0;
  private onChange: (() => void) | undefined;
  private endStream: (() => void) | undefined;

  async list(): Promise<LabelledContainer[]> {
    return this.containers;
  }

  async follow(onChange: () => void, signal: AbortSignal): Promise<{ ended: Promise<void> }> {
    this.follows++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connect ECONNREFUSED');
    }
    this.onChange = onChange;
    const ended = new Promise<void>((resolve) => {
      this.endStream = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return { ended };
  }

  change(): void {
    this.onChange?.();
  }

  drop(): void {
    this.endStream?.();
  }
}

const job = (name: string, labels: Record<string, string>): LabelledContainer => ({ id: name, name, labels: { 'watchbell.enabled': 'true', ...labels } });
const hello = { 'watchbell.job.hello.schedule': '@hourly', 'watchbell.job.hello.command': 'echo hi' };

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('config/label-source: following the engine', () => {
  let source: LabelSource | undefined;
  afterEach(async () => source?.close());

  function setup(engine: FakeEngine) {
    const events = new Events();
    const seen: Array<{ kind: keyof WatchbellEvents; payload: unknown }> = [];
    for (const kind of ['labels:applied', 'labels:invalid', 'labels:engine'] as const) events.on(kind, (payload) => seen.push({ kind, payload }));
    const applied: string[][] = [];
    const apply = async (jobs: Array<{ id: string }>): Promise<LabelApplyResult> => {
      const before = applied.at(-1) ?? [];
      const ids = jobs.map((j) => j.id);
      applied.push(ids);
      return { added: ids.filter((i) => !before.includes(i)), changed: [], removed: before.filter((i) => !ids.includes(i)), refused: [] };
    };
    source = new LabelSource({ engine, timezone: 'UTC', apply, events, retryMs: { min: 10, max: 40 }, debounceMs: 5 });
    source.start();
    return { seen, applied };
  }

  it('applies the jobs at connect and again after events', async () => {
    const engine = new FakeEngine();
    engine.containers = [job('web', hello)];
    const { applied, seen } = setup(engine);
    await until(() => applied.length === 1, 'the first apply');
    expect(applied[0]).to.deep.equal(['web.hello']);
    expect(seen.find((s) => s.kind === 'labels:engine')!.payload).to.include({ state: 'connected' });
    engine.containers = [];
    engine.change();
    engine.change(); // a burst is one listing
    await until(() => applied.length === 2, 'the second apply');
    expect(applied[1]).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, 30));
    expect(applied).to.have.length(2);
  });

  it('reconnects with backoff when the engine is unreachable or the stream ends, and lists again', async () => {
    const engine = new FakeEngine();
    engine.failures = 2;
    engine.containers = [job('web', hello)];
    const { applied, seen } = setup(engine);
    await until(() => applied.length === 1, 'an apply after two failed connects');
    const lost = seen.filter((s) => s.kind === 'labels:engine' && (s.payload as { state: string }).state === 'lost').map((s) => s.payload);
    expect(lost).to.deep.equal([
      { state: 'lost', engine: 'unix:///fake.sock', error: 'connect ECONNREFUSED', retryInMs: 10 },
      { state: 'lost', engine: 'unix:///fake.sock', error: 'connect ECONNREFUSED', retryInMs: 20 },
    ]);
    engine.containers = [job('web', hello), job('db', hello)];
    engine.drop();
    await until(() => applied.length === 2, 'an apply after the stream ended');
    expect(applied[1]).to.deep.equal(['db.hello', 'web.hello']);
    expect(engine.follows).to.equal(4);
  });

  it('reports a bad label once, and again only after it was fixed and broken anew', async () => {
    const engine = new FakeEngine();
    engine.containers = [job('web', { ...hello, 'watchbell.job.hello.retries': 'lots' })];
    const { seen, applied } = setup(engine);
    await until(() => applied.length === 1, 'the first apply');
    engine.change();
    await until(() => applied.length === 2, 'the second apply');
    expect(seen.filter((s) => s.kind === 'labels:invalid')).to.have.length(1);
    expect(seen.find((s) => s.kind === 'labels:invalid')!.payload).to.deep.equal({
      container: 'web',
      label: 'watchbell.job.hello.retries',
      message: 'container web: label watchbell.job.hello.retries: "lots" is invalid; expected an integer from 0 to 100',
    });
  });
});
