/**
 * Which step a part of an execution's log belongs to (`…/log?step=NAME`). The runner writes a note
 * `--- step NAME: ... ---` (log-file.ts's `w` chunks) before each attempt of a step, and when it skips or holds
 * one; a step's part is everything from such a note of its own to the next step's note. The reader
 * (log-reader.ts) walks the index and asks stepOfNote() of each note.
 */

/** The note that opens a step's part of the log; `name` is a step name (no spaces, no colon). */
export function stepHeader(name: string, what: string): string {
  return `--- step ${name}: ${what} ---`;
}

const HEADER_RE = /^\n?--- step ([^\s:]+): /;

/** The step a note opens the part of, or null for any other note. */
export function stepOfNote(note: Buffer): string | null {
  return HEADER_RE.exec(note.toString('utf8'))?.[1] ?? null;
}
