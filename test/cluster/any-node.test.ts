/**
 * Any node answers for the cluster (issue 18, item 5; API jobs shared, item 6), with two real daemons on a
 * schema of the test's own: an API job made on one node is run by the cluster and seen by the other; a pause
 * on one stops both; a cancel from one reaches the other within a second (and at its next heartbeat when
 * the notification was missed); a wait step is advanced, a log is followed, and executions are listed,
 * through a node that does not run them.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { configText, removeDir, startDaemon, tempDir, type ApiReply, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';
import { until } from '../helpers/process-groups.js';

const TOKEN = 'cluster-any-node-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface Exec {
  id: string;
  node: string;
  status: string;
  scheduled_at: string | null;
}

describe('cluster: any node answers for the cluster (2 daemons, one PostgreSQL)', function () {
  this.timeout(60_000);
  let nodes: DaemonProcess[] = [];
  const dirs: string[] = [];
  // One pair of nodes for all the tests (each uses jobs of its own): starting two daemons takes seconds on a loaded machine.
  let a: DaemonProcess;
  let b: DaemonProcess;
  let schema: string;
  let gate: string;

  before(async function () {
    if (!(await requirePostgres(this))) return;
    const t0 = Date.now();
    const store = testStoreUrl();
    schema = new URL(store).searchParams.get('schema')!;
    const config = configText('  {}\n', `  node: NAME\napi:\n  tokens:\n    - { name: ops, token: "${TOKEN}", scope: admin }\n`);
    const started = await Promise.allSettled(['a', 'b'].map(async (name) => {
      const dir = await tempDir();
      dirs.push(dir);
      return startDaemon({ dir, config: config.replace('NAME', name), env: { WATCHBELL_STORE: store } });
    }));
    // One that started is stopped by after() even when the other did not.
    nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    [a, b] = nodes as [DaemonProcess, DaemonProcess];
    gate = await tempDir('watchbell-gate-');
    dirs.push(gate);
    console.log(`      two nodes started in ${Date.now() - t0} ms`);
  });

  after(async () => {
    await Promise.all(nodes.map((d) => d.stop('SIGKILL')));
    await Promise.all(dirs.splice(0).map(removeDir));
    await dropTestSchemas();
  });

  const api = (d: DaemonProcess, method: string, path: string, body?: unknown): Promise<ApiReply> => d.api(method, path, body, AUTH);

  async function executions(d: DaemonProcess, job: string): Promise<Exec[]> {
    const r = await api(d, 'GET', `/api/v1/jobs/${job}/executions?limit=100`);
    expect(r.status, r.text).to.equal(200);
    return r.body.data as Exec[];
  }

  it('an API job created on A is seen on B at once, run by the cluster, and both list every node\'s executions', async () => {
    const created = await api(a, 'POST', '/api/v1/jobs', { id: 'shared', schedule: '* * * * * *', command: 'echo ran' });
    expect(created.status, created.text).to.equal(201);
    const t0 = Date.now();
    const onB = await until('B to know the job', async () => {
      const r = await api(b, 'GET', '/api/v1/jobs/shared');
      return r.status === 200 ? r.body.data : undefined;
    });
    console.log(`      the job reached B ${Date.now() - t0} ms after A answered`);
    expect(onB.command).to.equal('echo ran');
    expect(onB.status).to.equal('active');

    // Both nodes fire its slots, each slot is run once, by whichever node claims it; both lists show all of them.
    const ran = await until('executions by both nodes', async () => {
      const list = await executions(a, 'shared');
      const done = list.filter((e) => e.status === 'success');
      return new Set(done.map((e) => e.node)).size === 2 && done.length >= 3 ? done : undefined;
    }, 30_000);
    const viaB = await until('B to list what A lists', async () => {
      const list = await executions(b, 'shared');
      return ran.every((e) => list.some((x) => x.id === e.id && x.status === 'success')) ? list : undefined;
    });
    expect(viaB.length).to.be.at.least(ran.length);
    const all = await api(b, 'GET', '/api/v1/executions?limit=100');
    expect(all.body.data.filter((e: Exec) => e.node === 'a').length).to.be.above(0);

    // An update on B reaches A: A runs the new command.
    const updated = await api(b, 'PUT', '/api/v1/jobs/shared', { command: 'echo changed' });
    expect(updated.status, updated.text).to.equal(200);
    await until('A to know the update', async () => {
      const r = await api(a, 'GET', '/api/v1/jobs/shared');
      return r.body.data.command === 'echo changed' ? true : undefined;
    });
    // A finished log of either node reads the same through the other (it is in the database).
    const one = ran.find((e) => e.node === 'b')!;
    const log = await api(a, 'GET', `/api/v1/jobs/shared/executions/${one.id}/log`);
    expect(log.status).to.equal(200);
    expect(log.text).to.equal('ran\n');

    // A delete on A: B forgets the job and stops firing it.
    expect((await api(a, 'DELETE', '/api/v1/jobs/shared')).status).to.equal(200);
    await until('B to forget the job', async () => ((await api(b, 'GET', '/api/v1/jobs/shared')).status === 404 ? true : undefined));
  });

  it('a pause on A stops both nodes: no slot after it runs anywhere, and B shows it paused', async () => {
    expect((await api(b, 'POST', '/api/v1/jobs', { id: 'often', schedule: '* * * * * *', command: 'true' })).status).to.equal(201);
    await until('a first run', async () => ((await executions(b, 'often')).length > 0 ? true : undefined));
    await until('A to know the job', async () => ((await api(a, 'GET', '/api/v1/jobs/often')).status === 200 ? true : undefined));
    const paused = await api(a, 'POST', '/api/v1/jobs/often/pause');
    expect(paused.status, paused.text).to.equal(200);
    const pausedAt = Date.now();
    await until('B to show it paused', async () => ((await api(b, 'GET', '/api/v1/jobs/often')).body.data.status === 'paused' ? true : undefined));
    // Two more slots pass (waiting for the clock is the point here).
    await new Promise((r) => setTimeout(r, 2200));
    const rows = await sql<{ node: string; slot: string }>(
      `SELECT body->>'node' AS node, body->>'scheduled_at' AS slot FROM "${schema}".executions WHERE job_id = 'often' AND body->>'scheduled_at' IS NOT NULL`,
    );
    const after = rows.filter((r) => Date.parse(r.slot) > pausedAt);
    expect(after, `slots run after the pause: ${JSON.stringify(after)}`).to.deep.equal([]);
    expect(rows.length).to.be.above(0);

    // Resumed on B: both run it again.
    expect((await api(b, 'POST', '/api/v1/jobs/often/resume')).status).to.equal(200);
    const resumedAt = Date.now();
    await until('a run after the resume', async () => {
      const list = await executions(a, 'often');
      return list.some((e) => e.scheduled_at && Date.parse(e.scheduled_at) > resumedAt) ? true : undefined;
    });
    expect((await api(a, 'DELETE', '/api/v1/jobs/often')).status).to.equal(200);
  });

  it('a cancel from A of a long run on B reaches B within a second; A answers with the cancelled record', async () => {
    expect((await api(b, 'POST', '/api/v1/jobs', { id: 'long', schedule: '@yearly', command: 'echo started; sleep 60' })).status).to.equal(201);
    const run = await api(b, 'POST', '/api/v1/jobs/long/run');
    expect(run.status, run.text).to.equal(202);
    const id = run.body.data.execution_id as string;
    await until('A to see it running on B', async () => {
      const r = await api(a, 'GET', `/api/v1/jobs/long/executions/${id}`);
      return r.status === 200 && r.body.data.status === 'in_progress' && r.body.data.node === 'b' ? true : undefined;
    });
    const t0 = Date.now();
    const cancel = await api(a, 'POST', `/api/v1/jobs/long/executions/${id}/cancel`);
    const answeredMs = Date.now() - t0;
    expect(cancel.status, cancel.text).to.equal(202);
    expect(cancel.body.data).to.deep.equal({ message: 'Execution cancelled successfully', execution_id: id, status: 'cancelled' });
    const heard = await b.waitFor((l) => l.event === 'cluster.cancel_received' && l.execution_id === id);
    const ended = await b.finished(id);
    const reachedMs = (typeof heard.time === 'number' ? heard.time : Date.parse(String(heard.time))) - t0;
    console.log(`      cancel from A: B heard it ${reachedMs} ms after the request, A answered after ${answeredMs} ms`);
    expect(ended.status).to.equal('cancelled');
    // The bound is 1 s; the test allows for a loaded machine, and fails well before a poll-based design would pass.
    expect(answeredMs).to.be.below(3000);
    const onB = await api(b, 'GET', `/api/v1/jobs/long/executions/${id}`);
    expect(onB.body.data.status).to.equal('cancelled');
    // A second cancel, from either node, is refused as for a local one.
    expect((await api(a, 'POST', `/api/v1/jobs/long/executions/${id}/cancel`)).body.error.code).to.equal('EXECUTION_FINISHED');
    // A restart through A of B's cancelled execution runs on A; B lists it.
    const restarted = await api(a, 'POST', `/api/v1/jobs/long/executions/${id}/restart`);
    expect(restarted.status, restarted.text).to.equal(202);
    const again = restarted.body.data.execution_id as string;
    const seen = await until('B to list the restart', async () => {
      const r = await api(b, 'GET', `/api/v1/jobs/long/executions/${again}`);
      return r.status === 200 ? r.body.data : undefined;
    });
    expect(seen).to.include({ node: 'a', trigger: 'restart', restarted_from: id });
    expect((await api(b, 'POST', `/api/v1/jobs/long/executions/${again}/cancel`)).body.data.status).to.equal('cancelled');
  });

  it('a cancel whose notification B missed (its LISTEN down) is read from cancel_requests at B\'s next heartbeat', async () => {
    expect((await api(b, 'POST', '/api/v1/jobs', { id: 'deaf', schedule: '@yearly', command: 'sleep 60' })).status).to.equal(201);
    const id = (await api(b, 'POST', '/api/v1/jobs/deaf/run')).body.data.execution_id as string;
    await b.waitFor((l) => l.event === 'execution.started' && l.execution_id === id);
    // What sendCancel writes, without its NOTIFY: as if B's LISTEN was down when it was sent.
    await sql(`INSERT INTO "${schema}".cancel_requests (execution_id, job_id, node) VALUES ($1, 'deaf', 'b')`, [id]);
    const ended = await b.finished(id, 15_000);
    expect(ended.status).to.equal('cancelled');
    expect(b.lines.some((l) => l.event === 'cluster.cancel_received' && l.execution_id === id)).to.equal(true);
    expect(await sql(`SELECT 1 FROM "${schema}".cancel_requests`)).to.have.length(0);
  });

  it('advances from A a run held at a wait step on B, with outputs for the step after it', async () => {
    const job = {
      id: 'gated',
      schedule: '@yearly',
      steps: [{ name: 'hold', wait: { timeout: '1m' } }, { name: 'after', command: 'echo "got=$WATCHBELL_STEP_HOLD_ANSWER"' }],
    };
    expect((await api(b, 'POST', '/api/v1/jobs', job)).status).to.equal(201);
    const run = await api(b, 'POST', '/api/v1/jobs/gated/run');
    expect(run.status, run.text).to.equal(202);
    const id = run.body.data.execution_id as string;
    await until('A to see it waiting on B', async () => {
      const r = await api(a, 'GET', `/api/v1/jobs/gated/executions/${id}`);
      return r.status === 200 && r.body.data.status === 'waiting' && r.body.data.node === 'b' ? true : undefined;
    });
    const bad = await api(a, 'POST', `/api/v1/jobs/gated/executions/${id}/advance`, { outputs: { answer: 5 } });
    expect(bad.status, bad.text).to.equal(400);
    const advanced = await api(a, 'POST', `/api/v1/jobs/gated/executions/${id}/advance`, { outputs: { answer: '42' } });
    expect(advanced.status, advanced.text).to.equal(202);
    expect(advanced.body.data).to.deep.equal({ message: 'Execution advanced', execution_id: id });
    const ended = await b.finished(id);
    expect(ended.status).to.equal('success');
    expect((await api(a, 'GET', `/api/v1/jobs/gated/executions/${id}/log`)).text).to.include('got=42');
    // Once it has ended, an advance through either node is refused as for a local one.
    const late = await api(a, 'POST', `/api/v1/jobs/gated/executions/${id}/advance`, {});
    expect(late.status).to.equal(409);
    expect(late.body.error.code).to.equal('EXECUTION_NOT_WAITING');
  });

  it('a node whose feed connection dropped reads again what changed meanwhile', async () => {
    expect((await api(a, 'POST', '/api/v1/jobs', { id: 'quiet', schedule: '@yearly', command: 'true' })).status).to.equal(201);
    await until('B to know the job', async () => ((await api(b, 'GET', '/api/v1/jobs/quiet')).status === 200 ? true : undefined));
    const mark = (d: DaemonProcess) => d.lines.filter((l) => l.event === 'cluster.feed_back').length;
    const before = [mark(a), mark(b)];
    // Both nodes' feed connections are ended (waiting until they are gone), then the job is paused in the
    // database at once, well within the feed's first reconnect delay (250 ms): no notification can reach them.
    const feeds = await sql<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity WHERE query = 'LISTEN "watchbell_cancel_' || md5($1) || '"'`,
      [schema],
    );
    await sql(`INSERT INTO "${schema}".job_states AS s (job_id, state) VALUES ('quiet', '{"paused": true}') ON CONFLICT (job_id) DO UPDATE SET state = s.state || EXCLUDED.state`);
    expect(feeds.map((f) => f.ended)).to.deep.equal([true, true]);
    for (const d of [a, b]) {
      await until('the paused state after the reconnect', async () => ((await api(d, 'GET', '/api/v1/jobs/quiet')).body.data.status === 'paused' ? true : undefined));
    }
    // The line comes after the resync that brought the pause: it may still be on its way through the pipe.
    const reconnects = () => [mark(a), mark(b)].map((n, i) => n - before[i]!);
    await until('both feed_back lines', async () => (reconnects().every((n) => n >= 1) ? true : undefined));
    expect(reconnects()).to.deep.equal([1, 1]);
    expect(a.lines.some((l) => l.event === 'cluster.feed_lost')).to.equal(true);
  });

  it('follows from A the log of a run on B, over HTTP and over a WebSocket, to its end', async () => {
    const go = join(gate, 'go');
    const command = `echo first; while [ ! -f ${go} ]; do sleep 0.05; done; echo second`;
    expect((await api(b, 'POST', '/api/v1/jobs', { id: 'talky', schedule: '@yearly', command })).status).to.equal(201);
    const id = (await api(b, 'POST', '/api/v1/jobs/talky/run')).body.data.execution_id as string;
    await until('A to see it on B', async () => ((await api(a, 'GET', `/api/v1/jobs/talky/executions/${id}`)).status === 200 ? true : undefined));

    // HTTP follow from A: the text so far, then what B's job prints after, ending when it ends.
    const res = await fetch(`${a.url}/api/v1/jobs/talky/executions/${id}/log?follow=true`, { headers: AUTH });
    expect(res.status, res.status === 200 ? '' : await res.text()).to.equal(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('first\n')) text += Buffer.from((await reader.read()).value!).toString();

    // And the WebSocket form, from A too.
    const ws = new WebSocket(`${a.url.replace('http:', 'ws:')}/api/v1/jobs/talky/executions/${id}/log?follow=true`, { headers: AUTH });
    let wsText = '';
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => ws.on('message', (m) => {
      wsText += m.toString();
      if (wsText.includes('first\n')) resolve();
    }));

    // Without follow, the log as it is now, from B too.
    const now = await api(a, 'GET', `/api/v1/jobs/talky/executions/${id}/log`);
    expect(now.status, now.text).to.equal(200);
    expect(now.text).to.equal('first\n');

    await writeFile(go, '');
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
    expect(text).to.equal('first\nsecond\n');
    expect(await closed).to.equal(1000);
    expect(wsText).to.equal('first\nsecond\n');
  });

  // Last: it stops node A.
  it('ends with the shutdown note a follow through A of a run on B when A shuts down; the run goes on on B', async () => {
    expect((await api(b, 'POST', '/api/v1/jobs', { id: 'ticker', schedule: '@yearly', command: 'echo tick; sleep 60' })).status).to.equal(201);
    const id = (await api(b, 'POST', '/api/v1/jobs/ticker/run')).body.data.execution_id as string;
    await until('A to see it running on B', async () => ((await api(a, 'GET', `/api/v1/jobs/ticker/executions/${id}`)).body.data?.status === 'in_progress' ? true : undefined));
    const res = await fetch(`${a.url}/api/v1/jobs/ticker/executions/${id}/log?follow=true`, { headers: AUTH });
    expect(res.status).to.equal(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('tick\n')) text += Buffer.from((await reader.read()).value!).toString();
    const exit = a.stop();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
    expect(text).to.equal('tick\n[watchbell] the daemon is shutting down; follow ended before the execution did\n');
    expect((await exit).code).to.equal(0);
    expect((await api(b, 'GET', `/api/v1/jobs/ticker/executions/${id}`)).body.data.status).to.equal('in_progress');
    await api(b, 'POST', `/api/v1/jobs/ticker/executions/${id}/cancel`);
  });
});
