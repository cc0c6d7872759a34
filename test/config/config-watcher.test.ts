/** ConfigWatcher: folder watches for --watch, debounced, surviving renames and folders that come and go. */
import { expect } from 'chai';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigWatcher } from '../../src/config/config-watcher.js';

describe('ConfigWatcher', function () {
  let dir: string;
  let watcher: ConfigWatcher | undefined;
  let calls = 0;
  let waiting: (() => void) | undefined;

  /** Resolves at the next callback. */
  const nextChange = () => new Promise<void>((resolve) => (waiting = resolve));

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-watcher-'));
    calls = 0;
    watcher = new ConfigWatcher({
      debounceMs: 150,
      onChange: () => {
        calls++;
        waiting?.();
      },
    });
  });

  afterEach(async function () {
    watcher?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('calls back once for a burst of writes, after they stop', async function () {
    const file = join(dir, 'watchbell.yaml');
    await writeFile(file, 'a');
    watcher!.update({ files: [file], includes: [] });
    const changed = nextChange();
    for (let i = 0; i < 5; i++) await writeFile(file, `version ${i}`);
    await changed;
    expect(calls).to.equal(1);
  });

  it('follows a file replaced by a rename, again and again', async function () {
    const file = join(dir, 'watchbell.yaml');
    await writeFile(file, 'a');
    watcher!.update({ files: [file], includes: [] });
    for (let i = 0; i < 3; i++) {
      const changed = nextChange();
      await writeFile(`${file}.tmp`, `text ${i}`);
      await rename(`${file}.tmp`, file);
      await changed;
    }
    expect(calls).to.equal(3);
  });

  it('sees an included folder that does not exist yet appear, then files in it', async function () {
    const file = join(dir, 'watchbell.yaml');
    await writeFile(file, 'a');
    watcher!.update({ files: [file], includes: [join(dir, 'conf.d/*.yaml')] });
    const created = nextChange();
    await mkdir(join(dir, 'conf.d'));
    await created;
    const added = nextChange();
    await writeFile(join(dir, 'conf.d/a.yaml'), 'jobs:');
    await added;
    expect(watcher!.folders()).to.include(join(dir, 'conf.d'));
  });

  it('watches below the fixed part of a pattern that goes deeper', async function () {
    await mkdir(join(dir, 'teams/a'), { recursive: true });
    watcher!.update({ files: [], includes: [join(dir, 'teams/**/*.yaml')] });
    expect(watcher!.folders()).to.deep.equal([join(dir, 'teams/**')]);
    const changed = nextChange();
    await writeFile(join(dir, 'teams/a/jobs.yaml'), 'jobs:');
    await changed;
  });

  it('keeps watching a folder that was removed and made again', async function () {
    const conf = join(dir, 'conf.d');
    await mkdir(conf);
    watcher!.update({ files: [join(conf, 'a.yaml')], includes: [] });
    const removed = nextChange();
    await rm(conf, { recursive: true });
    await removed;
    const made = nextChange();
    await mkdir(conf);
    await made;
    const written = nextChange();
    await writeFile(join(conf, 'a.yaml'), 'jobs:');
    await written;
  });

  it('stops calling back once closed', async function () {
    const file = join(dir, 'watchbell.yaml');
    await writeFile(file, 'a');
    watcher!.update({ files: [file], includes: [] });
    watcher!.close();
    expect(watcher!.folders()).to.deep.equal([]);
    await writeFile(file, 'b');
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).to.equal(0);
  });
});
