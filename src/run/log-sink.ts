/** Where an attempt's output goes; store/log-file.ts's LogWriter satisfies it. */

/** One log: output chunks tagged with their stream, in arrival order, and notes of our own. */
export interface LogSink {
  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void;
  /** A line written by watchbell itself (retries, timeouts), told apart from the job's output. */
  note(text: string): void;
}
