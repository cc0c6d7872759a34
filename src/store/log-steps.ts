/**
 * One step's part of an execution's log (`…/log?step=NAME`). The runner writes a note `--- step NAME: ... ---`
 * (log-file.ts's `w` chunks) before each attempt of a step, and when it skips or holds one; a step's part is
 * everything from such a note of its own to the next step's note. Kept apart from log-file.ts so it can move
 * onto any reader that walks the index.
 */
import { open, readFile } from 'node:fs/promises';
import { indexPath, type OutputStream } from './log-file.js';

/** The note that opens a step's part of the log; `name` is a step name (no spaces, no colon). */
export function stepHeader(name: string, what: string): string {
  return `--- step ${name}: ${what} ---`;
}

const HEADER_RE = /^\n?--- step ([^\s:]+): /;

/** The part of the log at `path` that belongs to step `step` (one stream's chunks of it, its last `tail` lines). */
export async function readStepLog(path: string, step: string, options: { stream?: OutputStream; tail?: number } = {}): Promise<string> {
  let index: string;
  try {
    index = await readFile(indexPath(path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const want = options.stream === undefined ? null : options.stream === 'stdout' ? 'o' : 'e';
    // Adjacent chunks of the step are read as one range: a step's output is mostly thousands of small chunks.
    const ranges: Array<{ start: number; end: number }> = [];
    let pos = 0;
    let current: string | null = null;
    for (const line of index.split('\n')) {
      // A last line without its newline is still being written: split() leaves it as the final element.
      const n = Number(line.slice(2));
      if (line.length < 3 || !Number.isSafeInteger(n) || n < 0 || pos + n > size) break;
      const tag = line[0];
      const start = pos;
      pos += n;
      if (tag === 'w' && n < 4096) {
        const m = HEADER_RE.exec((await readAt(fh, start, n)).toString('utf8'));
        if (m) current = m[1]!;
      }
      if (current !== step || (want !== null && tag !== want)) continue;
      const last = ranges[ranges.length - 1];
      if (last && last.end === start) last.end = pos;
      else ranges.push({ start, end: pos });
    }
    const parts: Buffer[] = [];
    for (const r of ranges) parts.push(await readAt(fh, r.start, r.end - r.start));
    const text = Buffer.concat(parts).toString('utf8');
    return options.tail === undefined ? text : lastLines(text, Math.floor(options.tail));
  } finally {
    await fh.close();
  }
}

/** readStepLog as chunks (one), as the API sends logs; `step` null: the execution has no such step, nothing. */
export async function* readStepLogChunks(path: string, step: string | null, options: { stream?: OutputStream; tail?: number } = {}): AsyncGenerator<Buffer, void, undefined> {
  if (step === null) return;
  const text = await readStepLog(path, step, options);
  if (text) yield Buffer.from(text);
}

/** The last `n` lines of `text`; a final newline ends the last line rather than starting one. */
export function lastLines(text: string, n: number): string {
  if (n <= 0) return '';
  let pos = text.endsWith('\n') ? text.length - 2 : text.length - 1;
  for (let found = 0; pos >= 0; ) {
    const nl = text.lastIndexOf('\n', pos);
    if (nl < 0) break;
    if (++found === n) return text.slice(nl + 1);
    pos = nl - 1;
  }
  return text;
}

async function readAt(fh: import('node:fs/promises').FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, start);
  return buf.subarray(0, bytesRead);
}
