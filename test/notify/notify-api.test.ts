/**
 * Black-box: `notify:` through the API (checked against the notifiers the running config declares), and
 * reloads that change, add and remove notifiers.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { startReceiver, type Receiver } from './peers.js';

describe('notify through the API, and notifiers on reload (black-box)', function () {
  let d: DaemonProcess;
  let first: Receiver;
  let second: Receiver;
  let pager: Receiver;

  const config = (notifiers: Record<string, string>, cfgEvents = '[finish]') => configText(
    `  cfg:\n    schedule: "@yearly"\n    command: "true"\n    notify:\n      - notifier: hook\n        events: ${cfgEvents}\n`,
    `notifiers:\n${Object.entries(notifiers).map(([name, url]) => `  ${name}:\n    type: webhook\n    url: ${url}\n`).join('')}`,
  );

  async function reload(text: string) {
    await writeFile(d.configFile, text);
    return d.api('POST', '/api/v1/config/reload');
  }

  async function run(id: string): Promise<string> {
    const eid = (await d.api('POST', `/api/v1/jobs/${id}/run`)).body.data.execution_id as string;
    await d.finished(eid);
    return eid;
  }

  before(async function () {
    [first, second, pager] = await Promise.all([startReceiver(), startReceiver(), startReceiver()]);
    d = await startDaemon({ config: config({ hook: first.url }) });
  });

  after(async function () {
    const exit = await d?.stop();
    await Promise.all([first, second, pager].map((r) => r?.close()));
    if (d) await removeDir(d.dir);
    expect(exit?.code).to.equal(0);
  });

  it('answers 400 naming the field when a created job names an undeclared notifier', async function () {
    const res = await d.api('POST', '/api/v1/jobs', { id: 'api-job', schedule: '@yearly', command: 'exit 1', notify: [{ notifier: 'nope' }] });
    expect(res.status, res.text).to.equal(400);
    expect(res.body.error.code).to.equal('VALIDATION_FAILED');
    expect(res.body.error.details).to.deep.equal([
      { path: '/notify/0/notifier', message: 'notify.0.notifier: "nope" is not a declared notifier; expected one of "hook" (declared under notifiers: in the config file)' },
    ]);
  });

  it('creates a job naming a declared notifier, shows its notify list, and sends to it', async function () {
    const res = await d.api('POST', '/api/v1/jobs', 'id: api-job\nschedule: "@yearly"\ncommand: exit 1\nnotify:\n  - notifier: hook\n', { 'content-type': 'application/yaml' });
    expect(res.status, res.text).to.equal(201);
    expect(res.body.data.notify).to.deep.equal([{ notifier: 'hook', events: ['failure', 'recovered'] }]);
    const eid = await run('api-job');
    const [req] = await first.received(1);
    expect(JSON.parse(req!.body).execution.id).to.equal(eid);
  });

  it('answers 400 to an update naming an undeclared notifier', async function () {
    const res = await d.api('PUT', '/api/v1/jobs/api-job', { notify: [{ notifier: 'hook' }, { notifier: 'pager', events: ['failure'] }] });
    expect(res.status, res.text).to.equal(400);
    expect(res.body.error.details.map((e: { path: string }) => e.path)).to.deep.equal(['/notify/1/notifier']);
  });

  it('applies changed and new notifiers on reload: the next delivery goes to the new URL, the new name can be used', async function () {
    const res = await reload(config({ hook: second.url, pager: pager.url }, '[failure]'));
    expect(res.status, res.text).to.equal(200);
    expect(res.body.data.changed).to.deep.equal(['cfg']);
    const put = await d.api('PUT', '/api/v1/jobs/api-job', { notify: [{ notifier: 'hook' }, { notifier: 'pager', events: ['failure'] }] });
    expect(put.status, put.text).to.equal(200);
    const eid = await run('api-job');
    const [atSecond] = await second.received(1);
    const [atPager] = await pager.received(1);
    for (const req of [atSecond!, atPager!]) expect(JSON.parse(req.body).execution.id).to.equal(eid);
    expect(first.requests).to.have.length(1);
    const health = (await d.api('GET', '/health')).body;
    expect(health.notifiers.hook.target).to.equal(new URL(second.url).origin);
    expect(health.notifiers.pager.target).to.equal(new URL(pager.url).origin);
  });

  it('refuses with 409 a reload that removes a notifier an API job names, and keeps delivering to it', async function () {
    const res = await reload(config({ hook: second.url }));
    expect(res.status, res.text).to.equal(409);
    expect(res.body.error).to.deep.include({
      code: 'NOTIFIER_IN_USE',
      message: 'notifiers: the config no longer declares notifier "pager", but API job api-job names it (notify.1.notifier); keep the notifier until no job names it, or change the job first (PUT /api/v1/jobs/api-job)',
    });
    expect((await d.api('GET', '/health')).body.config.last_error).to.include('notifier "pager"');
    const eid = await run('api-job');
    const [, again] = await pager.received(2);
    expect(JSON.parse(again!.body).execution.id).to.equal(eid);
  });

  it('removes the notifier once no job names it', async function () {
    expect((await d.api('PUT', '/api/v1/jobs/api-job', { notify: [{ notifier: 'hook' }] })).status).to.equal(200);
    const res = await reload(config({ hook: second.url }));
    expect(res.status, res.text).to.equal(200);
    expect(Object.keys((await d.api('GET', '/health')).body.notifiers)).to.deep.equal(['hook']);
  });
});
