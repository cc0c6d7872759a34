/**
 * Black-box: reloading the config of a running daemon (SIGHUP, POST /api/v1/config/reload, --watch),
 * with included files, over real HTTP and real files.
 */
import { expect } from 'chai';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configText, removeDir, startDaemon, startWithJobs, type DaemonProcess, type LogLine } from '../helpers/daemon-process.js';

/** Resolves with the first matching log line written from now on (earlier ones do not count). */
function next(d: DaemonProcess, pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
  const from = d.lines.length;
  return d.waitFor((l) => d.lines.indexOf(l) >= from && pred(l), timeoutMs);
}

const reloaded = (trigger: string) => (l: LogLine) => l.event === 'config.reloaded' && l.trigger === trigger;
const reloadFailed = (trigger: string) => (l: LogLine) => l.event === 'config.reload_failed' && l.trigger === trigger;

/** Replaces the config file's text the way most tools do: write a temporary file, rename it over the old one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function ids(d: DaemonProcess): Promise<string[]> {
  return (await d.api('GET', '/api/v1/jobs')).body.data.map((j: { id: string }) => j.id);
}

describe('config reload (black-box)', function () {
  const cleanup: DaemonProcess[] = [];
  afterEach(async function () {
    while (cleanup.length) {
      const d = cleanup.pop()!;
      await d.stop();
      await removeDir(d.dir);
    }
  });

  async function start(jobsYaml: string, options: { args?: string[]; extra?: string; daemonKeys?: string } = {}): Promise<DaemonProcess> {
    let config = configText(jobsYaml, options.extra ?? '');
    if (options.daemonKeys) config = config.replace('daemon:\n', `daemon:\n${options.daemonKeys}`);
    const d = await startDaemon({ config, args: options.args });
    cleanup.push(d);
    return d;
  }

  it('on SIGHUP schedules new jobs, reschedules changed ones and unschedules removed ones, keeping their history', async function () {
    const d = await start(
      '  keep:\n    schedule: "0 0 1 1 *"\n    command: "true"\n' +
        '  moved:\n    schedule: "0 0 1 1 *"\n    command: "true"\n' +
        '  gone:\n    schedule: "@hourly"\n    command: echo from gone\n',
    );
    const before = (await d.api('GET', '/api/v1/jobs/moved')).body.data;
    const gone = (await d.api('POST', '/api/v1/jobs/gone/run')).body.data.execution_id;
    await d.finished(gone);

    await writeFile(d.configFile, configText(
      '  keep:\n    schedule: "0 0 1 1 *"\n    command: "true"\n' +
        '  moved:\n    schedule: "0 0 1 6 *"\n    command: "true"\n' +
        '  fresh:\n    schedule: "@daily"\n    command: echo fresh\n',
    ));
    const line = next(d, reloaded('signal'));
    d.proc.kill('SIGHUP');
    expect(await line).to.deep.include({ added: ['fresh'], changed: ['moved'], removed: ['gone'], jobs: 3 });

    expect(await ids(d)).to.deep.equal(['fresh', 'keep', 'moved']);
    const moved = (await d.api('GET', '/api/v1/jobs/moved')).body.data;
    expect(moved.schedule).to.equal('0 0 1 6 *');
    expect(moved.next_run).to.match(/-06-01T00:00:00(\.000)?Z$/).and.not.equal(before.next_run);
    expect((await d.api('GET', '/api/v1/jobs/fresh')).body.data.next_run).to.match(/T00:00:00(\.000)?Z$/);
    expect((await d.api('GET', '/api/v1/jobs/gone')).status).to.equal(404);
    // The removed job's executions stay in the store: listed across jobs, and under the job once it is back.
    const all = (await d.api('GET', '/api/v1/executions')).body.data;
    expect(all.map((e: { id: string }) => e.id)).to.include(gone);

    await writeFile(d.configFile, configText('  gone:\n    schedule: "@hourly"\n    command: echo from gone\n'));
    const back = await d.api('POST', '/api/v1/config/reload');
    expect(back.status, back.text).to.equal(200);
    expect(back.body.data).to.deep.include({ added: ['gone'], removed: ['fresh', 'keep', 'moved'] });
    const history = (await d.api('GET', '/api/v1/jobs/gone/executions')).body.data;
    expect(history.map((e: { id: string }) => e.id)).to.deep.equal([gone]);
    expect(history[0].output).to.equal('from gone\n');
  });

  it('POST /api/v1/config/reload answers the diff; an invalid file answers 400 with FILE:LINE:COL and changes nothing', async function () {
    const d = await start('  a:\n    schedule: "@daily"\n    command: echo a\n');
    const same = await d.api('POST', '/api/v1/config/reload');
    expect(same.status, same.text).to.equal(200);
    expect(same.body).to.deep.equal({ data: { message: 'Config reloaded successfully', added: [], changed: [], removed: [], warnings: [] } });

    await writeFile(d.configFile, configText('  a:\n    schedule: "*/0 * * * *"\n    command: echo changed\n  b:\n    schedule: "@daily"\n    command: echo b\n    retries: lots\n'));
    const failedLine = next(d, reloadFailed('api'));
    const bad = await d.api('POST', '/api/v1/config/reload');
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal('CONFIG_INVALID');
    const problems = [
      `${d.configFile}:9:15: jobs.a.schedule: "*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0; expected a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant`,
      `${d.configFile}:14:14: jobs.b.retries: "lots" is invalid; expected an integer from 0 to 100`,
    ];
    expect(bad.body.error.details.map((x: { message: string }) => x.message)).to.deep.equal(problems);
    expect(bad.body.error.message).to.equal(problems.join('\n'));
    expect((await failedLine).errors).to.deep.equal(problems);
    // Nothing changed: same jobs, same command.
    expect(await ids(d)).to.deep.equal(['a']);
    expect((await d.api('GET', '/api/v1/jobs/a')).body.data.command).to.equal('echo a');

    // /health stays UP (the daemon runs the last good config) and says why the new one was refused.
    const health = await d.api('GET', '/health');
    expect(health.status).to.equal(200);
    expect(health.body.status).to.equal('UP');
    expect(health.body.config).to.include({ file: d.configFile, last_error: problems.join('\n'), watch: false });
    expect(Date.parse(health.body.config.last_reload)).to.be.at.least(Date.parse(health.body.config.loaded_at));

    // A SIGHUP with the same file: logged with positions, nothing changed.
    const signalLine = next(d, reloadFailed('signal'));
    d.proc.kill('SIGHUP');
    expect((await signalLine).errors).to.deep.equal(problems);

    // A good file clears the error.
    await writeFile(d.configFile, configText('  a:\n    schedule: "@daily"\n    command: echo changed\n'));
    const good = await d.api('POST', '/api/v1/config/reload');
    expect(good.body.data).to.deep.include({ added: [], changed: ['a'], removed: [] });
    const after = (await d.api('GET', '/health')).body.config;
    expect(after.last_error).to.equal(null);
    expect(after.loaded_at).to.equal(after.last_reload);
  });

  it('lets a running execution of a changed job finish under its old definition', async function () {
    const d = await start('  slow:\n    schedule: "@yearly"\n    command: sleep 2; echo old\n');
    const eid = (await d.api('POST', '/api/v1/jobs/slow/run')).body.data.execution_id;
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    await writeFile(d.configFile, configText('  slow:\n    schedule: "@yearly"\n    command: echo new\n'));
    const res = await d.api('POST', '/api/v1/config/reload');
    expect(res.body.data.changed).to.deep.equal(['slow']);
    expect((await d.api('GET', '/api/v1/jobs/slow')).body.data.command).to.equal('echo new');

    const done = await d.finished(eid);
    expect(done.status).to.equal('success');
    expect((await d.api('GET', `/api/v1/jobs/slow/executions/${eid}`)).body.data.output).to.equal('old\n');
    const again = (await d.api('POST', '/api/v1/jobs/slow/run')).body.data.execution_id;
    await d.finished(again);
    expect((await d.api('GET', `/api/v1/jobs/slow/executions/${again}`)).body.data.output).to.equal('new\n');
  });

  it('keeps a config job paused across a reload that changes it and across a restart', async function () {
    const d = await startWithJobs('  napper:\n    schedule: "@daily"\n    command: echo one\n');
    expect((await d.api('POST', '/api/v1/jobs/napper/pause')).status).to.equal(200);
    await writeFile(d.configFile, configText('  napper:\n    schedule: "@hourly"\n    command: echo two\n'));
    expect((await d.api('POST', '/api/v1/config/reload')).body.data.changed).to.deep.equal(['napper']);
    expect((await d.api('GET', '/api/v1/jobs/napper')).body.data).to.include({ status: 'paused', next_run: null, command: 'echo two' });
    expect((await d.stop()).code).to.equal(0);

    const again = await startDaemon({ dir: d.dir });
    cleanup.push(again);
    expect((await again.api('GET', '/api/v1/jobs/napper')).body.data).to.include({ status: 'paused', next_run: null, schedule: '@hourly' });
    const resumed = await again.api('POST', '/api/v1/jobs/napper/resume');
    expect(resumed.body.data.next_run).to.match(/:00:00(\.000)?Z$/);
  });

  it('refuses a config job that takes the id or the name of an API job with 409, naming both, and changes nothing', async function () {
    const d = await start('  a:\n    schedule: "@daily"\n    command: echo a\n');
    expect((await d.api('POST', '/api/v1/jobs', { id: 'made-by-api', name: 'Made by API', schedule: '@daily', command: 'true' })).status).to.equal(201);
    await writeFile(d.configFile, configText(
      '  made-by-api:\n    schedule: "@daily"\n    command: echo clash\n' +
        '  other:\n    name: Made by API\n    schedule: "@daily"\n    command: echo clash\n',
    ));
    const res = await d.api('POST', '/api/v1/config/reload');
    expect(res.status).to.equal(409);
    expect(res.body.error.code).to.equal('JOB_EXISTS');
    expect(res.body.error.details.map((x: { message: string }) => x.message)).to.deep.equal([
      `${d.configFile}:8:3: job made-by-api is defined in the config, and a job made-by-api was created through the API; rename the job in the file, or delete the API job (DELETE /api/v1/jobs/made-by-api), then reload`,
      `${d.configFile}:11:3: job other has the name "Made by API", already the name of job made-by-api, created through the API; names must be unique`,
    ]);
    expect(await ids(d)).to.deep.equal(['a', 'made-by-api']);
    expect((await d.api('GET', '/api/v1/jobs/made-by-api')).body.data.source).to.equal('api');
    expect((await d.api('GET', '/health')).body.config.last_error).to.include('job made-by-api is defined in the config');
  });

  it('needs an admin token to reload when tokens are configured', async function () {
    const tokens = 'api:\n  tokens:\n    - name: ops\n      token: admin-token-for-reload\n      scope: admin\n    - name: grafana\n      token: read-token-for-reload\n      scope: read\n';
    const d = await start('  a:\n    schedule: "@daily"\n    command: "true"\n', { extra: tokens });
    expect((await d.api('POST', '/api/v1/config/reload')).status).to.equal(401);
    expect((await d.api('POST', '/api/v1/config/reload', undefined, { authorization: 'Bearer read-token-for-reload' })).status).to.equal(403);
    const ok = await d.api('POST', '/api/v1/config/reload', undefined, { authorization: 'Bearer admin-token-for-reload' });
    expect(ok.status, ok.text).to.equal(200);
  });

  it('runs jobs of included files, names the included file in the 409 for an edit, and reloads them', async function () {
    const d = await start('  main-job:\n    schedule: "@daily"\n    command: "true"\n', { extra: 'include:\n  - conf.d/*.yaml\n' });
    expect(await ids(d)).to.deep.equal(['main-job']);
    await mkdir(join(d.dir, 'conf.d'));
    await writeFile(join(d.dir, 'conf.d/team.yaml'), '# team jobs\njobs:\n  team-job:\n    schedule: "@hourly"\n    command: echo team\n');
    const res = await d.api('POST', '/api/v1/config/reload');
    expect(res.body.data.added).to.deep.equal(['team-job']);
    const job = (await d.api('GET', '/api/v1/jobs/team-job')).body.data;
    expect(job).to.include({ source: 'config', command: 'echo team' });
    const put = await d.api('PUT', '/api/v1/jobs/team-job', { command: 'echo edited' });
    expect(put.status).to.equal(409);
    expect(put.body.error.message).to.include(`${join(d.dir, 'conf.d/team.yaml')}:3:3`);

    await writeFile(join(d.dir, 'conf.d/team.yaml'), 'jobs:\n  team-job:\n    schedule: "@hourly"\n    command: echo team\n    timeout: forever\n');
    const bad = await d.api('POST', '/api/v1/config/reload');
    expect(bad.status).to.equal(400);
    expect(bad.body.error.details.map((x: { message: string }) => x.message)).to.deep.equal([
      `${join(d.dir, 'conf.d/team.yaml')}:5:14: jobs.team-job.timeout: "forever" is invalid; expected a duration of at least 1s: integer seconds or a string such as "90s", "5m", "1h30m"`,
    ]);
  });

  describe('--watch', function () {
    it('reloads after the file is written in place or replaced by a rename, once per burst of writes', async function () {
      const d = await start('  a:\n    schedule: "@daily"\n    command: echo a\n', { args: ['--watch'] });
      expect((await d.api('GET', '/health')).body.config.watch).to.equal(true);

      // Several quick writes, as an editor saving in steps: one reload, of the last text.
      const first = next(d, reloaded('watch'));
      await writeFile(d.configFile, '');
      await writeFile(d.configFile, configText('  a:\n    schedule: "@daily"\n    command: echo half\n'));
      await writeFile(d.configFile, configText('  a:\n    schedule: "@daily"\n    command: echo a\n  b:\n    schedule: "@daily"\n    command: echo b\n'));
      expect(await first).to.deep.include({ added: ['b'], changed: [], removed: [] });

      // Replaced by a rename (vim, git checkout, atomic writers): the watch still sees it, and the next one too.
      const second = next(d, reloaded('watch'));
      await replaceFile(d.configFile, configText('  b:\n    schedule: "@daily"\n    command: echo b\n'));
      expect(await second).to.deep.include({ added: [], removed: ['a'] });
      const third = next(d, reloaded('watch'));
      await replaceFile(d.configFile, configText('  b:\n    schedule: "@daily"\n    command: echo b2\n'));
      expect(await third).to.deep.include({ changed: ['b'] });
      expect(d.lines.filter(reloaded('watch'))).to.have.length(3);
      expect(await ids(d)).to.deep.equal(['b']);
    });

    it('logs an invalid file with FILE:LINE:COL, keeps the running config, and recovers when it is fixed', async function () {
      const d = await start('  a:\n    schedule: "@daily"\n    command: echo a\n', { args: ['--watch'] });
      const failed = next(d, reloadFailed('watch'));
      await writeFile(d.configFile, configText('  a:\n    schedule: "@daily"\n    command: echo a\n    retries: -1\n'));
      const problem = `${d.configFile}:11:14: jobs.a.retries: -1 is invalid; expected an integer from 0 to 100`;
      expect((await failed).errors).to.deep.equal([problem]);
      expect(await ids(d)).to.deep.equal(['a']);
      const health = (await d.api('GET', '/health')).body;
      expect(health.status).to.equal('UP');
      expect(health.config.last_error).to.equal(problem);

      const fixed = next(d, reloaded('watch'));
      await writeFile(d.configFile, configText('  a:\n    schedule: "@daily"\n    command: echo fixed\n'));
      expect(await fixed).to.deep.include({ changed: ['a'] });
      expect((await d.api('GET', '/health')).body.config.last_error).to.equal(null);
    });

    it('with `daemon.watch: true`, watches included files and sees new ones appear', async function () {
      const d = await start('  main-job:\n    schedule: "@daily"\n    command: "true"\n', { daemonKeys: '  watch: true\n', extra: 'include: [conf.d/*.yaml]\n' });
      expect(d.lines.find((l) => l.event === 'config.warning')?.warning).to.equal(`${d.configFile}:8:11: include.0: "conf.d/*.yaml" matches no file`);

      // conf.d/ does not exist yet: its parent's watch sees it appear.
      const created = next(d, reloaded('watch'));
      await mkdir(join(d.dir, 'conf.d'));
      await writeFile(join(d.dir, 'conf.d/a.yaml'), 'jobs:\n  inc-a:\n    schedule: "@daily"\n    command: echo a\n');
      expect((await created).added).to.deep.equal(['inc-a']);

      const edited = next(d, reloaded('watch'));
      await replaceFile(join(d.dir, 'conf.d/a.yaml'), 'jobs:\n  inc-a:\n    schedule: "@hourly"\n    command: echo a\n');
      expect((await edited).changed).to.deep.equal(['inc-a']);

      const failed = next(d, reloadFailed('watch'));
      await writeFile(join(d.dir, 'conf.d/b.yaml'), 'jobs:\n  inc-a:\n    schedule: "@daily"\n    command: echo twice\n');
      expect((await failed).errors).to.deep.equal([
        `${join(d.dir, 'conf.d/b.yaml')}:2:3: jobs.inc-a: job id "inc-a" is already defined at ${join(d.dir, 'conf.d/a.yaml')}:2:3; ids must be unique across the config file and its included files`,
      ]);
      expect(await ids(d)).to.deep.equal(['inc-a', 'main-job']);
    });
  });
});
