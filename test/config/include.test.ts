/** `include:` in the config: further files with a `jobs:` map, found by glob patterns next to the config file. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfig, type Config, type LoadOptions } from '../../src/config/load-config.js';
import { BIN } from '../helpers/daemon-process.js';

/** YAML from lines, so columns in the tests can be counted. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('config include:', function () {
  let dir: string;
  let n = 0;
  /** A fresh folder per test, holding the config file and what it includes. */
  let root: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-include-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    root = join(dir, `case-${++n}`);
    await mkdir(root);
  });

  /** Writes files (path relative to the case folder -> text). */
  async function files(map: Record<string, string>): Promise<void> {
    for (const [path, text] of Object.entries(map)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  }

  const load = (options: LoadOptions = {}): Promise<Config> => loadConfig(join(root, 'watchbell.yaml'), { env: {}, displayName: 'etc/watchbell.yaml', ...options });

  async function problems(options: LoadOptions = {}): Promise<string[]> {
    const err = await load(options).then(
      () => expect.fail('the config was accepted'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }

  const job = (id: string, command = `echo ${id}`) => [`  ${id}:`, '    schedule: "@daily"', `    command: ${command}`];

  it('adds the jobs of the matching files, after the config file\'s own, each pattern\'s files sorted', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include:', '  - conf.d/*.yaml', '  - extra.yaml', 'jobs:', ...job('main-job')),
      'conf.d/b.yaml': yaml('jobs:', ...job('b-job')),
      'conf.d/a.yaml': yaml('jobs:', ...job('a-job'), ...job('a-two')),
      'conf.d/notes.txt': 'not yaml: [',
      'conf.d/.hidden.yaml': 'not yaml: [',
      'extra.yaml': yaml('jobs:', ...job('extra-job')),
    });
    const config = await load();
    expect(config.jobs.map((j) => j.id)).to.deep.equal(['main-job', 'a-job', 'a-two', 'b-job', 'extra-job']);
    expect(config.jobs.map((j) => j.place)).to.deep.equal([
      { file: join(root, 'watchbell.yaml'), line: 6, col: 3 },
      { file: join(root, 'conf.d/a.yaml'), line: 2, col: 3 },
      { file: join(root, 'conf.d/a.yaml'), line: 5, col: 3 },
      { file: join(root, 'conf.d/b.yaml'), line: 2, col: 3 },
      { file: join(root, 'extra.yaml'), line: 2, col: 3 },
    ]);
    expect(config.sources.files).to.deep.equal(['watchbell.yaml', 'conf.d/a.yaml', 'conf.d/b.yaml', 'extra.yaml'].map((f) => join(root, f)));
    expect(config.sources.includes).to.deep.equal([join(root, 'conf.d/*.yaml'), join(root, 'extra.yaml')]);
    expect(config.warnings).to.deep.equal([]);
  });

  it('applies the config file\'s defaults, time zone and ${VAR} interpolation to included jobs', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'daemon:', '  timezone: Europe/Berlin', 'defaults:', '  retries: 2', '  timeout: 5m', 'include: [conf.d/*.yaml]'),
      'conf.d/a.yaml': yaml('jobs:', '  a:', '    schedule: "@daily"', '    command: echo ${GREETING} ${OTHER:-world}', '    timeout: 1m'),
    });
    const [a] = (await load({ env: { GREETING: 'hello' } })).jobs;
    expect(a!.spec).to.include({ command: 'echo hello world', retries: 2, timeout: 60, timezone: 'Europe/Berlin' });
  });

  it('reads patterns relative to the config file\'s folder, not the current directory, and takes absolute ones', async () => {
    await files({
      'etc/watchbell.yaml': yaml('version: 1', 'include:', '  - ../shared/*.yaml', `  - ${join(root, 'abs')}/*.yaml`),
      'shared/s.yaml': yaml('jobs:', ...job('shared')),
      'abs/x.yaml': yaml('jobs:', ...job('absolute')),
    });
    const config = await loadConfig(join(root, 'etc/watchbell.yaml'), { env: {} });
    expect(config.jobs.map((j) => j.id)).to.deep.equal(['shared', 'absolute']);
  });

  it('never includes the config file itself, and reads a file two patterns match once', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: ["*.yaml", "jobs-*.yaml"]', 'jobs:', ...job('main-job')),
      'jobs-1.yaml': yaml('jobs:', ...job('one')),
    });
    const config = await load();
    expect(config.jobs.map((j) => j.id)).to.deep.equal(['main-job', 'one']);
    expect(config.sources.files).to.have.length(2);
  });

  it('accepts a pattern that matches no file, with a warning at the pattern', async () => {
    await files({ 'watchbell.yaml': yaml('version: 1', 'include:', '  - conf.d/*.yaml', 'jobs:', ...job('a')) });
    const config = await load();
    expect(config.jobs.map((j) => j.id)).to.deep.equal(['a']);
    expect(config.warnings.map((w) => `${w.file}:${w.line}:${w.col}: ${w.message}`)).to.deep.equal([
      'etc/watchbell.yaml:3:5: include.0: "conf.d/*.yaml" matches no file',
    ]);
  });

  it('accepts an empty included file, and one with an empty jobs:', async () => {
    await files({ 'watchbell.yaml': yaml('version: 1', 'include: [a.yaml, b.yaml]'), 'a.yaml': '', 'b.yaml': yaml('# nothing yet', 'jobs:') });
    expect((await load()).jobs).to.deep.equal([]);
  });

  it('reports a job id defined twice, at the second definition, naming the first (config file and include)', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [conf.d/*.yaml]', 'jobs:', ...job('backup')),
      'conf.d/db.yaml': yaml('# database jobs', 'jobs:', ...job('vacuum'), ...job('backup', 'pg_dump')),
    });
    expect(await problems()).to.deep.equal([
      'etc/conf.d/db.yaml:6:3: jobs.backup: job id "backup" is already defined at etc/watchbell.yaml:4:3; ids must be unique across the config file and its included files',
    ]);
  });

  it('reports a job id defined in two included files', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [conf.d/*.yaml]'),
      'conf.d/a.yaml': yaml('jobs:', ...job('same')),
      'conf.d/b.yaml': yaml('jobs:', ...job('other'), ...job('same')),
    });
    expect(await problems()).to.deep.equal([
      'etc/conf.d/b.yaml:5:3: jobs.same: job id "same" is already defined at etc/conf.d/a.yaml:2:3; ids must be unique across the config file and its included files',
    ]);
  });

  it('reports a name used in two files, naming the other file', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [more.yaml]', 'jobs:', '  a:', '    name: Nightly', '    schedule: "@daily"', '    command: x'),
      'more.yaml': yaml('jobs:', '  b:', '    name: Nightly', '    schedule: "@daily"', '    command: y'),
    });
    expect(await problems()).to.deep.equal([
      'etc/more.yaml:3:11: jobs.b.name: "Nightly" is already the name of job a (etc/watchbell.yaml:4:3); names must be unique',
    ]);
  });

  it('reports problems inside an included file with its name and positions, after the config file\'s, file by file', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [conf.d/*.yaml]', 'jobs:', '  main:', '    schedule: nope', '    command: x'),
      'conf.d/a.yaml': yaml('jobs:', '  a:', '    schedule: "@daily"', '    command: echo ${MISSING}', '    retries: 500'),
      'conf.d/b.yaml': yaml('jobs:', '  b:', '    schedule: "@daily"', '    colour: red', '  Bad_Key:', '    schedule: "@daily"', '    command: x'),
    });
    const lines = await problems();
    expect(lines.map((l) => l.split(': ')[0])).to.deep.equal([
      'etc/watchbell.yaml:5:15',
      'etc/conf.d/a.yaml:4:14',
      'etc/conf.d/a.yaml:5:14',
      'etc/conf.d/b.yaml:3:5',
      'etc/conf.d/b.yaml:4:5',
      'etc/conf.d/b.yaml:5:3',
    ]);
    expect(lines[1]).to.equal('etc/conf.d/a.yaml:4:14: jobs.a.command: environment variable MISSING is not set; set it or write ${MISSING:-default}');
    expect(lines[2]).to.equal('etc/conf.d/a.yaml:5:14: jobs.a.retries: 500 is invalid; expected an integer from 0 to 100');
    expect(lines[3]).to.equal('etc/conf.d/b.yaml:3:5: jobs.b.command: is required (or steps); expected a command, or steps: a list of steps');
    expect(lines[4]).to.match(/^etc\/conf\.d\/b\.yaml:4:5: jobs\.b\.colour: unknown field; expected one of id, name, schedule/);
    expect(lines[5]).to.match(/^etc\/conf\.d\/b\.yaml:5:3: jobs\.Bad_Key: the key "Bad_Key" is invalid/);
  });

  it('reports a YAML syntax error in an included file, and still checks the other files', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [a.yaml, b.yaml]'),
      'a.yaml': yaml('jobs:', '  a: {schedule: "@daily", command: x', ''),
      'b.yaml': yaml('jobs:', '  b:', '    schedule: "@daily"', '    command: x', '    retries: -1'),
    });
    const lines = await problems();
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^etc\/a\.yaml:\d+:\d+: invalid YAML: /);
    expect(lines[1]).to.equal('etc/b.yaml:5:14: jobs.b.retries: -1 is invalid; expected an integer from 0 to 100');
  });

  it('allows only jobs: in an included file, saying where the other keys belong', async () => {
    await files({
      'watchbell.yaml': yaml('version: 1', 'include: [a.yaml, list.yaml, jobs-list.yaml]'),
      'a.yaml': yaml('version: 1', 'defaults:', '  retries: 1', 'jobs:', ...job('a')),
      'list.yaml': yaml('- a', '- b'),
      'jobs-list.yaml': yaml('jobs: [a]'),
    });
    expect(await problems()).to.deep.equal([
      'etc/a.yaml:1:1: version: not allowed in an included file; it holds only a jobs: map (version, daemon, api, defaults and include belong in the config file)',
      'etc/a.yaml:2:1: defaults: not allowed in an included file; it holds only a jobs: map (version, daemon, api, defaults and include belong in the config file)',
      'etc/list.yaml:1:1: an included file must be a mapping with a `jobs:` map',
      'etc/jobs-list.yaml:1:7: jobs: ["a"] is invalid; expected an object or a null',
    ]);
  });

  it('checks include: itself', async () => {
    await files({ 'watchbell.yaml': yaml('version: 1', 'include: conf.d/*.yaml', 'jobs:', ...job('a')) });
    expect(await problems()).to.deep.equal(['etc/watchbell.yaml:2:10: include: "conf.d/*.yaml" is invalid; expected an array']);
    await files({ 'watchbell.yaml': yaml('version: 1', 'include: [""]') });
    expect(await problems()).to.deep.equal(['etc/watchbell.yaml:2:11: include.0: "" is invalid; expected a non-empty string']);
  });

  it('interpolates ${VAR} in the patterns', async () => {
    await files({ 'watchbell.yaml': yaml('version: 1', 'include: ["${JOBS_DIR:-conf.d}/*.yaml"]'), 'team/a.yaml': yaml('jobs:', ...job('team-job')) });
    expect((await load({ env: { JOBS_DIR: 'team' } })).jobs.map((j) => j.id)).to.deep.equal(['team-job']);
  });

  it('changes its digest when an included file changes, and keeps its sources on a ConfigError', async () => {
    await files({ 'watchbell.yaml': yaml('version: 1', 'include: [a.yaml]'), 'a.yaml': yaml('jobs:', ...job('a')) });
    const before = (await load()).sources.digest;
    expect((await load()).sources.digest).to.equal(before);
    await files({ 'a.yaml': yaml('jobs:', ...job('a', 'echo changed')) });
    expect((await load()).sources.digest).to.not.equal(before);
    await files({ 'a.yaml': yaml('jobs:', '  a: 1') });
    const err = (await load().catch((e: unknown) => e)) as ConfigError;
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.sources!.files).to.deep.equal([join(root, 'watchbell.yaml'), join(root, 'a.yaml')]);
  });

  describe('watchbell validate', function () {
    function validate(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const p = spawn(process.execPath, [BIN, 'validate', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        p.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    }

    it('checks the included files too, printing their problems as FILE:LINE:COL', async () => {
      await files({
        'watchbell.yaml': yaml('version: 1', 'include: [conf.d/*.yaml]', 'jobs:', ...job('a')),
        'conf.d/x.yaml': yaml('jobs:', '  x:', '    schedule: "*/0 * * * *"', '    command: x'),
      });
      const r = await validate('watchbell.yaml');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^conf\.d\/x\.yaml:3:15: jobs\.x\.schedule: "\*\/0 \* \* \* \*" is not a cron expression/);
    });

    it('says how many files the jobs came from, and warns about a pattern that matches nothing', async () => {
      await files({
        'watchbell.yaml': yaml('version: 1', 'include:', '  - conf.d/*.yaml', '  - missing/*.yaml', 'jobs:', ...job('a')),
        'conf.d/x.yaml': yaml('jobs:', ...job('x')),
      });
      const r = await validate('watchbell.yaml');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('watchbell.yaml: OK (2 jobs from 2 files)\n');
      expect(r.stderr).to.equal('watchbell.yaml:4:5: warning: include.1: "missing/*.yaml" matches no file\n');
    });
  });
});
