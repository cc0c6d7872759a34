/**
 * Black-box: jobs declared by container labels (`daemon.docker_labels: true`) against a real engine: they
 * appear when a labelled container starts, change when it is recreated with other labels or renamed, go
 * when it stops, are read-only through the API, and bad labels are logged naming container and label.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { containerEngine, startTarget, TEST_IMAGE, type ContainerEngine } from '../helpers/container-engine.js';
import { removeDir, startDaemon, type DaemonProcess, type LogLine } from '../helpers/daemon-process.js';

const config = (suffix: string) => `version: 1
daemon:
  listen: 127.0.0.1:0
  data_dir: ./data
  shutdown_grace: 5s
  kill_grace: 1s
  docker_labels: true
jobs:
  wbl-clash-${suffix}.x:
    schedule: "@yearly"
    command: echo from the file
`;

describe('container jobs: jobs from container labels (real engine)', function () {
  this.timeout(60_000);
  let engine: ContainerEngine | null;
  let d: DaemonProcess;
  const containers: Docker.Container[] = [];
  const suffix = randomBytes(3).toString('hex');
  const web = `wbl-web-${suffix}`;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    if (!engine) this.skip();
    d = await startDaemon({ config: config(suffix), env: { DOCKER_HOST: engine.dockerHost } });
    await d.waitFor((l) => l.event === 'labels.engine_connected');
  });

  after(async () => {
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
    await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
  });

  async function start(name: string, labels: Record<string, string>): Promise<Docker.Container> {
    const c = await startTarget(engine!, name, { 'watchbell.enabled': 'true', ...labels });
    containers.push(c);
    return c;
  }

  const applied = (pred: (l: LogLine) => boolean) => d.waitFor((l) => l.event === 'labels.applied' && pred(l), 20_000);
  const has = (list: unknown, id: string) => Array.isArray(list) && list.includes(id);

  it('adds the jobs a labelled container declares; they exec into it and are read-only', async () => {
    await start(web, {
      'watchbell.job.hello.schedule': '@every 1h',
      'watchbell.job.hello.command': 'echo "hi from $(cat /proc/1/cmdline | tr "\\0" " ")"',
      'watchbell.job.hello.timeout': '30s',
      'watchbell.job.hello.retries': '2',
      'watchbell.job.hello.tags': 'web, hourly',
      'watchbell.job.boxed.schedule': '@daily',
      'watchbell.job.boxed.container.image': TEST_IMAGE,
      'watchbell.job.boxed.container.pull': 'never',
      'watchbell.job.boxed.command': '["echo", "in a fresh container"]',
    });
    const id = `${web}.hello`;
    await applied((l) => has(l.added, id) && has(l.added, `${web}.boxed`));
    const job = (await d.api('GET', `/api/v1/jobs/${id}`)).body.data;
    expect(job).to.include({ source: 'label', schedule: '@every 1h', timeout: 30, retries: 2 });
    expect(job.tags).to.deep.equal(['web', 'hourly']);
    expect(job.container).to.deep.equal({ exec: web, user: null, working_dir: null });

    const eid = (await d.api('POST', `/api/v1/jobs/${id}/run`)).body.data.execution_id as string;
    await d.finished(eid, 30_000);
    const e = (await d.api('GET', `/api/v1/jobs/${id}/executions/${eid}`)).body.data;
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(e.output).to.include('hi from sleep 100000');

    const boxed = (await d.api('POST', `/api/v1/jobs/${web}.boxed/run`)).body.data.execution_id as string;
    await d.finished(boxed, 30_000);
    expect((await d.api('GET', `/api/v1/jobs/${web}.boxed/executions/${boxed}`)).body.data.output).to.include('in a fresh container');

    const put = await d.api('PUT', `/api/v1/jobs/${id}`, { schedule: '@daily' });
    expect(put.status).to.equal(409);
    expect(put.body.error.code).to.equal('JOB_OWNED_BY_LABEL');
    expect(put.body.error.message).to.equal(`job ${id} is declared by the labels of container ${web}; change the labels and recreate the container (daemon.docker_labels)`);
    const del = await d.api('DELETE', `/api/v1/jobs/${id}`);
    expect(del.status).to.equal(409);
    expect(del.body.error.code).to.equal('JOB_OWNED_BY_LABEL');
    // Pause works, as for config jobs.
    expect((await d.api('POST', `/api/v1/jobs/${id}/pause`)).status).to.equal(200);
  });

  it('changes a job when its container is recreated with other labels, and follows a rename', async () => {
    await engine!.docker.getContainer(web).remove({ force: true });
    await applied((l) => has(l.removed, `${web}.hello`));
    await start(web, { 'watchbell.job.hello.schedule': '@every 2h', 'watchbell.job.hello.command': 'echo changed' });
    await applied((l) => has(l.added, `${web}.hello`) && l.jobs === 1);
    const job = (await d.api('GET', `/api/v1/jobs/${web}.hello`)).body.data;
    expect(job.schedule).to.equal('@every 2h');
    expect(job.command).to.equal('echo changed');
    // The pause made through the API outlives the container's coming and going.
    expect(job.status).to.equal('paused');

    const renamed = `wbl-renamed-${suffix}`;
    await engine!.docker.getContainer(web).rename({ name: renamed });
    await applied((l) => has(l.added, `${renamed}.hello`) && has(l.removed, `${web}.hello`));
    expect((await d.api('GET', `/api/v1/jobs/${renamed}.hello`)).body.data.container.exec).to.equal(renamed);
    expect((await d.api('GET', `/api/v1/jobs/${web}.hello`)).status).to.equal(404);
  });

  it('removes the jobs of a container that stops', async () => {
    const renamed = `wbl-renamed-${suffix}`;
    await engine!.docker.getContainer(renamed).stop({ t: 0 });
    await applied((l) => has(l.removed, `${renamed}.hello`));
    expect((await d.api('GET', `/api/v1/jobs/${renamed}.hello`)).status).to.equal(404);
  });

  it('logs bad labels naming the container and the label, and keeps the good jobs', async () => {
    const bad = `wbl-bad-${suffix}`;
    await start(bad, {
      'watchbell.job.broken.schedule': '@hourly',
      'watchbell.job.broken.command': 'echo never',
      'watchbell.job.broken.retries': 'lots',
      'watchbell.job.noschedule.command': 'echo never',
      'watchbell.job.fine.schedule': '@hourly',
      'watchbell.job.fine.command': 'echo fine',
    });
    const retries = await d.waitFor((l) => l.event === 'labels.invalid' && l.container === bad && l.label === 'watchbell.job.broken.retries');
    expect(retries.error).to.equal(`container ${bad}: label watchbell.job.broken.retries: "lots" is invalid; expected an integer from 0 to 100`);
    await applied((l) => has(l.added, `${bad}.fine`));
    expect((await d.api('GET', `/api/v1/jobs/${bad}.broken`)).status).to.equal(404);
    // Without a schedule a label job is a manual one (as in the config file): run by run-now and chains only.
    const manual = (await d.api('GET', `/api/v1/jobs/${bad}.noschedule`)).body.data;
    expect([manual.schedule, manual.next_run]).to.deep.equal(['@manual', null]);
    expect((await d.api('GET', '/health')).body.status).to.equal('UP');
  });

  it('refuses a label job whose id a config job has', async () => {
    const clash = `wbl-clash-${suffix}`;
    await start(clash, { 'watchbell.job.x.schedule': '@hourly', 'watchbell.job.x.command': 'echo x' });
    const refused = await d.waitFor((l) => l.event === 'labels.invalid' && l.container === clash);
    expect(refused.error).to.match(new RegExp(`^labels of container ${clash}: job ${clash}.x is already defined in .*watchbell.yaml:\\d+:\\d+; rename the container or the job in its labels$`));
    expect((await d.api('GET', `/api/v1/jobs/${clash}.x`)).body.data.source).to.equal('config');
  });
});
