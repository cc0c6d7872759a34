/** `container:` on a job, through the one validator: defaults, the exclusive image/exec, and messages. */
import { expect } from 'chai';
import { WatchbellError } from '../../src/jobs/errors.js';
import { validateJob } from '../../src/jobs/validate-job.js';

const UTC = { timezone: 'UTC' };
const base = { schedule: '@hourly', command: 'echo hi' };

function messages(input: unknown): string[] {
  try {
    validateJob(input, UTC);
  } catch (err) {
    if (err instanceof WatchbellError && err.details) return err.details.map((d) => d.message);
    throw err;
  }
  return [];
}

describe('jobs/container-spec: container on a job', () => {
  it('is null by default, and null is accepted', () => {
    expect(validateJob(base, UTC).spec.container).to.equal(null);
    expect(validateJob({ ...base, container: null }, UTC).spec.container).to.equal(null);
  });

  it('fills the defaults of a new container', () => {
    expect(validateJob({ ...base, container: { image: 'alpine:3.20' } }, UTC).spec.container).to.deep.equal({
      image: 'alpine:3.20', pull: 'missing', user: null, network: null, volumes: [], working_dir: null,
    });
  });

  it('keeps every key given', () => {
    const container = { image: 'alpine', pull: 'always', user: '1000:1000', network: 'none', volumes: ['/srv:/data:ro', 'cache:/cache'], working_dir: '/data' };
    expect(validateJob({ ...base, container }, UTC).spec.container).to.deep.equal(container);
  });

  it('takes exec with user and working_dir', () => {
    expect(validateJob({ ...base, container: { exec: 'web', user: 'www-data' } }, UTC).spec.container).to.deep.equal({ exec: 'web', user: 'www-data', working_dir: null });
  });

  it('validates a stored job again unchanged (an update keeps its container)', () => {
    const first = validateJob({ ...base, container: { image: 'alpine' } }, UTC).spec;
    expect(validateJob({ timeout: 5 }, { ...UTC, existing: first }).spec.container).to.deep.equal(first.container);
  });

  it('needs exactly one of image and exec', () => {
    expect(messages({ ...base, container: {} })).to.deep.equal([
      'container: needs image (run the command in a new container of that image) or exec (run it in the running container of that name)',
    ]);
    expect(messages({ ...base, container: { image: 'a', exec: 'b' } })).to.deep.equal([
      'container: has both image and exec; give image to run a new container, or exec to run in a running container',
    ]);
  });

  it('refuses keys of a new container with exec', () => {
    expect(messages({ ...base, container: { exec: 'web', network: 'host' } })).to.deep.equal([
      'container.network: only applies to a new container (with image); remove it, or use image instead of exec',
    ]);
  });

  it('says what each key accepts', () => {
    expect(messages({ ...base, container: { image: 'a', pull: 'sometimes' } })).to.deep.equal(['container.pull: "sometimes" is invalid; expected one of "always", "missing", "never"']);
    expect(messages({ ...base, container: { image: 'a', volumes: ['/srv'] } })).to.deep.equal([
      'container.volumes.0: "/srv" is invalid; expected a list of "SOURCE:TARGET" or "SOURCE:TARGET:OPTIONS" with an absolute TARGET, e.g. "/srv/backups:/backups:rw"',
    ]);
    expect(messages({ ...base, container: { image: 'a', working_dir: 'data' } })).to.deep.equal([
      'container.working_dir: "data" is not an absolute path; expected an absolute path inside the container',
    ]);
    expect(messages({ ...base, container: { image: 'a', colour: 'red' } })[0]).to.match(/^container\.colour: unknown field; expected one of image, pull, exec, user, network, volumes, working_dir$/);
  });

  it('refuses the host-only fields on a container job, pointing at the container ones', () => {
    expect(messages({ ...base, container: { image: 'a' }, user: 'root', working_directory: '/tmp' })).to.deep.equal([
      'user: runs a host command as another user, and this job runs in a container; use container.user instead',
      'working_directory: is a folder on the host, and this job runs in a container; use container.working_dir instead',
    ]);
  });
});
