/**
 * Black-box: a daemon killed with SIGKILL while a container job and an exec job run. The engine keeps both
 * running; the next start stops and removes the container, stops the exec'd process group, and marks both
 * executions interrupted. A container of an execution this data dir does not know is left alone.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { containerEngine, containersOfJob, execText, startTarget, TEST_IMAGE, untilLogged, type ContainerEngine } from '../helpers/container-engine.js';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

describe('container jobs: leftovers of a crashed daemon (real engine)', function () {
  this.timeout(90_000);
  let engine: ContainerEngine | null;
  let first: DaemonProcess | undefined;
  let second: DaemonProcess | undefined;
  let target: Docker.Container | undefined;
  let foreign: Docker.Container | undefined;
  const name = `wbt-${randomBytes(4).toString('hex')}`;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    if (!engine) this.skip();
  });

  after(async () => {
    await first?.stop('SIGKILL');
    if (second) await second.stop();
    if (first) await removeDir(first.dir);
    await target?.remove({ force: true }).catch(() => undefined);
    await foreign?.remove({ force: true }).catch(() => undefined);
  });

  it('stops and removes them at the next start, and marks the executions interrupted', async () => {
    target = await startTarget(engine!, name);
    // Another daemon's container on the same engine: its execution is unknown here.
    foreign = await engine!.docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '100000'],
      Labels: { 'watchbell.job': 'boxed', 'watchbell.execution': 'exec-0000000000000000zzzz' },
    });
    await foreign.start();
    const jobs = `
  boxed:
    schedule: "@yearly"
    container: {image: ${TEST_IMAGE}, pull: never}
    command: trap 'exit 143' TERM; echo started; sleep 300 & wait
  inside:
    schedule: "@yearly"
    container: {exec: ${name}}
    command: echo started; sleep 4321
`;
    first = await startDaemon({ config: configText(jobs), env: { DOCKER_HOST: engine!.dockerHost } });
    const boxed = (await first.api('POST', '/api/v1/jobs/boxed/run')).body.data.execution_id as string;
    const inside = (await first.api('POST', '/api/v1/jobs/inside/run')).body.data.execution_id as string;
    await untilLogged(first, 'boxed', boxed, 'started');
    await untilLogged(first, 'inside', inside, 'started');

    await first.stop('SIGKILL');
    // The engine keeps both running without the daemon.
    expect(await containersOfJob(engine!, 'boxed')).to.have.length(2);
    expect(await execText(engine!, name, 'ps -o args')).to.include('sleep 4321');

    second = await startDaemon({ dir: first.dir, env: { DOCKER_HOST: engine!.dockerHost } });
    const left = await containersOfJob(engine!, 'boxed');
    expect(left.map((c) => c.Id)).to.deep.equal([foreign.id]);
    expect(await execText(engine!, name, 'ps -o args')).not.to.include('sleep 4321');

    const e1 = (await second.api('GET', `/api/v1/jobs/boxed/executions/${boxed}`)).body.data;
    expect(e1.status).to.equal('failure');
    expect(e1.reason).to.equal('interrupted');
    expect(e1.error).to.match(/^interrupted: the daemon stopped while this execution ran; its container [0-9a-f]{12} was stopped and removed at restart$/);
    const e2 = (await second.api('GET', `/api/v1/jobs/inside/executions/${inside}`)).body.data;
    expect(e2.reason).to.equal('interrupted');
    // Which part of the start stops it first varies: the container sweep (through the engine), or the host's
    // orphan sweep, which sees a rootful engine's container processes in /proc with their marker. Either way it is named.
    expect(e2.error, e2.error).to.match(
      new RegExp(`^interrupted: the daemon stopped while this execution ran; (its process group \\d+ in container ${name} (was stopped|had already ended) at restart|its processes left running \\(process group \\d+\\) were stopped at restart)$`),
    );
    expect(second.lines.some((l) => l.event === 'container.leftover_removed' && l.execution_id === boxed)).to.equal(true);
  });
});
