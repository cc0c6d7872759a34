/** What the API shows of executions while they run, and which execution's log `/tail` reads. */
import { stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { OUTPUT_TAIL_BYTES, type Execution } from '../jobs/execution.js';
import { readLogEnd } from '../store/log-reader.js';

/** The last OUTPUT_TAIL_BYTES of a log as it is now (what `output` holds once the execution ends); '' for none. */
export async function outputSoFar(logPath: string): Promise<string> {
  const size = await fileSize(logPath);
  if (size === 0) return '';
  const bytes = await readLogEnd(logPath, OUTPUT_TAIL_BYTES);
  // A character may be cut at either end: drop stray continuation bytes at the start (decoded as U+FFFD),
  // and keep a character still being written at the end for a later look.
  const text = new StringDecoder('utf8').write(bytes);
  return size > OUTPUT_TAIL_BYTES ? text.replace(/^\uFFFD{1,3}/, '') : text;
}

/** Bytes in a file; 0 when there is none (an execution that has written nothing has no log yet). */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** Executions that never wrote a log: a skipped overlap never started, a queued one has not yet. */
export function cannotHaveOutput(e: Execution): boolean {
  return e.status === 'skipped' || e.status === 'queued';
}
