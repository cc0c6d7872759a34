/**
 * Lean start (issue 16 item 1): what the CLI and an empty daemon cost before they do anything, each against
 * bare `node -e 0` measured in the same run, in interleaved rounds (bare, help, validate, next, daemon; again ...)
 * so a change in the machine's load weighs on all alike; medians of the rounds.
 *
 * - `watchbell --help`, `validate` (the example config) and `next`: spawn -> exit.
 * - an empty daemon (no jobs): spawn -> first 200 from /health, and VmRSS 2 s after that (idle).
 *
 * With a second bin (e.g. main's build: `git archive main | tar -x -C /tmp/base`, a node_modules link, `npm run build`)
 * the same figures are taken of it in the same rounds, as the "before" column.
 *
 *   npm run build && node dist/bench/lean-start.js [rounds, default 7] [baseline bin/watchbell]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRssMiB } from './daemon-process.js';
import { median, printResult, type Figure } from './result-line.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OURS = join(ROOT, 'bin/watchbell');
const ROUNDS = Number(process.argv[2] ?? 7);
const BASELINE = process.argv[3];
const IDLE_MS = 2000;

/** ms from spawn to exit of `node args`; rejects on a non-zero exit. */
function timeExit(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore', cwd: ROOT });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done(performance.now() - t0) : fail(new Error(`node ${args.join(' ')} exited ${code}`))));
  });
}

/** An empty daemon: ms from spawn to the first 200 from /health, and its VmRSS after IDLE_MS idle. */
async function daemonStart(bin: string): Promise<{ healthMs: number; rssMiB: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-lean-'));
  const config = join(dir, 'watchbell.yaml');
  await writeFile(config, 'version: 1\ndaemon:\n  listen: 127.0.0.1:0\n  data_dir: ./data\njobs: {}\n');
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'daemon', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir });
  try {
    const url = await new Promise<string>((done, fail) => {
      let buffer = '';
      child.once('exit', (code) => fail(new Error(`daemon exited ${code} before it listened`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const m = /"event":"daemon\.started"[^\n]*"url":"([^"]+)"/.exec(buffer);
        if (m) done(m[1]!);
      });
    });
    let healthMs = NaN;
    while (!Number.isFinite(healthMs)) {
      const res = await fetch(`${url}/health`).catch(() => undefined);
      await res?.arrayBuffer();
      if (res?.ok) healthMs = performance.now() - t0;
      else await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { healthMs, rssMiB: await readRssMiB(child.pid!) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

/** Peak RSS of bare node, MiB: VmHWM of `node -e` reading its own status. */
function bareNodeRssMiB(): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', fail);
    child.on('exit', () => done(Number(/^VmRSS:\s+(\d+)/m.exec(out)?.[1] ?? NaN) / 1024));
  });
}

interface Sample { help: number; validate: number; next: number; healthMs: number; rssMiB: number }

async function sampleOf(bin: string): Promise<Sample> {
  const help = await timeExit([bin, '--help']);
  const validate = await timeExit([bin, 'validate', join(ROOT, 'config/watchbell.yaml')]);
  const next = await timeExit([bin, 'next', '30 2 * * *', '-n', '3']);
  const { healthMs, rssMiB } = await daemonStart(bin);
  return { help, validate, next, healthMs, rssMiB };
}

async function main(): Promise<void> {
  const bins = BASELINE ? { ours: OURS, baseline: resolve(BASELINE) } : { ours: OURS };
  console.log(`lean start: ${ROUNDS} interleaved rounds, node ${process.version}${BASELINE ? `, baseline ${BASELINE}` : ''}`);
  await timeExit(['-e', '0']); // warm the page cache
  const bare: number[] = [];
  const bareRss: number[] = [];
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(bins).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(await timeExit(['-e', '0']));
    bareRss.push(await bareNodeRssMiB());
    for (const [name, bin] of Object.entries(bins)) samples[name]!.push(await sampleOf(bin));
  }
  const node = median(bare);
  const nodeRss = median(bareRss);
  const med = (name: string, key: keyof Sample) => median(samples[name]!.map((s) => s[key]));
  console.log(`bare node -e 0: ${node.toFixed(0)} ms, VmRSS ${nodeRss.toFixed(0)} MiB`);
  for (const name of Object.keys(bins)) {
    console.log(`${name.padEnd(8)} --help ${med(name, 'help').toFixed(0)} ms (${(med(name, 'help') / node).toFixed(2)} x), validate ${med(name, 'validate').toFixed(0)} ms, next ${med(name, 'next').toFixed(0)} ms, ` +
      `empty daemon -> /health ${med(name, 'healthMs').toFixed(0)} ms (${(med(name, 'healthMs') / node).toFixed(2)} x), idle VmRSS ${med(name, 'rssMiB').toFixed(0)} MiB (${(med(name, 'rssMiB') / nodeRss).toFixed(2)} x)`);
  }
  const help = med('ours', 'help');
  const health = med('ours', 'healthMs');
  const rss = med('ours', 'rssMiB');
  const before = (key: keyof Sample, unit: string) => (BASELINE ? `; baseline ${med('baseline', key).toFixed(0)} ${unit}` : '');
  const figures: Figure[] = [
    { what: 'lean start: `watchbell --help` / bare `node -e 0` time', value: help / node, unit: 'ratio', target: '< 2', pass: help / node < 2,
      note: `${help.toFixed(0)} ms vs ${node.toFixed(0)} ms${before('help', 'ms')}; median of ${ROUNDS}` },
    { what: 'lean start: empty daemon spawn -> first /health', value: health, unit: 'ms', target: '< 300', pass: health < 300,
      note: `${(health / node).toFixed(2)} x bare node (${node.toFixed(0)} ms)${before('healthMs', 'ms')}` },
    { what: 'lean start: empty daemon idle VmRSS', value: rss, unit: 'MiB', target: '< 70', pass: rss < 70,
      note: `${(rss / nodeRss).toFixed(2)} x bare node (${nodeRss.toFixed(0)} MiB)${before('rssMiB', 'MiB')}; ${IDLE_MS / 1000} s after the first /health` },
    { what: 'lean start: `watchbell validate` (example config) / bare node time', value: med('ours', 'validate') / node, unit: 'ratio', target: 'report', pass: null,
      note: `${med('ours', 'validate').toFixed(0)} ms${before('validate', 'ms')}` },
    { what: 'lean start: `watchbell next` / bare node time', value: med('ours', 'next') / node, unit: 'ratio', target: 'report', pass: null,
      note: `${med('ours', 'next').toFixed(0)} ms${before('next', 'ms')}` },
  ];
  printResult({ bench: 'lean-start', figures });
}

await main();
