/**
 * How an execution's log is kept in PostgreSQL (table log_chunks): the chunks of its log file, in order,
 * each tagged with its stream ('o' stdout, 'e' stderr, 'w' a note of watchbell's own), as the file's
 * index (store/log-file.ts) lists them. The file is what the runner writes and the API reads; the rows are
 * its durable copy, saved when the log closes and read back into a file where none is (another host, a
 * data dir restored without its logs, `watchbell store copy`).
 */
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { indexPath } from '../log-file.js';
import { mkdirInside, WRITE_NO_FOLLOW } from '../safe-fs.js';
import type { Queryable } from './queryable.js';

export interface LogChunk {
  stream: string;
  data: Buffer;
}

/** Bytes of chunks read and inserted at once: a 10 MiB log never sits in memory whole (nor as hex text). */
const BATCH_BYTES = 512 * 1024;

/** The chunks of a log file, from its index, BATCH_BYTES at a time; nothing when there is no file. */
export async function* readLogChunkBatches(path: string): AsyncGenerator<LogChunk[]> {
  let idx: string;
  let file: FileHandle;
  try {
    idx = await readFile(indexPath(path), 'utf8');
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    let batch: LogChunk[] = [];
    let bytes = 0;
    let at = 0;
    for (const line of idx.split('\n')) {
      const m = /^([oew]) (\d+)$/.exec(line);
      if (!m) continue; // a last line cut short: the bytes it would name are not listed either
      const n = Number(m[2]);
      const data = Buffer.alloc(n);
      const { bytesRead } = await file.read(data, 0, n, at);
      if (bytesRead < n) break;
      at += n;
      batch.push({ stream: m[1]!, data });
      bytes += n;
      if (bytes >= BATCH_BYTES) {
        yield batch;
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    await file.close();
  }
}

/** Replaces an execution's stored chunks with those of its log file, a batch per statement (run inside one transaction). */
export async function replaceLogChunks(db: Queryable, schema: string, jobId: string, executionId: string, batches: AsyncIterable<LogChunk[]>): Promise<void> {
  await db.query(`DELETE FROM ${schema}.log_chunks WHERE job_id = $1 AND execution_id = $2`, [jobId, executionId]);
  let seq = 0;
  for await (const chunks of batches) {
    await db.query(
      `INSERT INTO ${schema}.log_chunks (job_id, execution_id, seq, stream, data)
       SELECT $1, $2, s.seq, s.stream, s.data FROM unnest($3::integer[], $4::"char"[], $5::bytea[]) AS s(seq, stream, data)`,
      [jobId, executionId, chunks.map((_, i) => seq + i), chunks.map((c) => c.stream), chunks.map((c) => c.data)],
    );
    seq += chunks.length;
  }
}

/** Writes an execution's stored chunks into a log file (and its index), BATCH_BYTES at a time; false when it has none. */
export async function restoreLogFile(db: Queryable, schema: string, jobId: string, executionId: string, path: string): Promise<boolean> {
  let seq = 0;
  let files: { log: FileHandle; idx: FileHandle } | undefined;
  try {
    for (;;) {
      const { rows } = await db.query<{ seq: number; stream: string; data: Buffer }>(
        `SELECT seq, stream, data FROM ${schema}.log_chunks WHERE job_id = $1 AND execution_id = $2 AND seq >= $3
         ORDER BY seq LIMIT 64`,
        [jobId, executionId, seq],
      );
      if (rows.length === 0) break;
      if (!files) {
        // As the runner's log files (log-file.ts): dirs 0700 checked below the jobs dir, files 0600, no symlink followed.
        const logsDir = dirname(path);
        await mkdirInside(dirname(dirname(logsDir)), logsDir);
        files = { log: await open(`${path}.tmp`, WRITE_NO_FOLLOW, 0o600), idx: await open(`${indexPath(path)}.tmp`, WRITE_NO_FOLLOW, 0o600) };
      }
      await files.log.write(Buffer.concat(rows.map((r) => r.data)));
      await files.idx.write(rows.map((r) => `${r.stream} ${r.data.length}\n`).join(''));
      seq = rows[rows.length - 1]!.seq + 1;
    }
  } finally {
    await files?.log.close();
    await files?.idx.close();
  }
  if (!files) return false;
  // The index first: a reader finding the log finds its index whole.
  await rename(`${indexPath(path)}.tmp`, indexPath(path));
  await rename(`${path}.tmp`, path);
  return true;
}
