/**
 * Black-box: container jobs (`container: {image}`) run by the real daemon against a real engine (Podman's
 * Docker-compatible service, see helpers/container-engine.ts): output, exit codes, timeout, cancel, image
 * problems and an unreachable engine, each as the execution records it.
 */
import { expect } from 'chai';
import { containerEngine, containersOfJob, runToEnd, TEST_IMAGE, untilLogged, type ContainerEngine } from '../helpers/container-engine.js';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const RUN = `container: {image: ${TEST_IMAGE}, pull: never}`;

const JOBS = `
  hello:
    schedule: "@yearly"
    ${RUN}
    command: echo out; echo err >&2; echo "greeting=$GREETING"; echo "marker=$WATCHBELL_EXECUTION_ID"; pwd
    environment: {GREETING: hi}
  in-dir:
    schedule: "@yearly"
    container: {image: ${TEST_IMAGE}, pull: missing, working_dir: /tmp, user: "65534"}
    command: ["sh", "-c", "pwd; id -u 2>/dev/null || echo uid=$(cat /proc/self/status | grep ^Uid)"]
  exit3:
    schedule: "@yearly"
    ${RUN}
    command: ["sh", "-c", "echo failing; exit 3"]
  slow:
    schedule: "@yearly"
    timeout: 2s
    ${RUN}
    command: trap 'echo got TERM; exit 143' TERM; echo started; sleep 60 & wait
  stubborn:
    schedule: "@yearly"
    timeout: 4s
    ${RUN}
    command: echo started; sleep 60
  cancellable:
    schedule: "@yearly"
    ${RUN}
    command: trap 'exit 143' TERM; echo started; sleep 60 & wait
  no-image:
    schedule: "@yearly"
    container: {image: localhost/not-there:1, pull: never}
    command: echo never
  bad-pull:
    schedule: "@yearly"
    timeout: 30s
    container: {image: "127.0.0.1:1/not-there:1", pull: always}
    command: echo never
`;

describe('container jobs: a new container per attempt (real engine)', function () {
  this.timeout(60_000);
  let engine: ContainerEngine | null;
  let d: DaemonProcess;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    if (!engine) this.skip();
    d = await startDaemon({ config: configText(JOBS), env: { DOCKER_HOST: engine.dockerHost } });
  });

  after(async () => {
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
  });

  it('runs the command, logs stdout and stderr apart, records exit 0, and removes the container', async () => {
    const { eid, e, stdout: out } = await runToEnd(d, 'hello');
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(e.exit_code).to.equal(0);
    expect(e.reason).to.equal('exit');
    expect(out).to.include('out\n').and.include('greeting=hi\n').and.include(`marker=${eid}\n`).and.include('/\n');
    expect(out).not.to.include('err');
    const err = (await d.api('GET', `/api/v1/jobs/hello/executions/${eid}/log?stream=stderr`)).text;
    expect(err).to.equal('err\n');
    expect(await containersOfJob(engine!, 'hello')).to.have.length(0);
    const job = (await d.api('GET', '/api/v1/jobs/hello')).body.data;
    expect(job.container).to.deep.equal({ image: TEST_IMAGE, pull: 'never', user: null, network: null, volumes: [], working_dir: null });
  });

  it('applies working_dir and user', async () => {
    const { e, stdout } = await runToEnd(d, 'in-dir');
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(stdout).to.match(/^\/tmp\n/).and.match(/65534/);
  });

  it('records a non-zero exit code as the engine reports it', async () => {
    const { e } = await runToEnd(d, 'exit3');
    expect(e.status).to.equal('failure');
    expect(e.exit_code).to.equal(3);
    expect(e.reason).to.equal('exit');
    expect(e.error).to.equal('exited with code 3');
    expect(e.output).to.include('failing');
    expect(await containersOfJob(engine!, 'exit3')).to.have.length(0);
  });

  it('stops a container that times out (SIGTERM first) and removes it', async () => {
    const t0 = Date.now();
    const { e } = await runToEnd(d, 'slow');
    expect(e.status).to.equal('failure');
    expect(e.reason).to.equal('timeout');
    expect(e.error).to.equal('timed out after 2s');
    expect(e.output).to.include('started').and.include('got TERM');
    expect(Date.now() - t0).to.be.below(15_000);
    expect(await containersOfJob(engine!, 'slow')).to.have.length(0);
  });

  it('kills a container that ignores SIGTERM after kill_grace', async () => {
    const { e } = await runToEnd(d, 'stubborn');
    expect(e.reason).to.equal('timeout');
    // It ran (4 s leaves a loaded engine time to start it), and sh as PID 1 ignores SIGTERM: only the SIGKILL after kill_grace (1s) ends it.
    expect(e.output).to.include('started');
    expect(e.exit_code).to.equal(137);
    expect(await containersOfJob(engine!, 'stubborn')).to.have.length(0);
  });

  it('stops and removes a cancelled container', async () => {
    const eid = (await d.api('POST', '/api/v1/jobs/cancellable/run')).body.data.execution_id as string;
    // Cancelled once the container runs: its first output is in the log.
    await untilLogged(d, 'cancellable', eid, 'started');
    expect(await containersOfJob(engine!, 'cancellable')).to.have.length(1);
    const cancel = await d.api('POST', `/api/v1/jobs/cancellable/executions/${eid}/cancel`);
    expect(cancel.status).to.equal(202);
    await d.finished(eid, 30_000);
    const e = (await d.api('GET', `/api/v1/jobs/cancellable/executions/${eid}`)).body.data;
    expect(e.status).to.equal('cancelled');
    expect(e.reason).to.equal('cancelled');
    expect(await containersOfJob(engine!, 'cancellable')).to.have.length(0);
  });

  it('fails with spawn_error when the image is missing and pull is never', async () => {
    const { e } = await runToEnd(d, 'no-image');
    expect(e.status).to.equal('failure');
    expect(e.reason).to.equal('spawn_error');
    expect(e.error).to.equal('image localhost/not-there:1 is not on the container engine and container.pull is "never"; pull it there first, or set pull: missing');
  });

  it('fails with spawn_error and the engine\'s words when a pull fails', async () => {
    const { e } = await runToEnd(d, 'bad-pull');
    expect(e.reason).to.equal('spawn_error');
    expect(e.error).to.match(/^pulling image 127\.0\.0\.1:1\/not-there:1: .+/);
    expect(e.attempts[0]!.reason).to.equal('spawn_error');
  });
});

describe('container jobs: an unreachable engine', function () {
  this.timeout(30_000);
  let d: DaemonProcess;

  after(async () => {
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
  });

  it('fails the execution at once with a clear spawn_error', async () => {
    const jobs = `
  hello:
    schedule: "@yearly"
    container: {image: ${TEST_IMAGE}}
    command: echo hi
`;
    d = await startDaemon({ config: configText(jobs), env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    const t0 = Date.now();
    const { e } = await runToEnd(d, 'hello');
    expect(Date.now() - t0).to.be.below(5000);
    expect(e.status).to.equal('failure');
    expect(e.reason).to.equal('spawn_error');
    expect(e.error).to.equal(
      `looking for image ${TEST_IMAGE}: cannot reach the container engine at unix:///nonexistent/docker.sock (ENOENT); is Docker or Podman running there, and is DOCKER_HOST right?`,
    );
    expect(e.output).to.include('cannot reach the container engine');
  });
});
