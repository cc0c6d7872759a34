/**
 * Cluster mode, work spread, with real daemons on the real PostgreSQL: `run_on` sends a job's runs to the
 * nodes whose tags match (a slot claimed elsewhere goes through the shared queue), a job no live node
 * matches is skipped `no_node` and listed in /health, a won slot with no free slot here runs on another
 * node, `forbid` holds across nodes, and a SIGKILLed node's execution with retries left is retried
 * elsewhere.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, sql, testStoreUrl } from '../helpers/postgres.js';
import { groupOf, killGroups, until } from '../helpers/process-groups.js';

const LEASE_S = 3;
const CLUSTER = `  heartbeat: 1s\n  lease: ${LEASE_S}s\n`;

interface Row {
  id: string;
  status: string;
  body: { node?: string; reason: string | null; error: string | null; started_at: string | null; finished_at: string | null; trigger: string; restarted_from?: string };
}

function nodeName(d: DaemonProcess): string {
  return String(d.lines.find((l) => l.event === 'cluster.joined')!.node);
}

describe('cluster: work spread (run_on, the shared queue, forbid across nodes, retries after a takeover)', function () {
  this.timeout(90_000);
  let daemons: DaemonProcess[] = [];
  const dirs: string[] = [];
  const groups: number[] = [];
  let store = '';
  let schema = '';

  before(async function () {
    await requirePostgres(this);
  });

  beforeEach(() => {
    store = testStoreUrl();
    schema = new URL(store).searchParams.get('schema')!;
  });

  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    daemons = [];
    // A SIGKILLed node's job processes outlive it.
    killGroups(groups);
    await Promise.all(dirs.splice(0).map(removeDir));
  });

  after(dropTestSchemas);

  async function startNode(jobs: string, daemonExtra = ''): Promise<DaemonProcess> {
    const dir = await tempDir();
    dirs.push(dir);
    const d = await startDaemon({ dir, config: configText(jobs, CLUSTER + daemonExtra), env: { WATCHBELL_STORE: store } });
    daemons.push(d);
    return d;
  }

  function rows(jobId: string): Promise<Row[]> {
    return sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE job_id = $1 ORDER BY id`, [jobId]);
  }

  it('runs a job with run_on only on the matching node, and skips one no live node matches (no_node, in /health)', async () => {
    const jobs =
      '  on-b:\n    schedule: "* * * * * *"\n    command: "true"\n    run_on: {zone: b}\n' +
      '  nowhere:\n    schedule: "* * * * * *"\n    command: "true"\n    run_on: {zone: z}\n';
    const [, b] = await Promise.all(['a', 'b', 'c'].map((zone) => startNode(jobs, `  node_tags: {zone: ${zone}}\n`)));
    const nameB = nodeName(b!);
    // Three slots of on-b ran to their end (each on b, whichever node claimed it).
    await until('3 runs of on-b', async () => ((await rows('on-b')).filter((r) => r.status === 'success').length >= 3 ? true : undefined), 20_000);
    const ran = (await rows('on-b')).filter((r) => r.status !== 'skipped');
    expect(ran.length).to.be.at.least(3);
    for (const r of ran) expect(r.body.node, `execution ${r.id} of on-b`).to.equal(nameB);

    const skipped = await until('2 no_node skips', async () => {
      const all = await rows('nowhere');
      return all.length >= 2 ? all : undefined;
    });
    for (const r of skipped) {
      expect(r.status).to.equal('skipped');
      expect(r.body.reason).to.equal('no_node');
      expect(r.body.error).to.include('no live node has the tags of run_on {"zone":"z"}');
    }
    for (const d of daemons) {
      const health = await d.api('GET', '/health');
      expect(health.body.cluster.no_node).to.deep.equal(['nowhere']);
    }
    const job = await b!.api('GET', '/api/v1/jobs/on-b');
    expect(job.body.data.run_on).to.deep.equal({ zone: 'b' });
    // Through the API too: the skip is an execution of its own.
    const viaApi = await until('a no_node skip in the API', async () => {
      for (const d of daemons) {
        const page = await d.api('GET', '/api/v1/jobs/nowhere/executions?limit=5');
        const hit = (page.body.data as Array<{ reason: string }>).find((e) => e.reason === 'no_node');
        if (hit) return hit;
      }
      return undefined;
    });
    expect(viaApi).to.include({ status: 'skipped', reason: 'no_node' });
  });

  it('sends run-now, restart and chained runs to a node run_on matches, refusing (NO_NODE) or skipping when none is live', async () => {
    const dir = await tempDir('watchbell-marker-');
    dirs.push(dir);
    const mark = join(dir, 'second-step-failed-once');
    const jobs =
      '  hello:\n    command: \'echo "p=$P"\'\n    run_on: {zone: b}\n' +
      // Runs where it is asked (no run_on), and chains to a job that runs only on b, with an output.
      '  up:\n    steps:\n      - name: out\n        command: \'echo x=7 >> "$WATCHBELL_OUTPUT"\'\n    on_success: [down, gone]\n' +
      '  down:\n    command: \'echo "x=$WATCHBELL_UPSTREAM_X"\'\n    run_on: {zone: b}\n' +
      '  gone:\n    command: "true"\n    run_on: {zone: z}\n' +
      // Its second step fails the first time: a restart reuses the first and runs the second again, on b.
      `  two:\n    run_on: {zone: b}\n    steps:\n      - name: first\n        command: "true"\n      - name: second\n        command: "if [ -e ${mark} ]; then exit 0; fi; touch ${mark}; exit 3"\n` +
      '  long:\n    command: "sleep 30"\n    run_on: {zone: b}\n    concurrency: forbid\n';
    const [a, b] = await Promise.all([startNode(jobs, '  node_tags: {zone: a}\n'), startNode(jobs, '  node_tags: {zone: b}\n')]);
    const [nameA, nameB] = [nodeName(a!), nodeName(b!)];
    const ended = async (jobId: string, id: string): Promise<Row> =>
      until(`execution ${id} of ${jobId} ended`, async () => {
        const [r] = await sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE id = $1`, [id]);
        return r && !['queued', 'in_progress'].includes(r.status) ? r : undefined;
      }, 20_000);

    // Run-now asked of a, with a parameter: runs on b, and the parameter's value reaches it.
    const run = await a!.api('POST', '/api/v1/jobs/hello/run', { environment: { P: '42' } });
    expect(run.status, run.text).to.equal(202);
    const hello = await ended('hello', String(run.body.data.execution_id));
    expect(hello.status).to.equal('success');
    expect(hello.body).to.include({ node: nameB, trigger: 'manual' });
    expect((await a!.api('GET', `/api/v1/jobs/hello/executions/${hello.id}/log`)).text).to.include('p=42');

    // A chain from a run on a: down goes to b with the upstream output; gone (zone z) is skipped no_node.
    const upRun = await a!.api('POST', '/api/v1/jobs/up/run');
    expect(upRun.status, upRun.text).to.equal(202);
    const up = await ended('up', String(upRun.body.data.execution_id));
    expect(up.body.node).to.equal(nameA);
    const [downRow] = await until('down chained', async () => ((await rows('down')).length ? rows('down') : undefined));
    const down = await ended('down', downRow!.id);
    expect(down.status).to.equal('success');
    expect(down.body).to.include({ node: nameB, trigger: 'chain' });
    expect((await b!.api('GET', `/api/v1/jobs/down/executions/${down.id}/log`)).text).to.include('x=7');
    const [gone] = await until('gone skipped', async () => ((await rows('gone')).length ? rows('gone') : undefined));
    expect(gone!.status).to.equal('skipped');
    expect(gone!.body).to.include({ reason: 'no_node', trigger: 'chain' });

    // Restart asked of a: on b, the first step reused.
    const twoRun = await a!.api('POST', '/api/v1/jobs/two/run');
    const failed = await ended('two', String(twoRun.body.data.execution_id));
    expect(failed.status).to.equal('failure');
    expect(failed.body.node).to.equal(nameB);
    const restart = await a!.api('POST', `/api/v1/jobs/two/executions/${failed.id}/restart`);
    expect(restart.status, restart.text).to.equal(202);
    const again = await ended('two', String(restart.body.data.execution_id));
    expect(again.status).to.equal('success');
    expect(again.body).to.include({ node: nameB, trigger: 'restart', restarted_from: failed.id });
    const steps = (again.body as unknown as { steps: Array<{ name: string; reused?: boolean }> }).steps;
    expect(steps.find((x) => x.name === 'first')!.reused).to.equal(true);

    // forbid across nodes: a second run-now asked of a, while b runs the first, is refused naming b.
    const longRun = await a!.api('POST', '/api/v1/jobs/long/run');
    const longId = String(longRun.body.data.execution_id);
    await b!.waitFor((l) => l.event === 'execution.started' && l.execution_id === longId, 15_000);
    groups.push(await groupOf(join(b!.dataDir, 'jobs', 'long', 'logs', `${longId}.log.pid`)));
    const second = await a!.api('POST', '/api/v1/jobs/long/run');
    expect(second.status, second.text).to.equal(409);
    expect(second.body.error).to.include({ code: 'JOB_ALREADY_RUNNING' });
    expect(second.body.error.message).to.include(`running on node ${nameB}`);

    // No live node has zone b any more: run-now is refused, naming the live nodes.
    await b!.stop('SIGKILL');
    await until('b seen dead by a (hello in /health no_node)', async () => ((await a!.api('GET', '/health')).body.cluster.no_node.includes('hello') ? true : undefined), (LEASE_S + 10) * 1000);
    const refused = await a!.api('POST', '/api/v1/jobs/hello/run');
    expect(refused.status, refused.text).to.equal(409);
    expect(refused.body.error.code).to.equal('NO_NODE');
    expect(refused.body.error.message).to.include('no live node has the node_tags of its run_on {"zone":"b"}').and.include(nameA);
  });

  it('runs two long jobs due at one slot at the same time on two nodes of max_concurrency 1', async () => {
    const [a, b] = await Promise.all([startNode('  {}\n', '  max_concurrency: 1\n'), startNode('  {}\n', '  max_concurrency: 1\n')]);
    // API jobs made on a: (without a change feed) only a fires them, wins both claims, runs one and queues the other.
    const at = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000).toISOString();
    for (const id of ['long-1', 'long-2']) {
      const made = await a!.api('POST', '/api/v1/jobs', { id, schedule: at, command: 'sleep 4' });
      expect(made.status, made.text).to.equal(201);
    }
    const both = await until('both running', async () => {
      const all = [...(await rows('long-1')), ...(await rows('long-2'))];
      return all.length === 2 && all.every((r) => r.status === 'in_progress') ? all : undefined;
    });
    expect(new Set(both.map((r) => r.body.node))).to.deep.equal(new Set([nodeName(a!), nodeName(b!)]));
    const late = (r: Row) => Date.parse(r.body.started_at!) - Date.parse(at);
    console.log(`      started ${both.map((r) => `${late(r)} ms after the slot on ${r.body.node === nodeName(a!) ? 'the winner' : 'the other node (queued)'}`).join(', ')}`);
    const taken = both.find((r) => r.body.node === nodeName(b!))!;
    await b!.finished(taken.id, 20_000);
    const [done] = (await sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE id = $1`, [taken.id]));
    expect(done!.status).to.equal('success');
    expect(done!.body.node).to.equal(nodeName(b!));
  });

  it('holds a slot for a busy matching node in the queue: cancelled there through another node, skipped no_node once that node dies', async () => {
    const jobs = '  busy:\n    command: "sleep 30"\n    run_on: {zone: b}\n';
    const [a, b] = await Promise.all([startNode(jobs, '  node_tags: {zone: a}\n'), startNode(jobs, '  node_tags: {zone: b}\n  max_concurrency: 1\n')]);
    const run = await b!.api('POST', '/api/v1/jobs/busy/run');
    const busyId = String(run.body.data.execution_id);
    const pidFile = join(b!.dataDir, 'jobs', 'busy', 'logs', `${busyId}.log.pid`);
    groups.push(await groupOf(pidFile));
    // Only a fires API jobs made on it; its slots need zone b, whose one slot is taken: they wait in the queue.
    const at = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000).toISOString();
    for (const id of ['later-1', 'later-2']) {
      const made = await a!.api('POST', '/api/v1/jobs', { id, schedule: at, command: 'true', run_on: { zone: 'b' } });
      expect(made.status, made.text).to.equal(201);
    }
    const [q1] = await until('both queued', async () => {
      const all = [...(await rows('later-1')), ...(await rows('later-2'))];
      return all.length === 2 && all.every((r) => r.status === 'queued' && r.body.node === undefined) ? all : undefined;
    });
    const cancel = await a!.api('POST', `/api/v1/jobs/later-1/executions/${q1!.id}/cancel`);
    expect(cancel.status, cancel.text).to.equal(202);
    expect(cancel.body.data.status).to.equal('cancelled');
    expect((await rows('later-1'))[0]).to.deep.include({ status: 'cancelled' });
    expect(await sql(`SELECT execution_id FROM "${schema}".run_queue`)).to.have.length(1);

    await b!.stop('SIGKILL');
    const skipped = await a!.waitFor((l) => l.event === 'execution.skipped' && l.job_id === 'later-2', (LEASE_S + 10) * 1000);
    expect(skipped.reason).to.equal('no_node');
    expect((await rows('later-2'))[0]).to.deep.include({ status: 'skipped' });
    expect(await sql(`SELECT execution_id FROM "${schema}".run_queue`)).to.have.length(0);
  });

  it('replaces, under concurrency replace, an execution still waiting in the shared queue with the next slot', async () => {
    const jobs = '  busy:\n    command: "sleep 30"\n    run_on: {zone: b}\n';
    const [a, b] = await Promise.all([startNode(jobs, '  node_tags: {zone: a}\n'), startNode(jobs, '  node_tags: {zone: b}\n  max_concurrency: 1\n')]);
    const run = await b!.api('POST', '/api/v1/jobs/busy/run');
    groups.push(await groupOf(join(b!.dataDir, 'jobs', 'busy', 'logs', `${String(run.body.data.execution_id)}.log.pid`)));
    const made = await a!.api('POST', '/api/v1/jobs', { id: 'every', schedule: '* * * * * *', command: 'true', run_on: { zone: 'b' }, concurrency: 'replace' });
    expect(made.status, made.text).to.equal(201);
    const all = await until('two replaced in the queue', async () => {
      const got = await rows('every');
      return got.filter((r) => r.status === 'cancelled').length >= 2 ? got : undefined;
    });
    for (const r of all.filter((x) => x.status === 'cancelled')) expect(r.body.error).to.equal('cancelled while queued');
    // Never more than one of them waits, and none ran: zone b's one slot is taken.
    expect(all.filter((r) => r.status === 'queued').length).to.be.at.most(1);
    expect(all.filter((r) => r.status === 'in_progress' || r.status === 'success')).to.have.length(0);
    const queue = await sql<{ job_id: string }>(`SELECT job_id FROM "${schema}".run_queue`);
    expect(queue.length).to.be.at.most(1);
  });

  it('skips a slot while another node runs the forbid job (overlap, naming that execution and node)', async () => {
    const long = (schedule: string) => `  long:\n    schedule: "${schedule}"\n    command: "sleep 30"\n    concurrency: forbid\n`;
    // Node a may only run it by hand; node b fires it every second (its own YAML: config is per node).
    const a = await startNode(long('@manual'));
    const run = await a.api('POST', '/api/v1/jobs/long/run');
    expect(run.status).to.equal(202);
    const eid = String(run.body.data.execution_id);
    await a.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    const b = await startNode(long('* * * * * *'));
    for (let n = 0; n < 2; n++) {
      await b.waitFor((l) => l.event === 'execution.skipped' && l.job_id === 'long' && b.lines.filter((m) => m.event === 'execution.skipped').length > n);
    }
    const all = await rows('long');
    const fromB = all.filter((r) => r.body.node === nodeName(b));
    expect(fromB.length).to.be.at.least(2);
    for (const r of fromB) {
      expect(r.status).to.equal('skipped');
      expect(r.body.reason).to.equal('overlap');
      expect(r.body.error).to.equal(`skipped: execution ${eid} still running on node ${nodeName(a)}`);
    }
    expect(all.filter((r) => r.status === 'in_progress').map((r) => r.id)).to.deep.equal([eid]);
    await a.api('POST', `/api/v1/jobs/long/executions/${eid}/cancel`);
  });

  it('cancels, under concurrency replace, the execution another node runs when this node starts the next slot', async () => {
    const long = (schedule: string) => `  long:\n    schedule: "${schedule}"\n    command: "sleep 30"\n    concurrency: replace\n`;
    // As in the forbid test: node a runs it by hand, node b fires it every second.
    const a = await startNode(long('@manual'));
    const run = await a.api('POST', '/api/v1/jobs/long/run');
    const eid = String(run.body.data.execution_id);
    await a.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    const b = await startNode(long('* * * * * *'));
    const started = await b.waitFor((l) => l.event === 'execution.started' && l.job_id === 'long');
    const end = await a.finished(eid, 15_000);
    expect(end.status).to.equal('cancelled');
    const [row] = await sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE id = $1`, [eid]);
    expect(row!.status).to.equal('cancelled');
    expect(row!.body.node).to.equal(nodeName(a));
    expect(Date.parse(row!.body.finished_at!)).to.be.at.least(Date.parse(String(started.time ?? 0)) - 1000);
  });

  it('retries on another node the execution of a SIGKILLed node when its job has retries left', async () => {
    const dir = await tempDir('watchbell-marker-');
    dirs.push(dir);
    const mark = join(dir, 'first-attempt-ran');
    // The first attempt leaves a mark and hangs (ignoring SIGTERM); an attempt that finds the mark succeeds.
    const jobs = `  flaky:\n    command: "if [ -e ${mark} ]; then echo second; exit 0; fi; touch ${mark}; trap '' TERM; sleep 30"\n    retries: 2\n    retry_delay: 0\n`;
    const [a, b] = await Promise.all([startNode(jobs), startNode(jobs)]);
    const run = await a!.api('POST', '/api/v1/jobs/flaky/run');
    expect(run.status).to.equal(202);
    const eid = String(run.body.data.execution_id);
    const pidFile = join(a!.dataDir, 'jobs', 'flaky', 'logs', `${eid}.log.pid`);
    groups.push(await groupOf(pidFile));

    const killedAt = Date.now();
    await a!.stop('SIGKILL');
    const queued = await b!.waitFor((l) => l.event === 'cluster.retry_queued' && l.restarted_from === eid, 20_000);
    const retryId = String(queued.execution_id);
    const end = await b!.finished(retryId, 20_000);
    console.log(`      retried on the other node, ended ${Date.now() - killedAt} ms after the kill`);
    expect(end.status).to.equal('success');
    const [first] = await sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE id = $1`, [eid]);
    expect(first!.body).to.include({ reason: 'interrupted', node: nodeName(a!) });
    const [retry] = await sql<Row>(`SELECT id, status, body FROM "${schema}".executions WHERE id = $1`, [retryId]);
    expect(retry!.status).to.equal('success');
    expect(retry!.body).to.include({ node: nodeName(b!), trigger: 'restart', restarted_from: eid });
    const log = await b!.api('GET', `/api/v1/jobs/flaky/executions/${retryId}/log`);
    expect(log.text).to.include('second');
  });
});
