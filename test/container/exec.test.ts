/**
 * Black-box: jobs that exec into a running container (`container: {exec: NAME}`) against a real engine. The
 * point of most of these: a timed-out or cancelled exec's processes are gone from the container afterwards,
 * which `docker exec` alone never does.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { containerEngine, execText, runToEnd, startTarget, untilLogged, type ContainerEngine } from '../helpers/container-engine.js';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

describe('container jobs: exec into a running container (real engine)', function () {
  this.timeout(60_000);
  let engine: ContainerEngine | null;
  let d: DaemonProcess;
  let target: Docker.Container;
  const name = `wbt-${randomBytes(4).toString('hex')}`;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    if (!engine) this.skip();
    target = await startTarget(engine, name);
    const exec = `container: {exec: ${name}}`;
    const jobs = `
  hello:
    schedule: "@yearly"
    ${exec}
    command: echo hi; echo "marker=$WATCHBELL_EXECUTION_ID" >&2
    environment: {GREETING: hi}
  exit5:
    schedule: "@yearly"
    ${exec}
    command: ["sh", "-c", "exit 5"]
  in-dir:
    schedule: "@yearly"
    container: {exec: ${name}, working_dir: /tmp, user: "65534"}
    command: pwd; grep ^Uid /proc/self/status
  slow:
    schedule: "@yearly"
    timeout: 2s
    ${exec}
    command: echo started; sleep 1234 & sleep 1235; echo never
  deaf:
    schedule: "@yearly"
    timeout: 1s
    ${exec}
    command: trap '' TERM; echo started; sleep 1236 & sleep 1237; echo never
  cancellable:
    schedule: "@yearly"
    ${exec}
    command: echo started; sleep 1238
  nowhere:
    schedule: "@yearly"
    container: {exec: no-such-container-${name}}
    command: echo never
`;
    d = await startDaemon({ config: configText(jobs), env: { DOCKER_HOST: engine.dockerHost } });
  });

  after(async () => {
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
    await target?.remove({ force: true }).catch(() => undefined);
  });

  const run = (id: string) => runToEnd(d, id);

  /** The command lines of the processes in the target container. */
  async function processes(): Promise<string> {
    return execText(engine!, name, 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < $f; echo; done');
  }

  it('runs the command in the container, with its environment, and keeps the pid line out of the log', async () => {
    const { eid, e, stdout } = await run('hello');
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(e.exit_code).to.equal(0);
    expect(stdout).to.equal('hi\n');
    const stderr = (await d.api('GET', `/api/v1/jobs/hello/executions/${eid}/log?stream=stderr`)).text;
    expect(stderr).to.equal(`marker=${eid}\n`);
  });

  it('records a non-zero exit code', async () => {
    const { e } = await run('exit5');
    expect(e.status).to.equal('failure');
    expect(e.exit_code).to.equal(5);
    expect(e.error).to.equal('exited with code 5');
  });

  it('applies working_dir and user', async () => {
    const { e, stdout } = await run('in-dir');
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(stdout).to.match(/^\/tmp\nUid:\s+65534\s/);
  });

  it('on timeout stops every process the exec started (SIGTERM to its process group)', async () => {
    const { e, stdout } = await run('slow');
    expect(e.reason).to.equal('timeout');
    expect(e.error).to.equal('timed out after 2s');
    expect(stdout).to.equal('started\n');
    const left = await processes();
    expect(left).not.to.include('sleep 1234').and.not.to.include('sleep 1235');
    expect(left).to.include('sleep 100000'); // the container itself still runs
  });

  it('on timeout kills, after kill_grace, processes that ignore SIGTERM', async () => {
    const { e, eid } = await run('deaf');
    expect(e.reason).to.equal('timeout');
    const log = (await d.api('GET', `/api/v1/jobs/deaf/executions/${eid}/log`)).text;
    expect(log).to.match(/still runs after 1s; sending SIGKILL/);
    const left = await processes();
    expect(left).not.to.include('sleep 1236').and.not.to.include('sleep 1237');
  });

  it('on cancel stops the exec\'d process', async () => {
    const eid = (await d.api('POST', '/api/v1/jobs/cancellable/run')).body.data.execution_id as string;
    await untilLogged(d, 'cancellable', eid, 'started');
    expect(await processes()).to.include('sleep 1238');
    expect((await d.api('POST', `/api/v1/jobs/cancellable/executions/${eid}/cancel`)).status).to.equal(202);
    await d.finished(eid, 30_000);
    const e = (await d.api('GET', `/api/v1/jobs/cancellable/executions/${eid}`)).body.data;
    expect(e.status).to.equal('cancelled');
    expect(await processes()).not.to.include('sleep 1238');
  });

  it('fails with spawn_error when there is no such container', async () => {
    const { e } = await run('nowhere');
    expect(e.reason).to.equal('spawn_error');
    expect(e.error).to.equal(`no container named no-such-container-${name} to exec into`);
  });
});
