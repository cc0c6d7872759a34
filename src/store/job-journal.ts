/**
 * The journal of one job: `jobs/<jobId>/journal.jsonl`, one JSON object a line, applied in order.
 *
 *   {"state": {...}}           the job's runtime state (paused, completed, last_slot), whole
 *   {"put": {...execution}}    an execution, added or replaced (same id)
 *   {"drop": ["exec-...", ...]} executions trimmed from the history
 *
 * Recording an execution appends one line instead of rewriting the job's whole history, so its cost
 * does not grow with history_limit. Once the file holds about twice the lines its contents need, it
 * is rewritten compacted (one `state` line, one `put` per execution) to a temp file and renamed over
 * the old one. A line torn by a crash mid-append can only be the last one and was never
 * acknowledged: it is ignored, and the store rewrites the file compacted before appending again.
 */
import type { Execution } from '../jobs/execution.js';
import type { JobState } from './store.js';

export const JOURNAL_FILE = 'journal.jsonl';

/** What a journal holds once its lines are applied. */
export interface JournalContents {
  state: JobState;
  /** By id, in no particular order. */
  executions: Map<string, Execution>;
  /** Lines in the file, the torn one included. */
  lines: number;
  /** The last line was cut short by a crash. */
  torn: boolean;
}

/** Thrown for a line that is not a journal entry; `line` is 1-based. */
export class JournalError extends Error {
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

/** Applies the lines of a journal file's text. */
export function parseJournal(text: string): JournalContents {
  const out = emptyJournal();
  for (const line of jsonLines(text)) {
    out.lines++;
    if ('torn' in line) out.torn = true;
    else applyEntry(out, line.value, line.lineNo);
  }
  return out;
}

/**
 * The JSON value of each non-blank line of a journal or log, with its 1-based number. Appends end with
 * a newline, so only a last line without one can be torn by a crash: it comes back as `torn`. Any other
 * line that is not JSON throws JournalError.
 */
export function* jsonLines(text: string): Generator<{ lineNo: number; value: unknown } | { lineNo: number; torn: true }> {
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const complete = end !== -1;
    if (!complete) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (!complete) {
        yield { lineNo, torn: true };
        continue;
      }
      throw new JournalError(lineNo, (err as Error).message);
    }
    yield { lineNo, value };
  }
}

/** A journal with nothing in it yet. */
export function emptyJournal(): JournalContents {
  return { state: {}, executions: new Map(), lines: 0, torn: false };
}

/** Applies one parsed line to a journal's contents; throws JournalError for what is not an entry. */
export function applyEntry(out: JournalContents, entry: unknown, lineNo: number): void {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new JournalError(lineNo, 'expected an object with "state", "put" or "drop"');
  }
  const e = entry as { state?: unknown; put?: unknown; drop?: unknown };
  if (e.put !== undefined) {
    const execution = e.put as Execution;
    if (execution === null || typeof execution !== 'object' || typeof execution.id !== 'string') {
      throw new JournalError(lineNo, '"put" must be an execution with an "id"');
    }
    out.executions.set(execution.id, execution);
  } else if (e.drop !== undefined) {
    if (!Array.isArray(e.drop)) throw new JournalError(lineNo, '"drop" must be a list of execution ids');
    for (const id of e.drop) out.executions.delete(id as string);
  } else if (e.state !== undefined) {
    if (e.state === null || typeof e.state !== 'object' || Array.isArray(e.state)) throw new JournalError(lineNo, '"state" must be an object');
    out.state = e.state as JobState;
  } else {
    throw new JournalError(lineNo, 'expected an object with "state", "put" or "drop"');
  }
}

/** The line recording an execution, from its JSON text. */
export function putLine(executionJson: string): string {
  return `{"put":${executionJson}}\n`;
}

/** The line recording the job's state. */
export function stateLine(state: JobState): string {
  return `{"state":${JSON.stringify(state)}}\n`;
}

/** The line recording trimmed executions. */
export function dropLine(ids: readonly string[]): string {
  return `{"drop":${JSON.stringify(ids)}}\n`;
}

/** A journal holding just `state` and `executions` (oldest first), and its line count. */
export function compactedJournal(state: JobState, executions: readonly Execution[]): { text: string; lines: number } {
  const parts = [stateLine(state)];
  for (const e of executions) parts.push(putLine(JSON.stringify(e)));
  return { text: parts.join(''), lines: parts.length };
}

/** Lines a journal may reach before it is compacted: about twice what its contents need, plus slack. */
export function compactionThreshold(executions: number): number {
  return 2 * (executions + 1) + 32;
}
