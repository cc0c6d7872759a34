/**
 * Black-box: a token added by a reload leaves jobs' environment as part of applying the reload, not at the
 * next API request (issue 20, item 1). A per-second job prints the variable across a SIGHUP.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { configText, removeDir, startDaemon, type DaemonProcess, type LogLine } from '../helpers/daemon-process.js';

const SECRET = 'newtok-4f1c9a7e2b6d8035';
const JOB = '  printer:\n    schedule: "* * * * * *"\n    command: echo "seen=$${NEWTOK:-none}"\n    history_limit: 100\n';

describe('a reload that adds a token (black-box)', function () {
  let d: DaemonProcess | undefined;
  afterEach(async function () {
    if (!d) return;
    await d.stop();
    await removeDir(d.dir);
    d = undefined;
  });

  it('removes the token variable before any job starts under the new config, with no API request in between', async function () {
    this.timeout(60_000);
    d = await startDaemon({ config: configText(JOB), env: { NEWTOK: SECRET } });
    const daemon = d;
    // Before the reload the variable is the job's (no token uses it): the job really prints it.
    const before = await daemon.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'printer');
    await writeFile(daemon.configFile, configText(JOB, `api:\n  tokens:\n    - name: admin\n      token: \${NEWTOK}\n      scope: admin\n`));
    daemon.proc.kill('SIGHUP');
    const reloaded = await daemon.waitFor((l) => l.event === 'config.reloaded');
    const from = daemon.lines.indexOf(reloaded);
    // Three runs started after the reload was applied, and no request reached the API meanwhile.
    const after: LogLine[] = [];
    await daemon.waitFor((l) => {
      if (daemon.lines.indexOf(l) > from && l.event === 'execution.started' && l.job_id === 'printer') after.push(l);
      return after.length >= 3;
    }, 20_000);
    await Promise.all(after.map((l) => daemon.finished(String(l.execution_id))));

    const auth = { authorization: `Bearer ${SECRET}` };
    const logs = await Promise.all(after.map(async (l) => (await daemon.api('GET', `/api/v1/jobs/printer/executions/${String(l.execution_id)}/log`, undefined, auth)).text));
    const shown = await daemon.api('GET', `/api/v1/jobs/printer/executions/${String(before.execution_id)}/log`, undefined, auth);
    expect(shown.text).to.contain(`seen=${SECRET}`);
    expect(logs).to.have.length(3);
    for (const text of logs) expect(text).to.contain('seen=none').and.not.contain(SECRET);
  });
});
