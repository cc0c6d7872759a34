import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig, parseConfig, type Config, type LoadOptions } from '../../src/config/load-config.js';
import { WatchbellError } from '../../src/jobs/errors.js';
import { JOB_DEFAULTS } from '../../src/jobs/job.js';

const FILE = '/etc/watchbell/watchbell.yaml';
const NO_ENV: LoadOptions = { env: {} };

const JOB_KEYS = 'id, name, schedule, timezone, command, tags, timeout, retries, retry_delay, environment, working_directory, concurrency, catch_up, starting_deadline, history_limit, max_output, user, notify, container, run_on, steps, on_success, on_failure, status';
const DAEMON_KEYS = 'listen, data_dir, store, timezone, max_concurrency, max_jobs, max_connections, shutdown_grace, kill_grace, log_format, log_level, watch, public_url, docker_labels, ui, node, node_tags, heartbeat, lease';
const SCHEDULE_HELP = 'expected a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant';
const TIMEOUT_HELP = 'expected a duration of at least 1s: integer seconds or a string such as "90s", "5m", "1h30m"';

/** YAML from lines, so columns in the tests can be counted. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** The ConfigError parseConfig throws. */
function configError(text: string, options: LoadOptions = NO_ENV, file = FILE): ConfigError {
  try {
    parseConfig(text, file, options);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  return expect.fail('the config was accepted');
}

/** Each problem as `FILE:LINE:COL: message`. */
function problems(text: string, options: LoadOptions = NO_ENV, file = FILE): string[] {
  return configError(text, options, file).message.split('\n');
}

describe('parseConfig', () => {
  describe('a valid config', () => {
    const text = yaml(
      'version: 1',
      'daemon:',
      '  listen: 127.0.0.1:9090',
      '  timezone: Europe/Berlin',
      '  data_dir: ./state',
      '  max_concurrency: 4',
      '  shutdown_grace: 1m',
      '  kill_grace: 5s',
      '  log_format: pretty',
      '  log_level: debug',
      'defaults:',
      '  timeout: 10m',
      '  retries: 2',
      'jobs:',
      '  backup-database:',
      '    schedule: "0 0 * * *"',
      '    command: pg_dump -U postgres mydb',
      '    tags: [backup, database]',
      '    timeout: 1h30m',
      '    retry_delay: 5m',
      '    environment:',
      '      PGUSER: postgres',
      '  report:',
      '    name: Daily report',
      '    schedule: "@every 15m"',
      '    timezone: UTC',
      '    command: ["sh", "-c", "echo hello"]',
      '    retries: 0',
    );

    it('becomes the Config shape, with settings, defaults and durations applied', () => {
      const config: Config = parseConfig(text, FILE, NO_ENV);
      expect(config.sources.digest).to.match(/^[0-9a-f]{16}$/);
      expect(config).to.deep.equal({
        file: FILE,
        daemon: {
          listen: '127.0.0.1:9090',
          data_dir: '/etc/watchbell/state',
          timezone: 'Europe/Berlin',
          max_concurrency: 4,
          max_jobs: 10000,
          max_connections: null,
          shutdown_grace: 60,
          kill_grace: 5,
          log_format: 'pretty',
          log_level: 'debug',
          watch: false,
          public_url: null,
          docker_labels: false,
          store: null,
          ui: true,
          node: null,
          node_tags: {},
          heartbeat: 2,
          lease: 10,
        },
        api: { tokens: [] },
        notifiers: {},
        sources: { files: [FILE], includes: [], digest: config.sources.digest },
        warnings: [],
        jobs: [
          {
            id: 'backup-database',
            place: { file: FILE, line: 15, col: 3 },
            spec: {
              ...JOB_DEFAULTS,
              name: 'backup-database',
              schedule: '0 0 * * *',
              timezone: 'Europe/Berlin',
              command: 'pg_dump -U postgres mydb',
              tags: ['backup', 'database'],
              timeout: 5400,
              retries: 2,
              retry_delay: 300,
              environment: { PGUSER: 'postgres' },
            },
          },
          {
            id: 'report',
            place: { file: FILE, line: 23, col: 3 },
            spec: {
              ...JOB_DEFAULTS,
              name: 'Daily report',
              schedule: '@every 15m',
              timezone: 'UTC',
              command: ['sh', '-c', 'echo hello'],
              timeout: 600,
              retries: 0,
            },
          },
        ],
      });
    });

    it('fills daemon defaults for a minimal file', () => {
      const config = parseConfig(yaml('version: 1'), FILE, NO_ENV);
      expect(config.daemon).to.deep.equal({
        listen: '127.0.0.1:8080',
        data_dir: '/etc/watchbell/data',
        timezone: 'UTC',
        max_concurrency: 8,
        max_jobs: 10000,
        max_connections: null,
        shutdown_grace: 30,
        kill_grace: 10,
        log_format: 'json',
        log_level: 'info',
        watch: false,
        public_url: null,
        docker_labels: false,
        store: null,
        ui: true,
        node: null,
        node_tags: {},
        heartbeat: 2,
        lease: 10,
      });
      expect(config.api).to.deep.equal({ tokens: [] });
      expect(config.jobs).to.deep.equal([]);
    });

    it('accepts an empty `jobs:`', () => {
      expect(parseConfig(yaml('version: 1', 'jobs:'), FILE, NO_ENV).jobs).to.deep.equal([]);
    });

    it("reads ISO instants without an offset in the daemon's time zone", () => {
      const config = parseConfig(
        yaml('version: 1', 'daemon:', '  timezone: America/New_York', 'jobs:', '  once:', '    schedule: "2030-06-01T12:00:00"', '    command: x'),
        FILE,
        NO_ENV,
      );
      expect(config.jobs[0]!.spec.timezone).to.equal('America/New_York');
    });
  });

  describe('data_dir', () => {
    it("resolves a relative data_dir against the config file's folder", () => {
      expect(parseConfig(yaml('version: 1', 'daemon:', '  data_dir: ../var/data'), FILE, NO_ENV).daemon.data_dir).to.equal('/etc/var/data');
      expect(parseConfig(yaml('version: 1'), 'relative/dir/watchbell.yaml', NO_ENV).daemon.data_dir).to.equal(join(process.cwd(), 'relative/dir/data'));
    });

    it('keeps an absolute data_dir', () => {
      expect(parseConfig(yaml('version: 1', 'daemon:', '  data_dir: /var/lib/watchbell'), FILE, NO_ENV).daemon.data_dir).to.equal('/var/lib/watchbell');
    });

    it('gives the absolute path of the file read', () => {
      expect(parseConfig(yaml('version: 1'), 'relative/watchbell.yaml', NO_ENV).file).to.equal(join(process.cwd(), 'relative/watchbell.yaml'));
    });
  });

  describe('overrides', () => {
    it('win over the file, ignoring the ones left undefined', () => {
      const config = parseConfig(
        yaml('version: 1', 'daemon:', '  listen: 0.0.0.0:9090', '  data_dir: /var/lib/watchbell', '  log_format: pretty'),
        FILE,
        { env: {}, overrides: { listen: '127.0.0.1:9999', data_dir: '/srv/data', log_format: undefined, log_level: 'warn' } },
      );
      expect(config.daemon.listen).to.equal('127.0.0.1:9999');
      expect(config.daemon.data_dir).to.equal('/srv/data');
      expect(config.daemon.log_format).to.equal('pretty');
      expect(config.daemon.log_level).to.equal('warn');
    });

    it('are checked like the file', () => {
      expect(problems(yaml('version: 1'), { env: {}, overrides: { listen: 'nope' } })).to.deep.equal([
        `${FILE}:1:1: daemon.listen: "nope" is invalid; expected HOST:PORT such as "127.0.0.1:8080" (port 0..65535)`,
      ]);
    });
  });

  describe('interpolation', () => {
    it('replaces ${VAR} and ${VAR:-default} and turns $$ into $', () => {
      const config = parseConfig(
        yaml(
          'version: 1',
          'daemon:',
          '  listen: ${HOST:-127.0.0.1}:${PORT}',
          'jobs:',
          '  a:',
          '    schedule: "* * * * *"',
          '    command: echo ${GREETING:-hello} $${HOME} $$ $5 [${EMPTY}] ${BLANK:-dflt}',
          '    timeout: ${TIMEOUT:-90s}',
          '    environment:',
          '      PGPASSWORD: ${PGPASSWORD}',
        ),
        FILE,
        { env: { PORT: '9000', PGPASSWORD: 's3cret', EMPTY: '', BLANK: '' } },
      );
      expect(config.daemon.listen).to.equal('127.0.0.1:9000');
      const spec = config.jobs[0]!.spec;
      expect(spec.command).to.equal('echo hello ${HOME} $ $5 [] dflt');
      expect(spec.timeout).to.equal(90);
      expect(spec.environment).to.deep.equal({ PGPASSWORD: 's3cret' });
    });

    it('prefers a set variable over the default', () => {
      const config = parseConfig(yaml('version: 1', 'daemon:', '  timezone: ${TZ_NAME:-UTC}'), FILE, { env: { TZ_NAME: 'Asia/Tokyo' } });
      expect(config.daemon.timezone).to.equal('Asia/Tokyo');
    });

    it('reports an unset variable by name, at its value', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  a:', '    schedule: "* * * * *"', '    command: echo ${MISSING}', '    environment:', '      X: "${ALSO_MISSING}"'))).to.deep.equal([
        `${FILE}:5:14: jobs.a.command: environment variable MISSING is not set; set it or write \${MISSING:-default}`,
        `${FILE}:7:10: jobs.a.environment.X: environment variable ALSO_MISSING is not set; set it or write \${ALSO_MISSING:-default}`,
      ]);
    });

    it('reports a malformed reference', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  a:', '    schedule: "* * * * *"', '    command: echo ${bad-name}'))).to.deep.equal([
        `${FILE}:5:14: jobs.a.command: "\${bad-name}" is not a valid variable reference; expected \${NAME} or \${NAME:-default} (write $$ for a literal $)`,
      ]);
    });

    it('reads process.env when no env is given', () => {
      const name = 'WATCHBELL_TEST_LOAD_CONFIG_VAR';
      process.env[name] = 'from-process-env';
      try {
        const config = parseConfig(yaml('version: 1', 'jobs:', '  a:', '    schedule: "* * * * *"', `    command: echo \${${name}}`), FILE);
        expect(config.jobs[0]!.spec.command).to.equal('echo from-process-env');
      } finally {
        delete process.env[name];
      }
    });
  });

  describe('api.tokens', () => {
    let dir: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'watchbell-config-tokens-'));
    });

    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads inline tokens, interpolated ones and `file:` secrets (trailing newline trimmed)', async () => {
      const secret = join(dir, 'watchbell-read');
      await writeFile(secret, 'read-token-123\n');
      const config = parseConfig(
        yaml(
          'version: 1',
          'api:',
          '  tokens:',
          '    - name: deploy-bot',
          '      token: ${WATCHBELL_ADMIN_TOKEN}',
          '      scope: admin',
          '    - name: grafana',
          `      token: file:${secret}`,
          '      scope: read',
          '    - name: inline',
          '      token: plain',
          '      scope: read',
        ),
        FILE,
        { env: { WATCHBELL_ADMIN_TOKEN: 'admin-token-456' } },
      );
      expect(config.api.tokens).to.deep.equal([
        { name: 'deploy-bot', token: 'admin-token-456', scope: 'admin' },
        { name: 'grafana', token: 'read-token-123', scope: 'read' },
        { name: 'inline', token: 'plain', scope: 'read' },
      ]);
    });

    it('reports a `file:` secret it cannot read, and bad token entries', () => {
      const missing = join(dir, 'missing');
      expect(
        problems(
          yaml(
            'version: 1',
            'api:',
            '  tokens:',
            '    - name: bot',
            `      token: file:${missing}`,
            '      scope: admin',
            '    - name: x',
            '      scope: root',
          ),
        ),
      ).to.deep.equal([
        `${FILE}:5:14: api.tokens.0.token: cannot read ${missing}: ENOENT`,
        `${FILE}:7:7: api.tokens.1.token: is required`,
        `${FILE}:8:14: api.tokens.1.scope: "root" is invalid; expected one of "admin", "read"`,
      ]);
    });
  });

  describe('problems', () => {
    it('reports every problem of a file as FILE:LINE:COL, keys at the key and values at the value', () => {
      const text = yaml(
        'version: 1',
        'daemon:',
        '  listn: 127.0.0.1:8080',
        '  timezone: Mars/Base',
        '  max_concurrency: 0',
        '  shutdown_grace: 5x',
        'jobs:',
        '  backup:',
        '    schedule: "*/0 * * * *"',
        '    command: pg_dump',
        '    timeout: 5x',
        '    bogus: 1',
        '  report:',
        '    schedule: "@every 15m"',
        '    command: echo ${MISSING}',
        '    retries: 500',
        'extra: true',
      );
      const err = configError(text, NO_ENV, 'conf/watchbell.yaml');
      expect(err.code).to.equal('CONFIG_INVALID');
      expect(err).to.be.instanceOf(WatchbellError);
      expect(err.message.split('\n')).to.deep.equal([
        `conf/watchbell.yaml:3:3: daemon.listn: unknown field; expected one of ${DAEMON_KEYS}`,
        'conf/watchbell.yaml:4:13: daemon.timezone: "Mars/Base" is not a known time zone; expected an IANA time zone name such as "Europe/Berlin"',
        'conf/watchbell.yaml:5:20: daemon.max_concurrency: 0 is invalid; expected an integer from 1 to 10000',
        'conf/watchbell.yaml:6:19: daemon.shutdown_grace: "5x" is invalid; expected a duration: integer seconds or a string such as "30s"',
        `conf/watchbell.yaml:9:15: jobs.backup.schedule: "*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0; ${SCHEDULE_HELP}`,
        `conf/watchbell.yaml:11:14: jobs.backup.timeout: "5x" is invalid; ${TIMEOUT_HELP}`,
        `conf/watchbell.yaml:12:5: jobs.backup.bogus: unknown field; expected one of ${JOB_KEYS}`,
        'conf/watchbell.yaml:15:14: jobs.report.command: environment variable MISSING is not set; set it or write ${MISSING:-default}',
        'conf/watchbell.yaml:16:14: jobs.report.retries: 500 is invalid; expected an integer from 0 to 100',
        'conf/watchbell.yaml:17:1: extra: unknown field; expected one of version, daemon, api, defaults, include, jobs, notifiers',
      ]);
      expect(err.problems.map((p) => [p.line, p.col, p.path])).to.deep.equal([
        [3, 3, '/daemon/listn'],
        [4, 13, '/daemon/timezone'],
        [5, 20, '/daemon/max_concurrency'],
        [6, 19, '/daemon/shutdown_grace'],
        [9, 15, '/jobs/backup/schedule'],
        [11, 14, '/jobs/backup/timeout'],
        [12, 5, '/jobs/backup/bogus'],
        [15, 14, '/jobs/report/command'],
        [16, 14, '/jobs/report/retries'],
        [17, 1, '/extra'],
      ]);
      expect(err.problems.every((p) => p.file === 'conf/watchbell.yaml')).to.equal(true);
      expect(err.details!.map((d) => d.message)).to.deep.equal(err.message.split('\n'));
    });

    it('shows `displayName` instead of the path', () => {
      expect(problems(yaml('version: 2'), { env: {}, displayName: 'watchbell.yaml' })).to.deep.equal(['watchbell.yaml:1:10: version: 2 is invalid; expected 1']);
    });

    it('points a missing field of a job at the job', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  a:', '    schedule: "@daily"'))).to.deep.equal([`${FILE}:4:5: jobs.a.command: is required (or steps); expected a command, or steps: a list of steps`]);
    });

    it('refuses a cluster lease no longer than the heartbeat, and a heartbeat of 0', () => {
      expect(problems(yaml('version: 1', 'daemon:', '  heartbeat: 5s', '  lease: 5s'))).to.deep.equal([
        `${FILE}:4:10: daemon.lease: 5s is not longer than daemon.heartbeat (5s); expected a duration longer than daemon.heartbeat: integer seconds or a string such as "10s"`,
      ]);
      expect(problems(yaml('version: 1', 'daemon:', '  heartbeat: 0'))).to.deep.equal([
        `${FILE}:3:14: daemon.heartbeat: 0 is too short; expected a duration: integer seconds or a string such as "2s" of at least 1s`,
      ]);
      const config = parseConfig(yaml('version: 1', 'daemon:', '  node: cron-a', '  node_tags: {zone: eu-1}', '  heartbeat: 1s', '  lease: 3s'), FILE, NO_ENV);
      expect(config.daemon).to.include({ node: 'cron-a', heartbeat: 1, lease: 3 });
      expect(config.daemon.node_tags).to.deep.equal({ zone: 'eu-1' });
    });

    it('refuses a chain cycle, naming the whole cycle at the first arrow', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  a:', '    command: x', '    on_success: [b]', '  b:', '    command: x', '    on_failure: [c]', '  c:', '    command: x', '    on_success: [a]'))).to.deep.equal([
        `${FILE}:5:17: jobs.a.on_success: chain cycle a -> b -> c -> a; a job must not trigger itself through on_success / on_failure`,
      ]);
    });

    it('checks `defaults:` against the job fields', () => {
      expect(problems(yaml('version: 1', 'defaults:', '  schedule: "* * * * *"', '  retries: -1'))).to.deep.equal([
        `${FILE}:3:3: defaults.schedule: unknown field; expected one of timezone, tags, timeout, retries, retry_delay, environment, working_directory, concurrency, catch_up, starting_deadline, history_limit, max_output, user, notify, container, run_on`,
        `${FILE}:4:12: defaults.retries: -1 is invalid; expected an integer from 0 to 100`,
      ]);
    });

    it('reports a bad `defaults:` value once, at the defaults, not again in every job', () => {
      expect(problems(yaml('version: 1', 'defaults:', '  timeout: bad', 'jobs:', '  a:', '    schedule: "* * * * *"', '    command: x'))).to.deep.equal([
        `${FILE}:3:12: defaults.timeout: "bad" is invalid; ${TIMEOUT_HELP}`,
      ]);
    });
  });

  describe('version', () => {
    it('is required', () => {
      expect(problems(yaml('jobs:'))).to.deep.equal([`${FILE}:1:1: version: is required`]);
      expect(problems('')).to.deep.equal([`${FILE}:1:1: version: is required`]);
    });

    it('must be 1', () => {
      expect(problems(yaml('version: 2'))).to.deep.equal([`${FILE}:1:10: version: 2 is invalid; expected 1`]);
      expect(problems(yaml('version: "1"'))).to.deep.equal([`${FILE}:1:10: version: "1" is invalid; expected 1`]);
    });

    it('needs a mapping at the top', () => {
      expect(problems(yaml('- a'))).to.deep.equal([`${FILE}:1:1: the config must be a mapping with \`version: 1\` and \`jobs:\``]);
    });
  });

  describe('YAML syntax', () => {
    it('reports a syntax error with its position', () => {
      expect(problems(yaml('version: 1', 'key: value: other'))).to.deep.equal([
        `${FILE}:2:6: invalid YAML: Nested mappings are not allowed in compact mappings`,
      ]);
      expect(problems(yaml('version: 1', 'jobs:', '  a:', '  \tschedule: x'))).to.deep.equal([`${FILE}:4:3: invalid YAML: Tabs are not allowed as indentation`]);
    });

    it('reports an unclosed quote', () => {
      const [first, ...rest] = problems(yaml('version: 1', 'jobs:', '  a:', '    schedule: "* * * * *', '    command: x'));
      expect(rest).to.deep.equal([]);
      expect(first).to.match(new RegExp(`^${FILE}:\\d+:\\d+: invalid YAML: Missing closing "quote$`));
    });

    it('reports a duplicate job id at the second key', () => {
      expect(
        problems(yaml('version: 1', 'jobs:', '  a: {schedule: "* * * * *", command: x}', '  a: {schedule: "* * * * *", command: y}')),
      ).to.deep.equal([`${FILE}:4:3: invalid YAML: Map keys must be unique`]);
    });
  });

  describe('jobs', () => {
    it('takes the name from the key unless given', () => {
      const config = parseConfig(yaml('version: 1', 'jobs:', '  a:', '    schedule: "* * * * *"', '    command: x', '  b:', '    name: Bee', '    schedule: "* * * * *"', '    command: x'), FILE, NO_ENV);
      expect(config.jobs.map((j) => [j.id, j.spec.name])).to.deep.equal([['a', 'a'], ['b', 'Bee']]);
    });

    it('rejects duplicate names, at the second name', () => {
      expect(
        problems(yaml('version: 1', 'jobs:', '  a:', '    name: Same', '    schedule: "* * * * *"', '    command: x', '  b:', '    name: Same', '    schedule: "* * * * *"', '    command: y')),
      ).to.deep.equal([`${FILE}:8:11: jobs.b.name: "Same" is already the name of job a; names must be unique`]);
    });

    it("rejects a name equal to another job's id-derived name", () => {
      expect(
        problems(yaml('version: 1', 'jobs:', '  a:', '    name: b', '    schedule: "* * * * *"', '    command: x', '  b:', '    schedule: "* * * * *"', '    command: y')),
      ).to.deep.equal([`${FILE}:8:5: jobs.b.name: "b" is already the name of job a; names must be unique`]);
    });

    it('rejects `id` and `status` in a config job, saying why', () => {
      const err = configError(yaml('version: 1', 'jobs:', '  a:', '    id: other', '    status: paused', '    schedule: "* * * * *"', '    command: x'));
      expect(err.problems.map((p) => p.message)).to.deep.equal([
        "jobs.a.id: not allowed in the config file; a config job's id is its key under jobs:",
        'jobs.a.status: not allowed in the config file; pause a config job with `watchbell pause` or POST /api/v1/jobs/{id}/pause',
      ]);
      expect(err.problems.map((p) => p.line)).to.deep.equal([4, 5]);
    });

    it('points `id` and `status` problems at the key, like other keys that are not allowed', () => {
      const err = configError(yaml('version: 1', 'jobs:', '  a:', '    id: other', '    status: paused', '    schedule: "* * * * *"', '    command: x'));
      expect(err.problems.map((p) => `${p.line}:${p.col}`)).to.deep.equal(['4:5', '5:5']);
    });

    it('rejects `jobs:` that is not a mapping', () => {
      expect(problems(yaml('version: 1', 'jobs: []'))).to.deep.equal([`${FILE}:2:7: jobs: [] is invalid; expected an object or a null`]);
    });

    it('reports an empty job once', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  empty:'))).to.deep.equal([`${FILE}:3:3: jobs.empty: null is invalid; expected an object`]);
    });

    it('reports a job that is a list once', () => {
      expect(problems(yaml('version: 1', 'jobs:', '  list: [1]'))).to.deep.equal([`${FILE}:3:9: jobs.list: [1] is invalid; expected an object`]);
    });

    it('accepts a 63-character key as the id', () => {
      const id = 'a'.repeat(63);
      expect(parseConfig(yaml('version: 1', 'jobs:', `  ${id}:`, '    schedule: "* * * * *"', '    command: x'), FILE, NO_ENV).jobs[0]!.id).to.equal(id);
    });

    it('names an invalid job key, at the key', () => {
      for (const key of ['Bad_ID', 'a'.repeat(64)]) {
        const err = configError(yaml('version: 1', 'jobs:', `  ${key}:`, '    schedule: "* * * * *"', '    command: x'));
        expect(err.problems, key).to.have.length(1);
        expect(err.problems[0]!.path, key).to.equal(`/jobs/${key}`);
        expect(err.problems[0]!.message, key).to.match(new RegExp(`^jobs\\.${key}: `));
        expect([err.problems[0]!.line, err.problems[0]!.col], key).to.deep.equal([3, 3]);
      }
    });

    it('still reports an invalid job key when another job is not a mapping', () => {
      const err = configError(yaml('version: 1', 'jobs:', '  Bad_ID:', '    schedule: "* * * * *"', '    command: x', '  empty:'));
      expect(err.problems.filter((p) => p.line === 3).map((p) => [p.line, p.col])).to.deep.equal([[3, 3]]);
    });

    it('rejects a job key with ".."', () => {
      const err = configError(yaml('version: 1', 'jobs:', '  a..b:', '    schedule: "* * * * *"', '    command: x'));
      expect(err.problems.map((p) => [p.line, p.col])).to.deep.equal([[3, 3]]);
    });
  });
});

