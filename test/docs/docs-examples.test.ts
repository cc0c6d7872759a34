/** Runs the examples in docs/api.md against a real daemon, and checks the YAML examples in docs/config.md and README.md. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { ROOT, removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

interface Block {
  lang: string;
  info: string;
  text: string;
  line: number;
}

/** The fenced code blocks of a Markdown file, with their info strings. */
function blocks(file: string): Block[] {
  const out: Block[] = [];
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open || open[1] === '') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    out.push({ lang: open[1]!, info: open[2]!, text: body.join('\n'), line: start + 1 });
  }
  return out;
}

// Values compared exactly; everything else (times, generated ids, counters) only has to be there.
const EXACT = new Set(['message', 'code', 'status', 'name', 'schedule', 'timezone', 'source', 'trigger', 'job_id', 'concurrency', 'catch_up',
  'timeout', 'retries', 'retry_delay', 'retry_count', 'limit', 'offset', 'total', 'history_limit', 'max_output', 'starting_deadline', 'working_directory', 'path']);

function like(actual: unknown, documented: unknown, where: string): void {
  if (documented === null || typeof documented !== 'object') return;
  if (Array.isArray(documented)) {
    expect(actual, where).to.be.an('array');
    if (documented.length > 0) {
      expect((actual as unknown[]).length, `${where} is empty`).to.be.greaterThan(0);
      like((actual as unknown[])[0], documented[0], `${where}[0]`);
    }
    return;
  }
  expect(actual, where).to.be.an('object');
  for (const [k, v] of Object.entries(documented)) {
    const a = (actual as Record<string, unknown>)[k];
    expect(actual, `${where} lacks ${k}`).to.have.property(k);
    if (v === null && k !== 'finished_at' && k !== 'exit_code' && k !== 'reason') expect(a, `${where}.${k}`).to.equal(null);
    else if (EXACT.has(k) && (typeof v === 'string' || typeof v === 'number')) expect(a, `${where}.${k}`).to.equal(v);
    else like(a, v, `${where}.${k}`);
  }
}

/**
 * A documented plain-text answer (Prometheus metrics): comment lines appear as they are, and each sample
 * line's metric name and labels appear in the answer (the value may differ).
 */
function textLike(actual: string, documented: string, where: string): void {
  const answered = actual.split('\n');
  for (const line of documented.split('\n')) {
    if (line.startsWith('#')) {
      expect(answered, `${where}: ${line}`).to.include(line);
      continue;
    }
    const series = line.slice(0, line.lastIndexOf(' ') + 1);
    expect(answered.some((l) => l.startsWith(series)), `${where}: no sample ${series.trim()} in\n${actual}`).to.equal(true);
  }
}

describe('docs examples', function () {
  describe('docs/api.md, executed in order', function () {
    let d: DaemonProcess;
    let executionId = '';
    before(async function () {
      d = await startWithJobs('  {}\n');
    });
    after(async function () {
      await d.stop();
      await removeDir(d.dir);
    });

    const all = blocks('docs/api.md');
    const requests = all.map((b, i) => ({ b, next: all[i + 1] })).filter(({ b }) => b.lang === 'http');
    it('has examples', function () {
      expect(requests.length).to.be.greaterThan(10);
    });
    for (const { b, next } of requests) {
      const [head, ...rest] = b.text.split('\n\n');
      const [requestLine, ...headerLines] = head!.split('\n');
      const [method, path] = requestLine!.split(' ');
      const expected = next?.lang === 'json' && /status=(\d+)/.exec(next.info);
      it(`docs/api.md:${b.line} ${method} ${path}`, async function () {
        const headers = Object.fromEntries(headerLines.map((h) => h.split(/:\s*/, 2) as [string, string]));
        const body = rest.length ? rest.join('\n\n') : undefined;
        const res = await d.api(method!, path!.replace('{execution_id}', executionId), body, headers);
        if (res.body?.data?.execution_id) {
          executionId = res.body.data.execution_id;
          await d.finished(executionId);
        }
        if (expected) {
          expect(res.status, res.text).to.equal(Number(expected[1]));
          like(res.body, JSON.parse(next!.text), 'body');
        } else if (next?.lang === 'text') {
          expect(res.status, res.text).to.be.within(200, 299);
          textLike(res.text, next.text, `docs/api.md:${next.line}`);
        } else {
          expect(res.status, res.text).to.be.within(200, 299);
        }
      });
    }
  });

  for (const file of ['docs/config.md', 'README.md']) {
    describe(`${file} YAML examples`, function () {
      const configs = blocks(file).filter((b) => b.lang === 'yaml' && /^(#.*\n)*version: 1/m.test(b.text));
      for (const b of configs) {
        it(`${file}:${b.line} is a valid config`, function () {
          const env = { PGPASSWORD: 'x', WATCHBELL_ADMIN_TOKEN: 'x', GRAFANA_TOKEN: 'y' };
          const config = parseConfig(b.text, join(ROOT, 'config', 'example.yaml'), { env, displayName: `${file}:${b.line}` });
          expect(config.jobs.length).to.be.greaterThan(0);
        });
      }
    });
  }
});
