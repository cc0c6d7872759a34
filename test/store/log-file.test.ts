import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUTPUT_TAIL_BYTES } from '../../src/jobs/execution.js';
import { createLogWriter } from '../../src/store/log-file.js';
import { LogCursor, readLog } from '../../src/store/log-reader.js';

const TRUNCATED = (max: number) => `[watchbell] output truncated: max_output ${max} bytes reached; further output dropped\n`;

describe('log files', () => {
  let dir: string;
  let path: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-log-'));
    path = join(dir, 'logs', 'exec-0000000000000000test.log');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes chunks `[stream, text]` (stream 'w' = a note) to a fresh log and closes it. */
  async function writeLog(chunks: Array<['stdout' | 'stderr' | 'w', string | Buffer]>, maxBytes = 1 << 20) {
    const log = createLogWriter(path, { maxBytes });
    for (const [stream, text] of chunks) {
      if (stream === 'w') log.note(String(text));
      else log.write(stream, text);
    }
    await log.close();
    return log;
  }

  it('keeps interleaved streams in arrival order, and each stream apart', async () => {
    await writeLog([
      ['stdout', 'out 1\n'],
      ['stderr', 'err 1\n'],
      ['stdout', Buffer.from('out 2\n')],
      ['w', '--- attempt 2 of 2 ---'],
      ['stderr', 'err 2\n'],
      ['stdout', 'out 3\n'],
    ]);
    expect(await readLog(path)).to.equal('out 1\nerr 1\nout 2\n--- attempt 2 of 2 ---\nerr 2\nout 3\n');
    expect(await readLog(path, { stream: 'stdout' })).to.equal('out 1\nout 2\nout 3\n');
    expect(await readLog(path, { stream: 'stderr' })).to.equal('err 1\nerr 2\n');
    expect(await readFile(`${path}.idx`, 'utf8')).to.equal('o 6\ne 6\no 6\nw 23\ne 6\no 6\n');
  });

  it('puts a note on a line of its own', async () => {
    await writeLog([['stdout', 'no newline yet'], ['w', '--- attempt 2 of 4 ---'], ['stdout', 'next\n']]);
    expect(await readLog(path)).to.equal('no newline yet\n--- attempt 2 of 4 ---\nnext\n');
    expect(await readLog(path, { stream: 'stdout' })).to.equal('no newline yetnext\n');
  });

  it('reassembles a character split across chunks of one stream', async () => {
    const euro = Buffer.from('€');
    await writeLog([['stdout', euro.subarray(0, 1)], ['stderr', 'x'], ['stdout', euro.subarray(1)]]);
    expect(await readLog(path, { stream: 'stdout' })).to.equal('€');
  });

  it('reads the last N lines, of the whole log or of one stream', async () => {
    await writeLog([['stdout', 'a\nb\n'], ['stderr', 'E1\n'], ['stdout', 'c\nd'], ['stderr', 'E2\n']]);
    expect(await readLog(path, { tail: 2 })).to.equal('c\ndE2\n');
    expect(await readLog(path, { tail: 1 })).to.equal('dE2\n');
    expect(await readLog(path, { tail: 100 })).to.equal('a\nb\nE1\nc\ndE2\n');
    expect(await readLog(path, { tail: 0 })).to.equal('');
    expect(await readLog(path, { stream: 'stdout', tail: 2 })).to.equal('c\nd');
    expect(await readLog(path, { stream: 'stderr', tail: 1 })).to.equal('E2\n');
  });

  it('counts lines the way tail(1) does', async () => {
    const cases: Array<[string, number, string]> = [
      ['a\nb\nc\n', 2, 'b\nc\n'],
      ['a\nb\nc', 2, 'b\nc'],
      ['a\n\n', 1, '\n'],
      ['\n\n\n', 2, '\n\n'],
      ['one line', 3, 'one line'],
    ];
    for (const [text, n, want] of cases) {
      await rm(dir, { recursive: true, force: true });
      await writeLog([['stdout', text]]);
      expect(await readLog(path, { tail: n }), JSON.stringify(text)).to.equal(want);
      expect(await readLog(path, { stream: 'stdout', tail: n }), JSON.stringify(text)).to.equal(want);
    }
  });

  it('reads the tail of a 10 MiB log from its end', async () => {
    const log = createLogWriter(path, { maxBytes: 16 << 20 });
    let n = 0;
    while (log.bytesWritten < 10 << 20) {
      let chunk = '';
      for (let i = 0; i < 1000; i++) chunk += `line ${n++} ${'x'.repeat(50)}\n`;
      log.write(n % 3 === 0 ? 'stderr' : 'stdout', chunk);
    }
    await log.close();
    const tail = await readLog(path, { tail: 3 });
    expect(tail.split('\n').map((l) => l.split(' ')[1])).to.deep.equal([String(n - 3), String(n - 2), String(n - 1), undefined]);
    expect((await readLog(path)).length).to.equal(log.bytesWritten);
    const stdoutTail = await readLog(path, { stream: 'stdout', tail: 2 });
    expect(stdoutTail.endsWith('\n')).to.equal(true);
    expect(stdoutTail.split('\n')).to.have.length(3);
  });

  it('reads a missing log as empty', async () => {
    expect(await readLog(join(dir, 'nope.log'))).to.equal('');
    expect(await readLog(join(dir, 'nope.log'), { stream: 'stderr', tail: 5 })).to.equal('');
  });

  it('writes no file for a job that prints nothing, and such a log reads as empty', async () => {
    await writeLog([]);
    expect(await stat(path).then(() => true, () => false)).to.equal(false);
    expect(await readLog(path)).to.equal('');
    expect(await readLog(path, { stream: 'stderr', tail: 5 })).to.equal('');
  });

  describe('max_output', () => {
    it('keeps max_output bytes, then one truncation line, and the dropped count at close', async () => {
      const log = await writeLog([
        ['stdout', 'a'.repeat(600)],
        ['stderr', 'b'.repeat(600)],
        ['stdout', 'c'.repeat(100)],
        ['w', '--- attempt 2 of 2 ---'],
        ['stdout', 'd'.repeat(100)],
      ], 1024);
      expect(log.truncated).to.equal(true);
      expect(log.bytesWritten).to.equal(1024);
      expect(log.bytesDropped).to.equal(176 + 100 + 100);
      const text = await readLog(path);
      expect(text).to.equal(
        `${'a'.repeat(600)}${'b'.repeat(424)}\n${TRUNCATED(1024)}--- attempt 2 of 2 ---\n[watchbell] 376 bytes of output dropped\n`,
      );
      expect(text.split('output truncated')).to.have.length(2);
      expect(await readLog(path, { stream: 'stderr' })).to.equal('b'.repeat(424));
      expect(log.tail().endsWith('[watchbell] 376 bytes of output dropped\n')).to.equal(true);
    });

    it('does not cut a character in two at the cap', async () => {
      const log = await writeLog([['stdout', `${'a'.repeat(1023)}€`]], 1024);
      expect(log.bytesWritten).to.equal(1023);
      expect(await readLog(path, { stream: 'stdout' })).to.equal('a'.repeat(1023));
    });

    it('writes nothing more than the truncation line when the first chunk is already too big', async () => {
      await writeLog([['stdout', 'x'.repeat(5000)]], 1024);
      expect(await readLog(path)).to.equal(`${'x'.repeat(1024)}\n${TRUNCATED(1024)}[watchbell] 3976 bytes of output dropped\n`);
    });
  });

  describe('tail()', () => {
    it('holds the last 4 KiB of the combined log without splitting a character', async () => {
      const log = createLogWriter(path, { maxBytes: 1 << 20 });
      log.write('stdout', 'x');
      for (let i = 0; i < 300; i++) log.write(i % 2 ? 'stdout' : 'stderr', 'é'.repeat(17));
      const tail = log.tail();
      await log.close();
      expect(Buffer.byteLength(tail)).to.be.at.most(OUTPUT_TAIL_BYTES);
      expect(Buffer.byteLength(tail)).to.be.at.least(OUTPUT_TAIL_BYTES - 3);
      expect(tail).to.not.include('\uFFFD');
      expect((await readLog(path)).endsWith(tail)).to.equal(true);
    });

    it('leaves out a character whose bytes have not all arrived', async () => {
      const log = createLogWriter(path, { maxBytes: 1 << 20 });
      const euro = Buffer.from('€');
      log.write('stdout', Buffer.concat([Buffer.from('price: '), euro.subarray(0, 2)]));
      expect(log.tail()).to.equal('price: ');
      log.write('stdout', euro.subarray(2));
      expect(log.tail()).to.equal('price: €');
      await log.close();
    });

    it('keeps a big chunk\'s last 4 KiB', async () => {
      const log = createLogWriter(path, { maxBytes: 1 << 20 });
      log.write('stdout', `${'a'.repeat(10000)}END`);
      expect(log.tail()).to.equal(`${'a'.repeat(OUTPUT_TAIL_BYTES - 3)}END`);
      await log.close();
    });
  });

  it('ignores writes after close, and close() is idempotent', async () => {
    const log = createLogWriter(path, { maxBytes: 1024 });
    log.write('stdout', 'kept\n');
    await log.close();
    log.write('stdout', 'late\n');
    log.note('late note');
    await log.close();
    expect(await readLog(path)).to.equal('kept\n');
  });

  it('reports a write error at close instead of crashing', async () => {
    await mkdir(join(dir, 'd.log'));
    const log = createLogWriter(join(dir, 'd.log'), { maxBytes: 1024 });
    log.write('stdout', 'x');
    let error: unknown;
    await log.close().catch((err: unknown) => (error = err));
    expect((error as NodeJS.ErrnoException).code).to.equal('EISDIR');
  });

  describe('LogCursor (follow)', () => {
    async function drain(cursor: LogCursor): Promise<string> {
      const chunks: Buffer[] = [];
      // A chunk is valid until the next is asked for: kept ones are copied.
      for await (const chunk of cursor.readAvailable()) chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks).toString('latin1');
    }

    it('reads what was appended since its last read', async () => {
      await writeLog([['stdout', 'one\n'], ['stderr', 'two\n']]);
      const cursor = new LogCursor(path);
      expect(await drain(cursor)).to.equal('one\ntwo\n');
      const more = createLogWriter(path, { maxBytes: 1024 });
      more.write('stdout', 'three\n');
      await more.close();
      expect(await drain(cursor)).to.equal('three\n');
      expect(await drain(cursor)).to.equal('');
    });

    it('follows one stream', async () => {
      await writeLog([['stdout', 'one\n'], ['stderr', 'two\n']]);
      const out = new LogCursor(path, 'stdout');
      expect(await drain(out)).to.equal('one\n');
      const more = createLogWriter(path, { maxBytes: 1024 });
      more.write('stderr', 'three\n');
      more.write('stdout', 'four\n');
      await more.close();
      expect(await drain(out)).to.equal('four\n');
      expect(await drain(new LogCursor(path, 'stderr'))).to.equal('two\nthree\n');
    });

    it('passes bytes through undecoded, a character cut between reads included', async () => {
      const euro = Buffer.from('€');
      await writeLog([['stdout', Buffer.concat([Buffer.from('ab'), euro.subarray(0, 1)])]]);
      const cursor = new LogCursor(path, 'stdout');
      const chunks: Buffer[] = [];
      for await (const c of cursor.readAvailable()) chunks.push(Buffer.from(c));
      const more = createLogWriter(path, { maxBytes: 1024 });
      more.write('stdout', Buffer.from([euro[1]!, euro[2]!, 0xff, 0x00]));
      await more.close();
      for await (const c of cursor.readAvailable()) chunks.push(Buffer.from(c));
      expect(Buffer.concat(chunks)).to.deep.equal(Buffer.concat([Buffer.from('ab€'), Buffer.from([0xff, 0x00])]));
    });

    it('reads in chunks of at most 64 KiB', async () => {
      await writeLog([['stdout', 'x'.repeat(200_000)], ['stderr', 'y'.repeat(100)], ['stdout', 'z'.repeat(70_000)]]);
      for (const stream of [undefined, 'stdout'] as const) {
        const sizes: number[] = [];
        for await (const c of new LogCursor(path, stream).readAvailable()) sizes.push(c.length);
        expect(Math.max(...sizes)).to.be.at.most(64 * 1024);
        expect(sizes.reduce((a, b) => a + b, 0)).to.equal(stream ? 270_000 : 270_100);
      }
    });
  });
});
