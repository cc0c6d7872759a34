/**
 * Black-box: the Dockerfile, unchanged, built with `podman build --format docker` on a stand-in for its
 * base (stand-in-base.ts: Debian bookworm with this machine's Node), then run as a user would run it.
 * The `it`s below share one build and, from "starts", one container's life: they run in order.
 *
 * Needs podman (and debootstrap while no stand-in is cached) and Debian's mirror and the npm registry.
 * In CI (CI=true, or WATCHBELL_REQUIRE_CONTAINER_ENGINE=1 from .ci/run) a missing tool or a failed
 * build fails the test; elsewhere a missing tool skips it with one loud line.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../helpers/daemon-process.js';
import { Podman } from './podman.js';
import { CACHE_DIR, standInPath, standInTarball } from './stand-in-base.js';

const REQUIRED = process.env.CI === 'true' || process.env.WATCHBELL_REQUIRE_CONTAINER_ENGINE === '1';
const TOKEN = `image-test-${randomBytes(8).toString('hex')}`;
const UID = '10001';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The config a user mounts: listens beyond loopback, so it has a token. */
function configYaml(port: number): string {
  return `version: 1
daemon:
  listen: 0.0.0.0:${port}
  data_dir: /var/lib/watchbell
  # Short, so \`podman stop\` cancels the running job soon (Docker's own default would be 10 s).
  shutdown_grace: 2s
api:
  tokens:
    - name: admin
      token: \${WATCHBELL_ADMIN_TOKEN}
      scope: admin
jobs:
  sleeper:
    schedule: "@yearly"
    command: echo started; sleep 600
  orphan:
    schedule: "@yearly"
    command: sleep 4 >/dev/null 2>&1 & echo "orphan=$!"
  whereami:
    schedule: "@yearly"
    command: echo "cwd=$(pwd) home=$HOME"; touch ./cwd-probe "$HOME/home-probe" && echo writable
`;
}

/** A config dir the container's uid can read, as a user would mount it (the dir, so edits by rename are seen). */
async function configDir(parent: string, name: string, port: number): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir);
  await writeFile(join(dir, 'watchbell.yaml'), configYaml(port));
  await chmod(dir, 0o755);
  await chmod(join(dir, 'watchbell.yaml'), 0o644);
  return dir;
}