describe('loadConfig', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-load-config-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file, resolving data_dir next to it', async () => {
    const file = join(dir, 'watchbell.yaml');
    await writeFile(file, yaml('version: 1', 'daemon:', '  data_dir: ./state', 'jobs:', '  hello:', '    schedule: "@every 90s"', '    command: echo hello'));
    const config = await loadConfig(file, NO_ENV);
    expect(config.file).to.equal(file);
    expect(config.daemon.data_dir).to.equal(join(dir, 'state'));
    expect(config.jobs.map((j) => j.id)).to.deep.equal(['hello']);
  });

  it('reports problems with the path it was given', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, yaml('version: 1', 'jobs:', '  a:', '    schedule: nope', '    command: x'));
    const err = await loadConfig(file, NO_ENV).then(
      () => expect.fail('accepted'),
      (e: unknown) => e as ConfigError,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.message).to.equal(
      `${file}:4:15: jobs.a.schedule: "nope" is not a cron expression: it has 1 field; expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first); ${SCHEDULE_HELP}`,
    );
  });

  it('reports a missing file as a ConfigError at 1:1', async () => {
    const file = join(dir, 'missing.yaml');
    const err = await loadConfig(file).then(
      () => expect.fail('accepted'),
      (e: unknown) => e as ConfigError,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.code).to.equal('CONFIG_INVALID');
    expect(err.message).to.equal(`${file}:1:1: cannot read config: no such file`);
    expect(err.problems).to.deep.equal([{ file, line: 1, col: 1, path: '', message: 'cannot read config: no such file' }]);
  });
});
