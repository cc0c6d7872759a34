/** Black-box: container steps mixed with command steps, on the test engine (Podman's Docker API, helpers/container-engine.ts). */
import { expect } from 'chai';
import { containerEngine, TEST_IMAGE, type ContainerEngine } from '../helpers/container-engine.js';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const JOBS = `
  mixed:
    environment: {GREETING: hi}
    steps:
      - name: host
        command: echo "on the host"; echo "value=from-host" >> "$WATCHBELL_OUTPUT"
      - name: boxed
        container: {image: ${TEST_IMAGE}, pull: never}
        command: echo "in a container with $GREETING and $WATCHBELL_STEP_HOST_VALUE"; echo "output=\${WATCHBELL_OUTPUT:-none}"
      - name: boxed-fails
        container: {image: ${TEST_IMAGE}, pull: never}
        command: ["sh", "-c", "exit 4"]
      - name: after
        if: failure
        command: echo "host again"
`;

describe('container steps (real engine)', function () {
  this.timeout(90_000);
  let engine: ContainerEngine | null;
  let d: DaemonProcess;

  before(async function () {
    this.timeout(120_000);
    engine = await containerEngine();
    if (!engine) this.skip();
    d = await startDaemon({ config: configText(JOBS), env: { DOCKER_HOST: engine.dockerHost } });
  });
  after(async function () {
    if (!d) return;
    await d.stop();
    await removeDir(d.dir);
  });

  it('runs container steps beside host steps, passing outputs in, and fails on a container step\'s exit code', async function () {
    const run = await d.api('POST', '/api/v1/jobs/mixed/run');
    const id = run.body.data.execution_id as string;
    await d.finished(id, 60_000);
    const e = (await d.api('GET', `/api/v1/jobs/mixed/executions/${id}`)).body.data;
    expect(e.steps.map((s: any) => s.status), JSON.stringify(e.steps)).to.deep.equal(['success', 'success', 'failure', 'success']);
    expect(e.error).to.equal('step boxed-fails: exited with code 4');
    expect(e.exit_code).to.equal(4);
    const boxed = await d.api('GET', `/api/v1/jobs/mixed/executions/${id}/log?step=boxed&stream=stdout`);
    expect(boxed.text).to.equal('in a container with hi and from-host\noutput=none\n');
    const after = await d.api('GET', `/api/v1/jobs/mixed/executions/${id}/log?step=after&stream=stdout`);
    expect(after.text).to.equal('host again\n');
  });
});
