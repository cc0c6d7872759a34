/** Jobs from container labels, as pure computation: ids, value conversion, defaults, and problems naming container and label. */
import { expect } from 'chai';
import { jobsFromLabels, type LabelledContainer } from '../../src/config/docker-labels.js';

function container(name: string, labels: Record<string, string>, enabled = true): LabelledContainer {
  return { id: `id-${name}`, name, labels: enabled ? { 'watchbell.enabled': 'true', ...labels } : labels };
}

const tz = { timezone: 'Europe/Berlin' };

describe('config/docker-labels: jobs from container labels', () => {
  it('turns watchbell.job.NAME.FIELD labels into a job that execs into the container', () => {
    const { jobs, problems } = jobsFromLabels(
      [
        container('Web_1', {
          'watchbell.job.backup.schedule': '0 3 * * *',
          'watchbell.job.backup.command': 'pg_dump db > /backups/db.sql',
          'watchbell.job.backup.retries': '3',
          'watchbell.job.backup.timeout': '10m',
          'watchbell.job.backup.tags': 'backup, nightly',
          'watchbell.job.backup.environment.PGHOST': 'localhost',
          'watchbell.job.backup.container.user': 'postgres',
          'other.label': 'ignored',
        }),
      ],
      tz,
    );
    expect(problems).to.deep.equal([]);
    expect(jobs).to.have.length(1);
    const [job] = jobs;
    expect(job!.id).to.equal('web_1.backup');
    expect(job!.where).to.equal('labels of container Web_1');
    expect(job!.spec).to.include({ name: 'web_1.backup', schedule: '0 3 * * *', timezone: 'Europe/Berlin', retries: 3, timeout: 600 });
    expect(job!.spec.tags).to.deep.equal(['backup', 'nightly']);
    expect(job!.spec.environment).to.deep.equal({ PGHOST: 'localhost' });
    expect(job!.spec.container).to.deep.equal({ exec: 'Web_1', user: 'postgres', working_dir: null });
  });

  it('runs a new container when the labels name an image, and takes JSON arrays', () => {
    const { jobs } = jobsFromLabels(
      [container('app', { 'watchbell.job.report.schedule': '@daily', 'watchbell.job.report.container.image': 'alpine:3.20', 'watchbell.job.report.command': '["sh", "-c", "echo hi"]' })],
      tz,
    );
    expect(jobs[0]!.spec.command).to.deep.equal(['sh', '-c', 'echo hi']);
    expect(jobs[0]!.spec.container).to.deep.equal({ image: 'alpine:3.20', pull: 'missing', user: null, network: null, volumes: [], working_dir: null });
  });

  it('ignores containers without watchbell.enabled=true', () => {
    expect(jobsFromLabels([container('app', { 'watchbell.job.x.schedule': '@daily', 'watchbell.job.x.command': 'true' }, false)], tz)).to.deep.equal({ jobs: [], problems: [] });
  });

  it('reports each bad label with the container and the label, and keeps the other jobs', () => {
    const { jobs, problems } = jobsFromLabels(
      [
        container('web', {
          'watchbell.job.bad.schedule': 'every tuesday',
          'watchbell.job.bad.command': 'true',
          'watchbell.job.bad.retries': 'lots',
          'watchbell.job.nocmd.schedule': '@daily',
          'watchbell.job.odd': 'x',
          'watchbell.job.ided.id': 'mine',
          'watchbell.job.ided.schedule': '@daily',
          'watchbell.job.ided.command': 'true',
          'watchbell.job.good.schedule': '@daily',
          'watchbell.job.good.command': 'true',
        }),
      ],
      tz,
    );
    expect(jobs.map((j) => j.id)).to.deep.equal(['web.good']);
    expect(problems.map((p) => p.message)).to.deep.equal([
      'container web: label watchbell.job.odd: expected watchbell.job.<job name>.<field>, e.g. watchbell.job.backup.schedule',
      'container web: label watchbell.job.ided.id: cannot be set by a label: the id of a label job is <container name>.<job name>',
      'container web: label watchbell.job.bad.retries: "lots" is invalid; expected an integer from 0 to 100',
      'container web: label watchbell.job.bad.schedule: "every tuesday" is not a cron expression: it has 2 fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first); expected a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant',
      'container web: label watchbell.job.nocmd.command: is required (or steps); expected a command, or steps: a list of steps',
    ]);
    expect(problems.every((p) => p.container === 'web')).to.equal(true);
  });

  it('refuses an id that is too long, and the second of two containers whose ids clash', () => {
    const long = 'c'.repeat(60);
    const { jobs, problems } = jobsFromLabels(
      [
        container(long, { 'watchbell.job.job.schedule': '@daily', 'watchbell.job.job.command': 'true' }),
        container('App', { 'watchbell.job.x.schedule': '@daily', 'watchbell.job.x.command': 'true' }),
        container('app', { 'watchbell.job.x.schedule': '@daily', 'watchbell.job.x.command': 'true' }),
      ],
      tz,
    );
    expect(jobs.map((j) => j.id)).to.deep.equal(['app.x']);
    expect(problems.map((p) => p.message)).to.deep.equal([
      'container app: label watchbell.job.x: job id app.x is already declared by container App; rename one of the containers',
      `container ${long}: label watchbell.job.job: job id "${long}.job" (<container name>.<job name>) is invalid: expected at most 63 lowercase letters, digits, "_", "." or "-"; shorten the container name or the job name`,
    ]);
  });
});
