/** `watchbell validate FILE...`: checks config files without starting anything, for pre-commit hooks and CI. */
import { ConfigError, formatProblem, loadConfig } from '../config/load-config.js';

/** Prints every error as FILE:LINE:COL: message; exit 1 if any file is invalid, 0 with a summary otherwise. */
export async function runValidate(files: string[]): Promise<number> {
  if (files.length === 0 || files.some((f) => f.startsWith('-'))) {
    process.stderr.write('usage: watchbell validate FILE...\n');
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    try {
      const config = await loadConfig(file, { displayName: file });
      process.stdout.write(`${file}: OK (${config.jobs.length} job${config.jobs.length === 1 ? '' : 's'})\n`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      failed++;
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    }
  }
  return failed ? 1 : 0;
}
