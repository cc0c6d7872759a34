/**
 * How an execution's log is kept in PostgreSQL (table log_chunks): the chunks of its log file, in order,
 * each tagged with its stream ('o' stdout, 'e' stderr, 'w' a note of watchbell's own), as the file's
 * index (store/log-file.ts) lists them. The file is what the runner writes and the API reads; the rows are
 * its durable copy, saved when the log closes and read back into a file where none is (another host, a
 * data dir restored without its logs, `watchbell store copy`).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { indexPath } from '../log-file.js';
import type { Queryable } from './queryable.js';

export interface LogChunk {
  stream: string;
  data: Buffer;
}

/** The chunks of a log file, from its index; none when there is no file. */
export async function readLogChunks(path: string): Promise<LogChunk[]> {
  let log: Buffer;
  let idx: string;
  try {
    [log, idx] = await Promise.all([readFile(path), readFile(indexPath(path), 'utf8')]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const chunks: LogChunk[] = [];
  let at = 0;
  for (const line of idx.split('\n')) {
    const m = /^([oew]) (\d+)$/.exec(line);
    if (!m) continue; // a last line cut short: the bytes it would name are not listed either
    const n = Number(m[2]);
    if (at + n > log.length) break;
    chunks.push({ stream: m[1]!, data: log.subarray(at, at + n) });
    at += n;
  }
  return chunks;
}

/** Writes a log file and its index from chunks (temp files renamed, so a reader never sees half). */
export async function writeLogFile(path: string, chunks: readonly LogChunk[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const idx = chunks.map((c) => `${c.stream} ${c.data.length}\n`).join('');
  await writeFile(`${indexPath(path)}.tmp`, idx);
  await writeFile(`${path}.tmp`, Buffer.concat(chunks.map((c) => c.data)));
  await rename(`${indexPath(path)}.tmp`, indexPath(path));
  await rename(`${path}.tmp`, path);
}

/** Replaces an execution's stored chunks with `chunks` (one statement each way: delete, then insert all). */
export async function replaceLogChunks(db: Queryable, schema: string, jobId: string, executionId: string, chunks: readonly LogChunk[]): Promise<void> {
  await db.query(`DELETE FROM ${schema}.log_chunks WHERE job_id = $1 AND execution_id = $2`, [jobId, executionId]);
  if (chunks.length === 0) return;
  await db.query(
    `INSERT INTO ${schema}.log_chunks (job_id, execution_id, seq, stream, data)
     SELECT $1, $2, s.seq, s.stream, s.data FROM unnest($3::integer[], $4::"char"[], $5::bytea[]) AS s(seq, stream, data)`,
    [jobId, executionId, chunks.map((_, i) => i), chunks.map((c) => c.stream), chunks.map((c) => c.data)],
  );
}

export async function loadLogChunks(db: Queryable, schema: string, jobId: string, executionId: string): Promise<LogChunk[]> {
  const { rows } = await db.query<{ stream: string; data: Buffer }>(
    `SELECT stream, data FROM ${schema}.log_chunks WHERE job_id = $1 AND execution_id = $2 ORDER BY seq`,
    [jobId, executionId],
  );
  return rows;
}
