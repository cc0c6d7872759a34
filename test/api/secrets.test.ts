/**
 * `environment` values never leave the daemon (black-box): not in answers, errors, logs or metrics; a PUT that
 * leaves `environment` out keeps them, one that sends `******` for a key keeps that key's value. Whether a
 * value was kept is checked by running the job (a command comparing its sha256), which shows nothing.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const SECRET = 'pw-9e1f0c7a54d3-hush';
const OTHER = 'tok-3c8b2a61f0e9-hush';

/** A shell test that $name holds `value`, without the value in the command (commands are shown by the API). */
function holds(name: string, value: string): string {
  const hash = createHash('sha256').update(value).digest('hex');
  return `test "$(printf %s "$${name}" | sha256sum | cut -c1-64)" = ${hash}`;
}

describe('secrets in job environments (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess;
  const texts: string[] = [];

  async function api(method: string, path: string, body?: unknown) {
    const res = await d.api(method, path, body);
    texts.push(res.text);
    return res;
  }

  /** Runs the job and resolves with its execution's status; the command checks the variables itself. */
  async function runStatus(id: string): Promise<string> {
    const run = await api('POST', `/api/v1/jobs/${id}/run`);
    expect(run.status, run.text).to.equal(202);
    const eid = run.body.data.execution_id as string;
    await d.finished(eid);
    const exec = await api('GET', `/api/v1/jobs/${id}/executions/${eid}`);
    return exec.body.data.status;
  }

  before(async function () {
    d = await startDaemon();
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it('answers values as ****** on create, read and list', async function () {
    const created = await api('POST', '/api/v1/jobs', {
      id: 'db', schedule: '@yearly', command: holds('PGPASSWORD', SECRET), environment: { PGPASSWORD: SECRET },
    });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.data.environment).to.deep.equal({ PGPASSWORD: '******' });
    expect((await api('GET', '/api/v1/jobs/db')).body.data.environment).to.deep.equal({ PGPASSWORD: '******' });
    expect((await api('GET', '/api/v1/jobs')).body.data[0].environment).to.deep.equal({ PGPASSWORD: '******' });
    expect(await runStatus('db')).to.equal('success');
  });

  it('keeps stored values when a PUT leaves environment out', async function () {
    const put = await api('PUT', '/api/v1/jobs/db', { retries: 1 });
    expect(put.status, put.text).to.equal(200);
    expect(put.body.data.environment).to.deep.equal({ PGPASSWORD: '******' });
    expect(await runStatus('db')).to.equal('success');
  });

  it('keeps a key\'s value when a PUT sends ****** for it, beside new and changed keys', async function () {
    const put = await api('PUT', '/api/v1/jobs/db', {
      command: `${holds('PGPASSWORD', SECRET)} && ${holds('TOKEN', OTHER)}`,
      environment: { PGPASSWORD: '******', TOKEN: OTHER },
    });
    expect(put.status, put.text).to.equal(200);
    expect(put.body.data.environment).to.deep.equal({ PGPASSWORD: '******', TOKEN: '******' });
    expect(await runStatus('db')).to.equal('success');
  });

  it('answers 400 to ****** for a key that has no stored value, rather than storing the mask', async function () {
    const put = await api('PUT', '/api/v1/jobs/db', { environment: { PGPASSWORD: '******', NEW_KEY: '******' } });
    expect(put.status, put.text).to.equal(400);
    expect(put.body.error.details).to.deep.equal([
      { path: '/environment/NEW_KEY', message: 'environment.NEW_KEY: "******" keeps a stored value, but there is none to keep; send the value itself' },
    ]);
    const post = await api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true', environment: { A: '******' } });
    expect(post.status, post.text).to.equal(400);
  });

  it('drops keys a PUT leaves out of a given environment', async function () {
    const put = await api('PUT', '/api/v1/jobs/db', { command: 'test -z "$PGPASSWORD" && test -n "$TOKEN"', environment: { TOKEN: '******' } });
    expect(put.status, put.text).to.equal(200);
    expect(put.body.data.environment).to.deep.equal({ TOKEN: '******' });
    expect(await runStatus('db')).to.equal('success');
  });

  it('never shows a value in a validation error', async function () {
    const bodies = [
      { schedule: '@yearly', command: 'true', environment: { GOOD: SECRET, BAD: 42 } },
      { schedule: '@yearly', command: 'true', environment: { LONG: SECRET + 'x'.repeat(70_000) } },
      { schedule: '@yearly', command: 'true', environment: { 'bad-key': SECRET } },
      { schedule: '@yearly', command: 'true', environment: SECRET },
      { schedule: '*/0 * * * *', command: 'true', environment: { GOOD: SECRET } },
    ];
    for (const body of bodies) {
      const res = await api('POST', '/api/v1/jobs', body);
      expect(res.status, res.text.slice(0, 300)).to.equal(400);
      expect(res.text).not.to.include(SECRET);
    }
    const put = await api('PUT', '/api/v1/jobs/db', { environment: { TOKEN: { nested: SECRET } } });
    expect(put.status).to.equal(400);
    expect(put.text).not.to.include(SECRET);
  });

  it('refuses a value holding a NUL byte, naming the key and never the value', async function () {
    const res = await api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true', environment: { GOOD: 'x', NULLED: `${SECRET}\u0000tail` } });
    expect(res.status, res.text).to.equal(400);
    expect(res.body.error.details).to.deep.equal([
      { path: '/environment/NULLED', message: 'environment.NULLED: (a secret value, not shown) is invalid; expected a map of variable names (letters, digits, _) to string values (without NUL)' },
    ]);
    expect(res.text).not.to.include(SECRET);
  });

  it('never logs a value, nor serves it from /metrics', async function () {
    const metrics = await api('GET', '/metrics');
    if (metrics.status === 200) expect(metrics.text).not.to.include(SECRET);
    const everything = [...texts, ...d.lines.map((l) => JSON.stringify(l)), ...d.stderr].join('\n');
    expect(texts.length).to.be.above(15);
    expect(everything).not.to.include(SECRET);
    expect(everything).not.to.include(OTHER);
  });

  it('keeps the data dir, where values are stored, to the daemon\'s user (mode 0700)', async function () {
    expect(((await stat(d.dataDir)).mode & 0o777).toString(8)).to.equal('700');
    expect(await readdir(join(d.dataDir))).to.not.be.empty;
  });
});