describe('the container image (Dockerfile built with podman on a stand-in base)', function () {
  this.timeout(90_000);
  let podman: Podman;
  let image: string;
  let work: string;
  const volume = `wbi-data-${randomBytes(4).toString('hex')}`;
  let base = '';

  before(async function () {
    // The first run builds the stand-in (debootstrap) and fills the npm cache: minutes, once.
    this.timeout(20 * 60_000);
    const missing = ['podman', ...(existsSync(standInPath()) ? [] : ['debootstrap'])].filter((t) => !which(t));
    if (missing.length) {
      const hint = 'apt-get install -y podman buildah debootstrap runc uidmap';
      if (REQUIRED) throw new Error(`the image test needs ${missing.join(' and ')} (CI): ${hint}`);
      console.warn(`\n!!! SKIPPING the image test: ${missing.join(' and ')} not installed. Run: ${hint} (CI does) !!!\n`);
      this.skip();
    }
    const log = (line: string) => console.log(`      [image] ${line}`);
    podman = await Podman.create();
    work = await mkdtemp('/tmp/wbi-work-');
    const tarball = await standInTarball(log);
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    base = [...new Set([...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!))].join(' ');
    expect(base.split(' '), 'every stage starts from the same base').to.have.length(1);
    let started = Date.now();
    // Under the FROM line's exact name, as a pull would store it, so --pull=never finds it.
    await podman.ok(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'CMD ["node"]', tarball, `docker.io/library/${base}`]);
    log(`stand-in imported as docker.io/library/${base} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // TLS here is re-signed: npm inside the build trusts this machine's CA bundle through a mounted npmrc.
    // npm's cache is kept between runs, as a developer's machine keeps it.
    const mounts: string[] = ['-v', `${join(CACHE_DIR, 'npm')}:/root/.npm`];
    await mkdir(join(CACHE_DIR, 'npm'), { recursive: true });
    const ca = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';
    if (existsSync(ca)) {
      await writeFile(join(work, 'npmrc'), 'cafile=/root/build-ca.crt\n');
      mounts.push('-v', `${ca}:/root/build-ca.crt:ro`, '-v', `${join(work, 'npmrc')}:/root/.npmrc:ro`);
    }
    image = `localhost/watchbell-image-test:${randomBytes(4).toString('hex')}`;
    started = Date.now();
    const build = await podman.run(['build', '--format', 'docker', '--pull=never', '-t', image, ...mounts, ROOT], 15 * 60_000);
    if (build.code !== 0) throw new Error(`podman build failed (${build.code}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
    log(`podman build --format docker: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  after(async function () {
    this.timeout(120_000);
    await podman?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the Dockerfile has no `# syntax=` line and pins a Node line that still gets security fixes', async function () {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).not.to.match(/^#\s*syntax\s*=/im);
    const m = /^node:(\d+)\.\d+\.\d+-bookworm-slim$/.exec(base);
    expect(m, `FROM ${base}: pinned as node:X.Y.Z-bookworm-slim`).to.not.equal(null);
    // 20 reached its end of life on 2026-04-30; 22 is maintained until 2027-04-30, 24 until 2028-04-30.
    expect(Number(m![1])).to.be.oneOf([22, 24]);
    const engines = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).to.include(`^${m![1]}.`);
    expect(engines, 'this machine runs the code on Node 20 too').to.include('^20.');
  });

  it('compiles src/ only, without source maps (tsconfig.build.json), in the build stage', async function () {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const buildStage = dockerfile.split(/^FROM /m)[1]!;
    expect(buildStage).to.match(/^RUN npx tsc -p tsconfig\.build\.json$/m);
    expect(buildStage).not.to.match(/^COPY\s+(test|bench)\b/m);
    const tsconfig = JSON.parse(await readFile(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[]; compilerOptions: { sourceMap?: boolean } };
    expect(tsconfig.include).to.deep.equal(['src/**/*.ts']);
    expect(tsconfig.compilerOptions.sourceMap).to.equal(false);
  });

  it('keeps HEALTHCHECK (docker format) and runs tini -- watchbell daemon as a pinned non-root uid', async function () {
    const [info] = JSON.parse(await podman.ok(['image', 'inspect', image])) as Array<{ Config: Record<string, unknown>; Healthcheck?: { Test: string[] } }>;
    expect(info!.Config.Entrypoint).to.deep.equal(['tini', '--', 'watchbell']);
    expect((info!.Config.Cmd as string[])[0]).to.equal('daemon');
    expect(info!.Config.User).to.equal(`${UID}:${UID}`);
    expect(info!.Healthcheck?.Test.join(' ')).to.include('health-probe');
  });

  it('ships compiled src/ only: no tests, benches or source maps, no npm/npx/corepack; data dir 0700', async function () {
    const script = [
      'for t in npm npx corepack yarn; do command -v $t && echo "HAS $t"; done',
      'ls /usr/local/lib/node_modules 2>/dev/null && echo "HAS global modules"',
      'ls /app/dist',
      'find /app -name "*.map" | head -3',
      'stat -c "data %a %u:%g" /var/lib/watchbell',
      'command -v watchbell tini',
      // The build's steps after tsc ran (the daemon would start without them, only slower).
      'ls /app/dist/src/jobs/standalone | grep -c "\\.cjs$" | sed "s/^/validators /"',
      'head -c 30 /app/dist/src/vendor/koa.js; echo',
    ].join('; ');
    const out = await podman.ok(['run', '--rm', '--entrypoint', 'sh', image, '-c', script]);
    expect(out).not.to.include('HAS ');
    expect(out).not.to.include('.map');
    expect(out, 'ls /app/dist').to.match(/^src\n/m);
    expect(out).not.to.match(/^(test|bench)$/m);
    expect(out).to.include(`data 700 ${UID}:${UID}`);
    expect(out).to.include('/usr/local/bin/watchbell');
    expect(out).to.match(/^validators [1-9]\d*$/m);
    expect(out).to.include('// Bundled by scripts/bundle');
  });

  it('`docker run IMAGE validate FILE` validates a mounted config: exit 0, and 1 naming the problem', async function () {
    const dir = await configDir(work, 'validate', 8080);
    await writeFile(join(dir, 'bad.yaml'), 'version: 1\njobs:\n  x:\n    schedule: "61 * * * *"\n    command: true\n');
    await chmod(join(dir, 'bad.yaml'), 0o644);
    const mount = ['-e', `WATCHBELL_ADMIN_TOKEN=${TOKEN}`, '-v', `${dir}:/etc/watchbell:ro`];
    const good = await podman.run(['run', '--rm', ...mount, image, 'validate', '/etc/watchbell/watchbell.yaml']);
    expect(good.code, good.stderr).to.equal(0);
    const bad = await podman.run(['run', '--rm', ...mount, image, 'validate', '/etc/watchbell/bad.yaml']);
    expect(bad.code).to.equal(1);
    expect(bad.stdout + bad.stderr).to.include('bad.yaml:4');
  });

  it('a data dir it cannot write stops it with one clear line, not a stack trace', async function () {
    const dir = await mkdtemp(join(work, 'root-owned-'));
    const r = await podman.run(['run', '--rm', '-e', `WATCHBELL_ADMIN_TOKEN=${TOKEN}`, '-v', `${dir}:/var/lib/watchbell`, image]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`data dir /var/lib/watchbell is not writable by uid:gid ${UID}:${UID}`);
    expect(r.stderr).not.to.match(/^\s+at /m);
  });

  describe('one container: run, probe, stop, and its data in a new container', function () {
    let name: string;
    let url: string;
    let sleeperExecution = '';
    const api = async (method: string, path: string): Promise<{ status: number; body: any; text: string }> => {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text };
    };
    const runToEnd = async (job: string): Promise<{ eid: string; log: string }> => {
      const run = await api('POST', `/api/v1/jobs/${job}/run`);
      expect(run.status, run.text).to.equal(202);
      const eid = run.body.data.execution_id as string;
      const deadline = Date.now() + 30_000;
      while ((await api('GET', `/api/v1/jobs/${job}/executions/${eid}`)).body.data.finished_at === null) {
        if (Date.now() > deadline) throw new Error(`${job} did not finish`);
        await sleep(100);
      }
      return { eid, log: (await api('GET', `/api/v1/jobs/${job}/executions/${eid}/log?stream=stdout`)).text };
    };

    /** Starts a container of the image on `port`, published on a free loopback port; resolves once /health answers. */
    async function start(port: number, dirName: string): Promise<void> {
      name = `wbi-${randomBytes(4).toString('hex')}`;
      const dir = await configDir(work, dirName, port);
      await podman.ok(['run', '-d', '--name', name, '-e', `WATCHBELL_ADMIN_TOKEN=${TOKEN}`, '-p', `127.0.0.1::${port}`,
        '-v', `${dir}:/etc/watchbell:ro`, '-v', `${volume}:/var/lib/watchbell`, image]);
      const published = (await podman.ok(['port', name, `${port}/tcp`])).trim().split('\n')[0]!;
      url = `http://${published}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const status = await fetch(`${url}/health`).then((r) => r.status, () => 0);
        if (status === 200) return;
        if (Date.now() > deadline) throw new Error(`/health never answered 200 at ${url}: ${(await podman.run(['logs', name])).stdout}`);
        await sleep(200);
      }
    }

    it('starts with a config on 0.0.0.0 with a token: /health through the published port, the API behind the token', async function () {
      await start(8080, 'config');
      expect((await fetch(`${url}/api/v1/jobs`)).status).to.equal(401);
      expect((await api('GET', '/api/v1/jobs')).status).to.equal(200);
      const logs = await podman.ok(['logs', name]);
      expect(logs).to.include('daemon.started');
      expect(logs, 'the data dir is 0700, so no warning').not.to.include('data_dir.permissions');
    });

    it('serves the dashboard, built into the image', async function () {
      const page = await fetch(`${url}/`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      const html = await page.text();
      const script = /src="(\/[^"]+\.js)"/.exec(html)?.[1];
      expect(script, html).to.be.a('string');
      expect((await fetch(`${url}${script}`)).status).to.equal(200);
    });

    it('`podman healthcheck run` passes', async function () {
      const r = await podman.run(['healthcheck', 'run', name]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
    });

    it('tini is PID 1 and the daemon runs as the non-root uid', async function () {
      expect((await podman.ok(['exec', name, 'cat', '/proc/1/comm'])).trim()).to.equal('tini');
      // The daemon is tini's child: its Uid line in /proc.
      const status = await podman.ok(['exec', name, 'sh', '-c', 'for p in /proc/[0-9]*; do grep -q "^PPid:\t1$" $p/status 2>/dev/null && grep -q watchbell $p/cmdline && grep "^Uid:" $p/status; done']);
      expect(status).to.match(new RegExp(`^Uid:\\s+${UID}\\s+${UID}`, 'm'));
    });

    it('`docker exec C watchbell jobs` lists the jobs, with the token the image documents', async function () {
      const r = await podman.run(['exec', name, 'watchbell', 'jobs']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include('sleeper').and.to.include('orphan');
    });

    it("jobs run in a writable working directory and HOME that are not the data volume", async function () {
      const { log } = await runToEnd('whereami');
      expect(log).to.include('cwd=/home/watchbell home=/home/watchbell');
      expect(log).to.include('writable');
    });

    it('an orphaned process of a job is reaped by tini when it exits (no zombie left)', async function () {
      const { log } = await runToEnd('orphan');
      const pid = /orphan=(\d+)/.exec(log)?.[1];
      expect(pid, log).to.be.a('string');
      const deadline = Date.now() + 30_000;
      let last = '';
      for (;;) {
        const r = await podman.run(['exec', name, 'cat', `/proc/${pid}/status`]);
        if (r.code !== 0) break; // gone: reaped
        last = r.stdout;
        // While it lives its parent is PID 1: the job's shell that started it has exited.
        if (!/^State:\s+Z/m.test(last)) expect(last).to.match(/^PPid:\s+1$/m);
        if (Date.now() > deadline) throw new Error(`process ${pid} was not reaped within 30 s:\n${last}`);
        await sleep(250);
      }
    });

    it('`podman stop` exits 0 and a running job is recorded cancelled', async function () {
      const run = await api('POST', '/api/v1/jobs/sleeper/run');
      const eid = run.body.data.execution_id as string;
      const deadline = Date.now() + 30_000;
      while (!(await api('GET', `/api/v1/jobs/sleeper/executions/${eid}/log`)).text.includes('started')) {
        if (Date.now() > deadline) throw new Error('sleeper never started');
        await sleep(100);
      }
      const stop = await podman.run(['stop', '-t', '45', name]);
      expect(stop.code, stop.stderr).to.equal(0);
      expect((await podman.ok(['inspect', name, '--format', '{{.State.ExitCode}}'])).trim()).to.equal('0');
      expect(await podman.ok(['logs', name])).to.include('daemon.stopped');
      sleeperExecution = eid;
    });

    it('after `rm`, a new container on the same volume has the data, and its healthcheck follows a moved port', async function () {
      expect(sleeperExecution, 'the stop test ran').to.not.equal('');
      await podman.ok(['rm', name]);
      await start(8181, 'config-8181');
      const e = await api('GET', `/api/v1/jobs/sleeper/executions/${sleeperExecution}`);
      expect(e.status, e.text).to.equal(200);
      expect(e.body.data.status).to.equal('cancelled');
      const r = await podman.run(['healthcheck', 'run', name]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      await podman.run(['stop', '-t', '45', name]);
    });
  });
});
