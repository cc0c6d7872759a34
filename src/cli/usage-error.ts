/** Parses a verb's flags with node:util, turning its errors into one line and exit code 2. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Thrown for bad command-line usage; the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `parseArgs` that throws UsageError with a readable message. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
