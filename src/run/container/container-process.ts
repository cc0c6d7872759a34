/** What the engine runs for a job (argv, environment), and where its output goes. */
import type { LogSink } from '../log-sink.js';

/** The argv a job's command becomes: a string runs under `/bin/sh -c`, as on the host. */
export function commandArgv(command: string | string[]): string[] {
  return typeof command === 'string' ? ['/bin/sh', '-c', command] : [...command];
}

/** `KEY=value` entries, as the engine takes an environment. */
export function environmentList(environment: Record<string, string>): string[] {
  return Object.entries(environment).map(([k, v]) => `${k}=${v}`);
}

/**
 * Writes output chunks to the log from stream callbacks, where a throw would be lost: the first error of the
 * sink (a broken disk) is kept, and rethrow() throws it once the process is over, as command.ts does.
 */
export function sinkWriter(log: LogSink): { write: (stream: 'stdout' | 'stderr', chunk: Buffer) => void; rethrow: () => void } {
  let error: unknown;
  return {
    write: (stream, chunk) => {
      try {
        log.write(stream, chunk);
      } catch (err) {
        error ??= err;
      }
    },
    rethrow: () => {
      if (error !== undefined) throw error;
    },
  };
}
