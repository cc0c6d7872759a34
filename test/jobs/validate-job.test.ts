import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { WatchbellError, type FieldError } from '../../src/jobs/errors.js';
import { JOB_DEFAULTS, type JobSpec } from '../../src/jobs/job.js';
import { maskEnvironment, SECRET_MASK, validateJob, type ValidateJobOptions } from '../../src/jobs/validate-job.js';

const UTC: ValidateJobOptions = { timezone: 'UTC' };
const minimal = { schedule: '* * * * *', command: 'true' };

const DURATION_HELP = 'integer seconds or a string such as "90s", "5m", "1h30m"';
const SCHEDULE_HELP = 'expected a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant';

/** The WatchbellError validateJob throws for `input`. */
function rejection(input: unknown, options: ValidateJobOptions = UTC): WatchbellError {
  try {
    validateJob(input, options);
  } catch (err) {
    expect(err).to.be.instanceOf(WatchbellError);
    expect((err as WatchbellError).code).to.equal('VALIDATION_FAILED');
    return err as WatchbellError;
  }
  return expect.fail(`${JSON.stringify(input)} was accepted`);
}

function details(input: unknown, options: ValidateJobOptions = UTC): FieldError[] {
  return rejection(input, options).details ?? [];
}

describe('validateJob', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-validate-job-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('defaults', () => {
    it('fills every JOB_DEFAULTS field', () => {
      const { spec, id, status } = validateJob(minimal, UTC);
      expect(spec).to.deep.equal({
        name: '',
        schedule: '* * * * *',
        timezone: 'UTC',
        command: 'true',
        tags: [],
        timeout: 3600,
        retries: 0,
        retry_delay: 60,
        environment: {},
        working_directory: null,
        concurrency: 'forbid',
        catch_up: 'none',
        starting_deadline: 3600,
        history_limit: 100,
        max_output: 10 * 1024 * 1024,
        user: null,
        notify: [],
        container: null,
      });
      expect(id).to.equal(undefined);
      expect(status).to.equal(undefined);
    });

    it('takes each default from JOB_DEFAULTS', () => {
      const { spec } = validateJob(minimal, UTC);
      for (const [field, value] of Object.entries(JOB_DEFAULTS)) {
        expect(spec[field as keyof JobSpec], field).to.deep.equal(value);
      }
    });

    it("uses the daemon's timezone for jobs that set none", () => {
      expect(validateJob(minimal, { timezone: 'Europe/Berlin' }).spec.timezone).to.equal('Europe/Berlin');
      expect(validateJob({ ...minimal, timezone: 'Asia/Tokyo' }, { timezone: 'Europe/Berlin' }).spec.timezone).to.equal('Asia/Tokyo');
    });

    it('does not share default arrays and maps between jobs', () => {
      const a = validateJob(minimal, UTC).spec;
      a.tags.push('x');
      a.environment.X = '1';
      const b = validateJob(minimal, UTC).spec;
      expect(b.tags).to.deep.equal([]);
      expect(b.environment).to.deep.equal({});
      expect(JOB_DEFAULTS.tags).to.deep.equal([]);
    });

    it('merges `defaults` under the job, the job winning', () => {
      const defaults = { timeout: '1h30m', retries: 2, concurrency: 'allow', timezone: 'America/New_York', tags: ['d'] };
      const { spec } = validateJob({ ...minimal, timeout: '5m', tags: ['job'] }, { timezone: 'UTC', defaults });
      expect(spec.timeout).to.equal(300);
      expect(spec.tags).to.deep.equal(['job']);
      expect(spec.retries).to.equal(2);
      expect(spec.concurrency).to.equal('allow');
      // `defaults.timezone` wins over the daemon's.
      expect(spec.timezone).to.equal('America/New_York');
      expect(spec.retry_delay).to.equal(60);
    });

    it('uses the id as the name only when the input has an id and no name', () => {
      expect(validateJob({ ...minimal, id: 'nightly' }, UTC).spec.name).to.equal('nightly');
      expect(validateJob({ ...minimal, id: 'nightly', name: 'Nightly run' }, UTC).spec.name).to.equal('Nightly run');
    });

    it('returns id and status (active or paused) when given', () => {
      const v = validateJob({ ...minimal, id: 'ok-id', status: 'paused' }, UTC);
      expect(v.id).to.equal('ok-id');
      expect(v.status).to.equal('paused');
      expect(validateJob({ ...minimal, status: 'active' }, UTC).status).to.equal('active');
    });
  });

  describe('normalization', () => {
    it('turns durations into integer seconds', () => {
      const { spec } = validateJob({ ...minimal, timeout: ' 90s ', retry_delay: '5m', starting_deadline: '1d' }, UTC);
      expect(spec.timeout).to.equal(90);
      expect(spec.retry_delay).to.equal(300);
      expect(spec.starting_deadline).to.equal(86400);
      const ints = validateJob({ ...minimal, timeout: 10, retry_delay: 0, starting_deadline: '120' }, UTC).spec;
      expect([ints.timeout, ints.retry_delay, ints.starting_deadline]).to.deep.equal([10, 0, 120]);
    });

    it('converts durations that come from `defaults` too', () => {
      const { spec } = validateJob(minimal, { timezone: 'UTC', defaults: { timeout: '10m', retry_delay: '1m' } });
      expect(spec.timeout).to.equal(600);
      expect(spec.retry_delay).to.equal(60);
    });

    it('trims the schedule and keeps array commands as arrays', () => {
      const { spec } = validateJob({ schedule: '  @every 90s ', command: ['df', '-h', '.'] }, UTC);
      expect(spec.schedule).to.equal('@every 90s');
      expect(spec.command).to.deep.equal(['df', '-h', '.']);
    });

    it('accepts every schedule kind', () => {
      for (const schedule of ['0 0 * * *', '0 */5 * * * *', '@daily', '@every 1h30m', '2030-06-01T12:00:00', '2030-06-01T12:00:00Z']) {
        expect(validateJob({ ...minimal, schedule }, { timezone: 'Europe/Berlin' }).spec.schedule).to.equal(schedule);
      }
    });
  });

  describe('errors', () => {
    it('reports a missing command (a job without schedule runs only when triggered)', () => {
      expect(details({})).to.deep.equal([
        { path: '/command', message: 'command: is required (or steps); expected a command, or steps: a list of steps' },
      ]);
      expect(validateJob({ command: 'true' }, { timezone: 'UTC' }).spec.schedule).to.equal('@manual');
    });

    it('rejects a body that is not an object', () => {
      expect(details(null)).to.deep.equal([{ path: '', message: 'body: null is invalid; expected an object' }]);
      expect(details([])).to.deep.equal([{ path: '', message: 'body: [] is invalid; expected an object' }]);
      expect(details('x')).to.deep.equal([{ path: '', message: 'body: "x" is invalid; expected an object' }]);
    });

    it('reports every bad field together, with its JSON path', () => {
      const err = rejection({ schedule: '*/0 * * * *', command: '', timeout: '5x', retries: 101, concurrency: 'never', bogus: 1 });
      expect(err.message).to.match(/ \(and 5 more\)$/);
      const byPath = Object.fromEntries((err.details ?? []).map((d) => [d.path, d.message]));
      expect(Object.keys(byPath).sort()).to.deep.equal(['/bogus', '/command', '/concurrency', '/retries', '/schedule', '/timeout']);
      expect(byPath['/bogus']).to.equal(
        'bogus: unknown field; expected one of id, name, schedule, timezone, command, tags, timeout, retries, retry_delay, environment, working_directory, concurrency, catch_up, starting_deadline, history_limit, max_output, user, notify, container, run_on, steps, on_success, on_failure, status',
      );
      expect(byPath['/command']).to.equal('command: "" is invalid; expected a non-empty string, or a non-empty array of strings');
      expect(byPath['/timeout']).to.equal(`timeout: "5x" is invalid; expected a duration of at least 1s: ${DURATION_HELP}`);
      expect(byPath['/retries']).to.equal('retries: 101 is invalid; expected an integer from 0 to 100');
      expect(byPath['/concurrency']).to.equal('concurrency: "never" is invalid; expected one of "forbid", "allow", "replace"');
      expect(byPath['/schedule']).to.equal(`schedule: "*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0; ${SCHEDULE_HELP}`);
    });

    it('takes run_on as a mapping of tag names to strings (absent when empty), and names a bad one', () => {
      expect(validateJob({ ...minimal, run_on: { zone: 'eu-1', gpu: 'yes' } }, UTC).spec.run_on).to.deep.equal({ zone: 'eu-1', gpu: 'yes' });
      expect(validateJob({ ...minimal, run_on: {} }, UTC).spec).to.not.have.property('run_on');
      expect(validateJob(minimal, UTC).spec).to.not.have.property('run_on');
      const [bad] = details({ ...minimal, run_on: { zone: 5 } });
      expect(bad!.path).to.equal('/run_on/zone');
      expect(bad!.message).to.include('run_on');
      expect(details({ ...minimal, run_on: ['zone'] })[0]!.message).to.include('matched against daemon.node_tags');
    });

    it('prefixes paths and labels with `path` for config jobs', () => {
      const found = details(
        { schedule: '@every 90', command: 'x', timeout: 0, retry_delay: '1m1h', working_directory: 'rel/dir' },
        { timezone: 'UTC', path: '/jobs/backup' },
      );
      const byPath = Object.fromEntries(found.map((d) => [d.path, d.message]));
      expect(byPath).to.deep.equal({
        '/jobs/backup/schedule': `jobs.backup.schedule: "@every 90" is not a valid @every schedule: expected a duration such as "@every 90s" or "@every 1h30m"; ${SCHEDULE_HELP}`,
        '/jobs/backup/timeout': `jobs.backup.timeout: 0 is invalid; expected a duration of at least 1s: ${DURATION_HELP}`,
        '/jobs/backup/retry_delay': `jobs.backup.retry_delay: "1m1h" is invalid; expected a duration: ${DURATION_HELP}`,
        '/jobs/backup/working_directory': 'jobs.backup.working_directory: "rel/dir" is not an absolute path; expected an absolute path to an existing directory',
      });
    });

    it('prefixes schema errors too', () => {
      expect(details({ schedule: '* * * * *', command: 'x', bogus: true, retries: -1 }, { timezone: 'UTC', path: '/jobs/a' }).map((d) => d.path).sort())
        .to.deep.equal(['/jobs/a/bogus', '/jobs/a/retries']);
    });

    it('rejects durations that are negative, fractional or out of order', () => {
      for (const timeout of [-1, 1.5, '1m1h', '', '1.5h']) {
        expect(details({ ...minimal, timeout }).map((d) => d.path), JSON.stringify(timeout)).to.deep.equal(['/timeout']);
      }
    });

    it('rejects an unknown time zone', () => {
      expect(details({ ...minimal, timezone: 'Mars/Base' })).to.deep.equal([
        { path: '/timezone', message: 'timezone: "Mars/Base" is not a known time zone; expected an IANA time zone name such as "Europe/Berlin"' },
      ]);
      // The daemon's zone is checked the same way.
      expect(details(minimal, { timezone: 'Mars/Base' }).map((d) => d.path)).to.deep.equal(['/timezone']);
    });

    it('rejects ids with upper case or "..", and statuses other than active and paused', () => {
      expect(details({ ...minimal, id: 'a..b' })).to.deep.equal([
        { path: '/id', message: 'id: "a..b" is invalid; expected a job id: 1..63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit, without ".."' },
      ]);
      expect(details({ ...minimal, id: 'Backup', status: 'completed' })).to.deep.equal([
        { path: '/id', message: 'id: "Backup" is invalid; expected a job id: 1..63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit, without ".."' },
        { path: '/status', message: 'status: "completed" is invalid; expected one of "active", "paused"' },
      ]);
    });

    it('checks tags, history_limit and max_output ranges', () => {
      const byPath = Object.fromEntries(details({ ...minimal, tags: ['a', ''], history_limit: 0, max_output: 10 }).map((d) => [d.path, d.message]));
      expect(byPath).to.deep.equal({
        '/tags/1': 'tags.1: "" is invalid; expected an array of at most 50 strings of 1..64 characters',
        '/history_limit': 'history_limit: 0 is invalid; expected an integer from 1 to 100000',
        '/max_output': 'max_output: 10 is invalid; expected an integer number of bytes from 1024 to 1073741824',
      });
    });

    it('reports a bad environment key and a bad environment value together', () => {
      const paths = details({ ...minimal, environment: { 'BAD-KEY': 'v', OK: 1 } }).map((d) => d.path).sort();
      expect(paths).to.deep.equal(['/environment/BAD-KEY', '/environment/OK']);
    });

    it('never shows environment values in messages', () => {
      const err = rejection({ ...minimal, environment: { 'BAD-KEY': 'v', PGPASSWORD: 's3cret' } });
      expect(err.details).to.have.length(1);
      expect(err.details![0]!.path).to.equal('/environment/BAD-KEY');
      expect(err.details![0]!.message).to.equal('environment.BAD-KEY: the key "BAD-KEY" is invalid; expected a map of variable names (letters, digits, _) to string values (without NUL)');
      expect(err.message).not.to.include('s3cret');
      expect(JSON.stringify(err.details)).not.to.include('s3cret');
    });
  });

  describe('working_directory', () => {
    it('accepts an existing absolute directory', () => {
      expect(validateJob({ ...minimal, working_directory: dir }, UTC).spec.working_directory).to.equal(dir);
      expect(validateJob({ ...minimal, working_directory: null }, UTC).spec.working_directory).to.equal(null);
    });

    it('rejects a relative path', () => {
      expect(details({ ...minimal, working_directory: 'data' })).to.deep.equal([
        { path: '/working_directory', message: 'working_directory: "data" is not an absolute path; expected an absolute path to an existing directory' },
      ]);
    });

    it('rejects a missing directory and a file', async () => {
      const missing = join(dir, 'missing');
      expect(details({ ...minimal, working_directory: missing })).to.deep.equal([
        {
          path: '/working_directory',
          message: `working_directory: ${JSON.stringify(missing)} does not exist or is not a directory; expected an absolute path to an existing directory`,
        },
      ]);
      const file = join(dir, 'file.txt');
      await writeFile(file, 'x');
      expect(details({ ...minimal, working_directory: file }).map((d) => d.path)).to.deep.equal(['/working_directory']);
    });
  });

  describe('updates (`existing`)', () => {
    // Made in before(), not while mocha loads the file: a validateJob bug then fails these tests, not the whole run.
    let existing: JobSpec;
    before(() => {
      existing = validateJob(
        {
          name: 'Backup',
          schedule: '0 0 * * *',
          command: 'pg_dump',
          timeout: '2h',
          tags: ['db'],
          environment: { PGPASSWORD: 's3cret', USER: 'pg' },
        },
        { timezone: 'Europe/Berlin' },
      ).spec;
    });

    it('keeps the value of every field the input leaves out', () => {
      const { spec } = validateJob({ retries: 3 }, { timezone: 'UTC', existing });
      expect(spec).to.deep.equal({ ...existing, retries: 3 });
    });

    it('keeps fields left out when schedule and command are given', () => {
      const { spec } = validateJob({ schedule: '@hourly', command: 'pg_dump', retries: 3 }, { timezone: 'UTC', existing });
      expect(spec).to.deep.equal({ ...existing, schedule: '@hourly', retries: 3 });
      // The stored job's zone and timeout win over the daemon's and the defaults.
      const withDefaults = validateJob({ schedule: '0 0 * * *', command: 'pg_dump' }, { timezone: 'UTC', existing, defaults: { timeout: 60, retries: 5 } });
      expect(withDefaults.spec).to.deep.equal(existing);
    });

    it('keeps the stored value for environment keys sent as the mask, and adds new keys', () => {
      const { spec } = validateJob(
        { schedule: '0 0 * * *', command: 'pg_dump', environment: { PGPASSWORD: SECRET_MASK, USER: 'admin', NEW: 'x' } },
        { timezone: 'UTC', existing },
      );
      expect(spec.environment).to.deep.equal({ PGPASSWORD: 's3cret', USER: 'admin', NEW: 'x' });
    });

    it('replaces the whole environment: keys not sent are dropped', () => {
      const { spec } = validateJob({ schedule: '0 0 * * *', command: 'pg_dump', environment: { USER: SECRET_MASK } }, { timezone: 'UTC', existing });
      expect(spec.environment).to.deep.equal({ USER: 'pg' });
    });

    it('does not change the existing job', () => {
      const before = JSON.stringify(existing);
      validateJob({ schedule: '0 0 * * *', command: 'pg_dump', tags: ['x'], environment: { PGPASSWORD: SECRET_MASK } }, { timezone: 'UTC', existing });
      expect(JSON.stringify(existing)).to.equal(before);
    });
  });
});

describe('maskEnvironment', () => {
  it('replaces every value with ******', () => {
    expect(maskEnvironment({ A: '1', PGPASSWORD: 's3cret' })).to.deep.equal({ A: '******', PGPASSWORD: '******' });
    expect(maskEnvironment({})).to.deep.equal({});
    expect(SECRET_MASK).to.equal('******');
  });

  it('does not change its argument', () => {
    const env = { A: '1' };
    maskEnvironment(env);
    expect(env).to.deep.equal({ A: '1' });
  });
});
